// CUDA batch normalisation over the channel axis of NHWC data seen as a
// (rows, C) matrix, rows = N*H*W (or N after Flatten/Dense), with the
// optional fused ReLU: training forward (batch statistics, Keras running
// statistics, saved mean / invstd), inference forward, and the backward of
// each. Same contract and same arithmetic as kernels/batchnorm.cpp.
//
// Block shape (see kernels/channel_tiling.cuh): 256 threads = tx lanes along C x
// ty rows, a lane owning 4 channels (float4) when C % 4 == 0. Threads along C
// make every warp read whole 128-byte lines of NHWC data (coalesced), and
// give each thread fixed channels, so a per-channel reduction over rows is a
// register loop and per-channel parameters are read once. The grid is
// (channel tiles) x (row blocks): ResNet50 at 224, batch 64, has rows up to
// 802,816 with C = 64 (1 channel tile, so the rows must be split across
// ~1000 blocks to fill the GPU), while the head's BN after Flatten has
// rows = N = 64 and C = 100,352 (784 channel tiles, one row block). Both come
// out of the same rule: ~kReduceBlocks blocks in all, at least
// kMinRowsPerThread rows per thread.
//
// Reductions (mean/variance; the two sums of the backward):
//  1. bn_partial_sums_kernel: each thread sums its rows in double, the block
//     combines its ty row-partials with a fixed tree, and writes one partial
//     per (row block, channel).
//  2. a finalize kernel adds the row-block partials of each channel in a
//     fixed tree order, in double.
// The partition depends only on the shape, never on timing or the GPU, so a
// run is bit-reproducible. Double accumulation keeps the rounding of an
// 800k-row sum far below float precision (a float accumulator would lose
// ~19 bits); the H200's FP64 rate is half its FP32 rate, far above what a
// memory-bound kernel needs.
//
// Statistics in one read of x: the thread sums d = x - K and d^2 with a
// per-channel shift K = x[row 0, c] (the "shifted data" algorithm), then
// var = (sum d^2 - (sum d)^2 / n) / n. The textbook E[x^2] - E[x]^2 cancels
// catastrophically when |mean| >> std; with the shift the cancellation factor
// is 1 + (mean - K)^2 / var <= 1 + n (K is one of the samples): even then
// the relative error of an 800k-row variance stays near 1e-8, below float
// precision (6e-8); for ordinary data it is ~1e-14. One read instead of the CPU's two (mean, then squared
// deviations) saves a quarter of the forward's memory traffic.
//
// Elementwise parts (y, dx) are the CPU reference's float expressions,
// rounded step by step (kernels/batchnorm_math.cuh, kernels/exact_math.cuh):
// given the same mean / invstd, y and dx are bit-identical to the CPU's, and
// the ReLU mask the backward recomputes from x is exactly the one the forward
// applied.
//
// Storage: every kernel is a template on the type the activations (x, y,
// dy, dx) are stored in: float, or bfloat16 (uint16_t bit patterns, the
// --precision bf16 path). A bf16 value is widened exactly as it is loaded
// and every sum and expression above runs in float / double as for float32
// data; only the stored result is rounded, once. So the bf16 kernels compute
// what the CPU's bf16 reference computes (the float32 kernel between two
// casts, engine/ops.h) and move half the bytes. Parameters and statistics
// stay float32.
//
// Simpler versions of the backward, from one thread per channel up to this
// one, each validated and timed: lab/batchnorm_backward.cu and
// docs/lab/batchnorm_backward.md.
#include <type_traits>

#include "runtime/cuda/launch.h"
#include "runtime/cuda/scratch.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "kernels/batchnorm.h"
#include "kernels/batchnorm_math.cuh"
#include "kernels/elementwise.h"  // relu_value
#include "kernels/channel_tiling.cuh"
#include "kernels/exact_math.cuh"

namespace tl {
namespace {

using cuda::add_exact;
using cuda::BnChannel;
using cuda::BnParams;
using cuda::ChannelTiling;
using cuda::kBlockThreads;
using cuda::mul_exact;
using cuda::sub_exact;

// A few waves of 256-thread blocks on an H200 (132 SMs; 3 to 8 resident
// blocks each, depending on the variant's registers): enough to hide the
// tail without making the partials array large.
constexpr int64_t kReduceBlocks = 1024;
// Below this many rows per thread, a reduction block is mostly overhead.
constexpr int64_t kMinRowsPerThread = 16;
// Elementwise kernels loop over rows; this many blocks cover the SMs many
// times while keeping grid.y far below its 65535 limit.
constexpr int64_t kApplyBlocks = 4096;

enum class SumKind { kStats, kGrad };

// One stored activation as float (exact for both storage types).
__device__ __forceinline__ float as_float(float v) { return v; }
__device__ __forceinline__ float as_float(uint16_t b) { return float_from_bf16_bits(b); }

// partial: (row_blocks, 2, C) doubles. Row block b covers rows
// [b * rows_per_block, (b + 1) * rows_per_block).
//   kStats: sums of d and d^2, d = x - x[row 0] (the shift K).
//   kGrad:  sums of g and g * xhat, g = masked dy, xhat = (x - mean) * invstd
//           in double (as grad_sums in batchnorm.cpp).
template <int VEC, SumKind KIND, bool RELU, typename T>
__global__ void __launch_bounds__(kBlockThreads)
    bn_partial_sums_kernel(double* __restrict__ partial, const T* __restrict__ x,
                           const T* __restrict__ dy, BnParams p, int64_t rows, int64_t C,
                           int64_t rows_per_block) {
  __shared__ double sm[2 * kBlockThreads * 4];
  const int64_t lanes = C / VEC;
  const int64_t lane = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool active = lane < lanes;
  const int64_t c0 = lane * VEC;
  double s0[VEC], s1[VEC];
#pragma unroll
  for (int k = 0; k < VEC; ++k) s0[k] = s1[k] = 0.0;
  if (active) {
    float shift[VEC];
    BnChannel ch[VEC];
    if constexpr (KIND == SumKind::kStats) {
      cuda::load_vec<VEC>(shift, x + c0);
    } else {
#pragma unroll
      for (int k = 0; k < VEC; ++k) ch[k] = cuda::load_channel(p, c0 + k);
    }
    const int64_t r_begin = int64_t(blockIdx.y) * rows_per_block;
    const int64_t r_end = r_begin + rows_per_block < rows ? r_begin + rows_per_block : rows;
#pragma unroll 4
    for (int64_t r = r_begin + threadIdx.y; r < r_end; r += blockDim.y) {
      float xv[VEC];
      cuda::load_vec<VEC>(xv, x + r * C + c0);
      if constexpr (KIND == SumKind::kStats) {
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          const double d = static_cast<double>(xv[k]) - static_cast<double>(shift[k]);
          s0[k] += d;
          s1[k] += d * d;
        }
      } else {
        float dyv[VEC];
        cuda::load_vec<VEC>(dyv, dy + r * C + c0);
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          const double g = static_cast<double>(cuda::masked_grad<RELU>(dyv[k], xv[k], ch[k]));
          const double xhat = cuda::xhat_double(xv[k], ch[k]);
          s0[k] += g;
          s1[k] += mul_exact(g, xhat);
        }
      }
    }
  }
  // Combine the ty row-partials of the block: a fixed tree over threadIdx.y.
  const int width = blockDim.x * VEC;  // doubles per row of partials
  const int half = kBlockThreads * 4;  // offset of the second quantity
  const int slot = threadIdx.y * width + threadIdx.x * VEC;
#pragma unroll
  for (int k = 0; k < VEC; ++k) {
    sm[slot + k] = s0[k];
    sm[half + slot + k] = s1[k];
  }
  __syncthreads();
  for (unsigned s = blockDim.y / 2; s > 0; s >>= 1) {
    if (threadIdx.y < s) {
#pragma unroll
      for (int k = 0; k < VEC; ++k) {
        sm[slot + k] += sm[slot + s * width + k];
        sm[half + slot + k] += sm[half + slot + s * width + k];
      }
    }
    __syncthreads();
  }
  if (threadIdx.y == 0 && active) {
    double* out = partial + int64_t(blockIdx.y) * 2 * C;
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      out[c0 + k] = sm[slot + k];
      out[C + c0 + k] = sm[half + slot + k];
    }
  }
}

// The finalize kernels: block (32 channels) x (fy row-block groups). Each
// thread adds every fy-th row block's partial, then a fixed tree over fy; the
// thread with threadIdx.y == 0 gets the channel's two totals.
__device__ __forceinline__ bool sum_partials(double& t0, double& t1, const double* partial,
                                             int64_t row_blocks, int64_t C, int64_t& c) {
  __shared__ double sm[2][1024];
  c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool active = c < C;
  double a = 0.0, b = 0.0;
  if (active) {
#pragma unroll 8
    for (int64_t rb = threadIdx.y; rb < row_blocks; rb += blockDim.y) {
      a += partial[rb * 2 * C + c];
      b += partial[rb * 2 * C + C + c];
    }
  }
  const int t = threadIdx.y * blockDim.x + threadIdx.x;
  sm[0][t] = a;
  sm[1][t] = b;
  __syncthreads();
  for (unsigned s = blockDim.y / 2; s > 0; s >>= 1) {
    if (threadIdx.y < s) {
      sm[0][t] += sm[0][t + s * blockDim.x];
      sm[1][t] += sm[1][t + s * blockDim.x];
    }
    __syncthreads();
  }
  t0 = sm[0][t];
  t1 = sm[1][t];
  return active && threadIdx.y == 0;
}

// Mean, biased variance, saved mean / invstd and the Keras running update:
// running = m * running + (1 - m) * batch, in double, rounded once (as the CPU).
template <typename T>
__global__ void bn_stats_finalize_kernel(float* save_mean, float* save_invstd, float* running_mean,
                                         float* running_var, const double* partial,
                                         const T* x, int64_t rows, int64_t C,
                                         int64_t row_blocks, float eps, float momentum) {
  double sd, sdd;
  int64_t c;
  if (!sum_partials(sd, sdd, partial, row_blocks, C, c)) return;
  const double inv_rows = 1.0 / static_cast<double>(rows);
  const double mean_d = sd * inv_rows;                            // mean of x - K
  double var = mul_exact(add_exact(sdd, -mul_exact(sd, mean_d)), inv_rows);  // biased
  if (var < 0.0) var = 0.0;  // rounding can push an all-equal channel below 0
  const double mean = static_cast<double>(as_float(x[c])) + mean_d;
  save_mean[c] = static_cast<float>(mean);
  save_invstd[c] =
      static_cast<float>(__ddiv_rn(1.0, __dsqrt_rn(add_exact(var, static_cast<double>(eps)))));
  const double m = static_cast<double>(momentum);
  if (running_mean)
    running_mean[c] = static_cast<float>(
        add_exact(mul_exact(m, static_cast<double>(running_mean[c])), mul_exact(1.0 - m, mean)));
  if (running_var)
    running_var[c] = static_cast<float>(
        add_exact(mul_exact(m, static_cast<double>(running_var[c])), mul_exact(1.0 - m, var)));
}

// dbeta = sum g, dgamma = sum g * xhat; for dx, their means over the rows.
__global__ void bn_grad_finalize_kernel(float* dgamma, float* dbeta, float* mean_g,
                                        float* mean_gx, const double* partial, int64_t rows,
                                        int64_t C, int64_t row_blocks) {
  double sg, sgx;
  int64_t c;
  if (!sum_partials(sg, sgx, partial, row_blocks, C, c)) return;
  if (dbeta) dbeta[c] = static_cast<float>(sg);
  if (dgamma) dgamma[c] = static_cast<float>(sgx);
  if (mean_g) {
    mean_g[c] = static_cast<float>(sg / static_cast<double>(rows));
    mean_gx[c] = static_cast<float>(sgx / static_cast<double>(rows));
  }
}

// y = bn_affine(x) [+ residual] [then max(0, .)], a grid-stride loop over
// rows. The residual (null, or the bottleneck's shortcut) is added in float
// before the ReLU: batchnorm_add_relu's forward in one pass, the values of
// add_relu(residual, batchnorm(x)) without writing and re-reading the BN's
// output.
template <int VEC, bool RELU, typename T>
__global__ void __launch_bounds__(kBlockThreads)
    bn_forward_apply_kernel(T* __restrict__ y, const T* __restrict__ x,
                            const T* __restrict__ residual, BnParams p, int64_t rows, int64_t C) {
  const int64_t lane = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (lane >= C / VEC) return;
  const int64_t c0 = lane * VEC;
  BnChannel ch[VEC];
#pragma unroll
  for (int k = 0; k < VEC; ++k) ch[k] = cuda::load_channel(p, c0 + k);
  for (int64_t r = int64_t(blockIdx.y) * blockDim.y + threadIdx.y; r < rows;
       r += int64_t(gridDim.y) * blockDim.y) {
    float v[VEC], res[VEC] = {};
    cuda::load_vec<VEC>(v, x + r * C + c0);
    if (residual) cuda::load_vec<VEC>(res, residual + r * C + c0);  // uniform branch
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      float o = cuda::bn_affine(v[k], ch[k]);
      if (residual) o = add_exact(res[k], o);  // add_relu's residual + h
      v[k] = RELU ? relu_value(o) : o;         // NaN kept, as the CPU reference
    }
    cuda::store_vec<VEC>(y + r * C + c0, v);
  }
}

// Training: dx = scale * (g - mean_g - xhat * mean_gx), xhat in float.
// Inference: dx = g * scale. Same float expressions as train_dx / infer_dx.
template <int VEC, bool RELU, bool TRAIN, typename T>
__global__ void __launch_bounds__(kBlockThreads)
    bn_backward_dx_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                          const T* __restrict__ x, BnParams p, const float* mean_g,
                          const float* mean_gx, int64_t rows, int64_t C) {
  const int64_t lane = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (lane >= C / VEC) return;
  const int64_t c0 = lane * VEC;
  BnChannel ch[VEC];
  float mg[VEC], mgx[VEC];
#pragma unroll
  for (int k = 0; k < VEC; ++k) {
    ch[k] = cuda::load_channel(p, c0 + k);
    mg[k] = TRAIN ? mean_g[c0 + k] : 0.0f;
    mgx[k] = TRAIN ? mean_gx[c0 + k] : 0.0f;
  }
  for (int64_t r = int64_t(blockIdx.y) * blockDim.y + threadIdx.y; r < rows;
       r += int64_t(gridDim.y) * blockDim.y) {
    float xv[VEC] = {}, g[VEC];
    // Inference without the ReLU needs no x: 8 bytes per element instead of 12.
    if constexpr (RELU || TRAIN) cuda::load_vec<VEC>(xv, x + r * C + c0);
    cuda::load_vec<VEC>(g, dy + r * C + c0);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      const float gr = cuda::masked_grad<RELU>(g[k], xv[k], ch[k]);
      if constexpr (TRAIN) {
        g[k] = cuda::bn_train_dx(gr, xv[k], ch[k], mg[k], mgx[k]);
      } else {
        g[k] = mul_exact(gr, ch[k].scale);
      }
    }
    cuda::store_vec<VEC>(dx + r * C + c0, g);
  }
}

// ---- launch helpers ------------------------------------------------------

// The kernels are templates on two facts known only at launch: the channels
// per lane (4, a float4, or 1: ChannelTiling::vec) and whether the ReLU is
// fused, so that each variant's inner loop is straight-line code. These tags
// turn the runtime values into template arguments: with_variant(vec, relu, f)
// calls f(ChannelsPerLane<vec>{}, FusedRelu<relu>{}), and f reads each back
// as decltype(tag)::value.
template <int N>
using ChannelsPerLane = std::integral_constant<int, N>;
template <bool ON>
using FusedRelu = std::integral_constant<bool, ON>;

template <typename F>
void with_variant(int vec, bool relu, F&& f) {
  if (vec == 4) {
    if (relu) f(ChannelsPerLane<4>{}, FusedRelu<true>{});
    else f(ChannelsPerLane<4>{}, FusedRelu<false>{});
  } else {
    if (relu) f(ChannelsPerLane<1>{}, FusedRelu<true>{});
    else f(ChannelsPerLane<1>{}, FusedRelu<false>{});
  }
}

struct RowSplit {
  int64_t blocks = 1, rows_per_block = 1;
};

// Row blocks of a reduction: ~kReduceBlocks blocks in all, at least
// kMinRowsPerThread rows per thread. A function of the shape only.
RowSplit reduce_split(const ChannelTiling& t, int64_t rows) {
  const int64_t want = cuda::ceil_div(rows, t.ty * kMinRowsPerThread);
  int64_t cap = kReduceBlocks / t.channel_tiles;
  if (cap < 1) cap = 1;
  RowSplit s;
  s.blocks = want < cap ? want : cap;
  if (s.blocks < 1) s.blocks = 1;
  s.rows_per_block = cuda::ceil_div(rows, s.blocks);
  s.blocks = cuda::ceil_div(rows, s.rows_per_block);  // no empty block
  return s;
}

dim3 apply_grid(const ChannelTiling& t, int64_t rows) {
  int64_t y = cuda::ceil_div(rows, t.ty);
  int64_t cap = kApplyBlocks / t.channel_tiles;
  if (cap < 1) cap = 1;
  if (y > cap) y = cap;
  return dim3(static_cast<unsigned>(t.channel_tiles), static_cast<unsigned>(y));
}

// The finalize launch: 32 channels per block, fy (a power of two <= 32)
// threads splitting the row blocks.
void launch_finalize_shape(int64_t C, int64_t row_blocks, dim3& grid, dim3& block) {
  const int fy = cuda::pow2_at_least(row_blocks, 32);
  block = dim3(32, static_cast<unsigned>(fy));
  grid = dim3(static_cast<unsigned>(cuda::ceil_div(C, 32)));
}

// The two backward sums into dgamma / dbeta (each optional) and, when
// mean_g is given, their per-row means for dx.
template <typename T>
void grad_sums(cuda::CudaState& gpu, const ChannelTiling& t, float* dgamma, float* dbeta,
               float* mean_g, float* mean_gx, const T* dy, const T* x, const BnParams& p,
               int64_t rows, int64_t C, bool relu) {
  cudaStream_t stream = gpu.stream;
  const RowSplit split = reduce_split(t, rows);
  cuda::Scratch holder;
  double* partial = holder.take<double>(gpu, split.blocks * 2 * C);
  const dim3 grid(static_cast<unsigned>(t.channel_tiles), static_cast<unsigned>(split.blocks));
  const dim3 block(t.tx, t.ty);
  with_variant(t.vec, relu, [&](auto lanes, auto fused_relu) {
    bn_partial_sums_kernel<decltype(lanes)::value, SumKind::kGrad, decltype(fused_relu)::value>
        <<<grid, block, 0, stream>>>(partial, x, dy, p, rows, C, split.rows_per_block);
  });
  TL_LAUNCH_CHECK(gpu);
  dim3 fgrid, fblock;
  launch_finalize_shape(C, split.blocks, fgrid, fblock);
  bn_grad_finalize_kernel<<<fgrid, fblock, 0, stream>>>(dgamma, dbeta, mean_g, mean_gx, partial,
                                                        rows, C, split.blocks);
  TL_LAUNCH_CHECK(gpu);
}

// running_mean += (1 - momentum) * shift, in double, rounded once (as the CPU).
__global__ void bn_shift_running_mean_kernel(float* running_mean, const float* shift,
                                             int64_t C, double keep) {
  const int64_t c = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const double moved = mul_exact(keep, static_cast<double>(shift[c]));
  running_mean[c] = static_cast<float>(add_exact(static_cast<double>(running_mean[c]), moved));
}

}  // namespace

void batchnorm_shift_running_mean_cuda(cuda::CudaState& gpu, float* running_mean,
                                       const float* shift, int64_t channels, float momentum) {
  if (channels == 0) return;
  const double keep = 1.0 - static_cast<double>(momentum);
  bn_shift_running_mean_kernel<<<cuda::blocks_for(channels), cuda::kBlockThreads, 0,
                                 gpu.stream>>>(running_mean, shift, channels, keep);
  TL_LAUNCH_CHECK(gpu);
}

namespace {

template <typename T>
void forward_train(cuda::CudaState& gpu, T* y, float* save_mean, float* save_invstd,
                   float* running_mean, float* running_var, const T* x, const T* residual,
                   const float* gamma, const float* beta, const BatchNormGeometry& g, float eps,
                   float momentum, bool relu) {
  const int64_t rows = g.rows, C = g.channels;
  if (rows == 0 || C == 0) return;
  cudaStream_t stream = gpu.stream;
  const ChannelTiling t = cuda::channel_tiling(
      C, cuda::aligned16(x) && cuda::aligned16(y) && (!residual || cuda::aligned16(residual)));
  const RowSplit split = reduce_split(t, rows);
  cuda::Scratch holder;
  double* partial = holder.take<double>(gpu, split.blocks * 2 * C);
  const dim3 grid(static_cast<unsigned>(t.channel_tiles), static_cast<unsigned>(split.blocks));
  const dim3 block(t.tx, t.ty);
  with_variant(t.vec, false, [&](auto lanes, auto) {
    bn_partial_sums_kernel<decltype(lanes)::value, SumKind::kStats, false, T>
        <<<grid, block, 0, stream>>>(partial, x, static_cast<const T*>(nullptr), BnParams{},
                                     rows, C, split.rows_per_block);
  });
  TL_LAUNCH_CHECK(gpu);
  dim3 fgrid, fblock;
  launch_finalize_shape(C, split.blocks, fgrid, fblock);
  bn_stats_finalize_kernel<<<fgrid, fblock, 0, stream>>>(save_mean, save_invstd, running_mean,
                                                         running_var, partial, x, rows, C,
                                                         split.blocks, eps, momentum);
  TL_LAUNCH_CHECK(gpu);
  BnParams p;
  p.gamma = gamma;
  p.beta = beta;
  p.mean = save_mean;
  p.invstd = save_invstd;
  with_variant(t.vec, relu, [&](auto lanes, auto fused_relu) {
    bn_forward_apply_kernel<decltype(lanes)::value, decltype(fused_relu)::value, T>
        <<<apply_grid(t, rows), block, 0, stream>>>(y, x, residual, p, rows, C);
  });
  TL_LAUNCH_CHECK(gpu);
}

template <typename T>
void forward_infer(cuda::CudaState& gpu, T* y, const T* x, const T* residual, const float* gamma,
                   const float* beta, const float* running_mean, const float* running_var,
                   const BatchNormGeometry& g, float eps, bool relu) {
  const int64_t rows = g.rows, C = g.channels;
  if (rows == 0 || C == 0) return;
  const ChannelTiling t = cuda::channel_tiling(
      C, cuda::aligned16(x) && cuda::aligned16(y) && (!residual || cuda::aligned16(residual)));
  BnParams p;
  p.gamma = gamma;
  p.beta = beta;
  p.mean = running_mean;
  p.var = running_var;
  p.eps = eps;
  with_variant(t.vec, relu, [&](auto lanes, auto fused_relu) {
    bn_forward_apply_kernel<decltype(lanes)::value, decltype(fused_relu)::value, T>
        <<<apply_grid(t, rows), dim3(t.tx, t.ty), 0, gpu.stream>>>(y, x, residual, p, rows, C);
  });
  TL_LAUNCH_CHECK(gpu);
}

template <typename T>
void backward_train(cuda::CudaState& gpu, T* dx, float* dgamma, float* dbeta, const T* dy,
                    const T* x, const float* gamma, const float* beta, const float* mean,
                    const float* invstd, const BatchNormGeometry& g, bool relu) {
  const int64_t rows = g.rows, C = g.channels;
  if ((!dx && !dgamma && !dbeta) || rows == 0 || C == 0) return;
  const bool vec4_ok = cuda::aligned16(x) && cuda::aligned16(dy) && (!dx || cuda::aligned16(dx));
  const ChannelTiling t = cuda::channel_tiling(C, vec4_ok);
  BnParams p;
  p.gamma = gamma;
  p.beta = beta;
  p.mean = mean;
  p.invstd = invstd;
  // dx needs both sums too, so they are computed whatever is requested.
  cuda::Scratch holder;
  float* means = dx ? holder.take<float>(gpu, 2 * C) : nullptr;
  grad_sums(gpu, t, dgamma, dbeta, means, dx ? means + C : nullptr, dy, x, p, rows, C, relu);
  if (!dx) return;
  with_variant(t.vec, relu, [&](auto lanes, auto fused_relu) {
    bn_backward_dx_kernel<decltype(lanes)::value, decltype(fused_relu)::value, true, T>
        <<<apply_grid(t, rows), dim3(t.tx, t.ty), 0, gpu.stream>>>(
            dx, dy, x, p, means, means + C, rows, C);
  });
  TL_LAUNCH_CHECK(gpu);
}

template <typename T>
void backward_infer(cuda::CudaState& gpu, T* dx, float* dgamma, float* dbeta, const T* dy,
                    const T* x, const float* gamma, const float* beta, const float* running_mean,
                    const float* running_var, const BatchNormGeometry& g, float eps, bool relu) {
  const int64_t rows = g.rows, C = g.channels;
  if (rows == 0 || C == 0) return;
  const bool vec4_ok = cuda::aligned16(x) && cuda::aligned16(dy) && (!dx || cuda::aligned16(dx));
  const ChannelTiling t = cuda::channel_tiling(C, vec4_ok);
  BnParams p;
  p.gamma = gamma;
  p.beta = beta;
  p.mean = running_mean;
  p.var = running_var;
  p.eps = eps;
  // dgamma / dbeta are the training sums around the running mean; dx needs
  // neither (no path through batch statistics).
  if (dgamma || dbeta)
    grad_sums(gpu, t, dgamma, dbeta, nullptr, nullptr, dy, x, p, rows, C, relu);
  if (!dx) return;
  with_variant(t.vec, relu, [&](auto lanes, auto fused_relu) {
    bn_backward_dx_kernel<decltype(lanes)::value, decltype(fused_relu)::value, false, T>
        <<<apply_grid(t, rows), dim3(t.tx, t.ty), 0, gpu.stream>>>(
            dx, dy, x, p, nullptr, nullptr, rows, C);
  });
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace

// float32 and bfloat16 activations: the same templates.
#define TL_BATCHNORM_CUDA_LAUNCHERS(T)                                                            \
  void batchnorm_forward_train_cuda(cuda::CudaState& gpu, T* y, float* save_mean,               \
                                    float* save_invstd, float* running_mean, float* running_var, \
                                    const T* x, const float* gamma, const float* beta,           \
                                    const BatchNormGeometry& g, float eps, float momentum,       \
                                    bool relu) {                                                 \
    forward_train(gpu, y, save_mean, save_invstd, running_mean, running_var, x,                 \
                  static_cast<const T*>(nullptr), gamma, beta, g, eps, momentum, relu);          \
  }                                                                                              \
  void batchnorm_forward_infer_cuda(cuda::CudaState& gpu, T* y, const T* x, const float* gamma, \
                                    const float* beta, const float* running_mean,                \
                                    const float* running_var, const BatchNormGeometry& g,        \
                                    float eps, bool relu) {                                      \
    forward_infer(gpu, y, x, static_cast<const T*>(nullptr), gamma, beta, running_mean,          \
                  running_var, g, eps, relu);                                                    \
  }                                                                                              \
  void batchnorm_backward_train_cuda(cuda::CudaState& gpu, T* dx, float* dgamma, float* dbeta,  \
                                     const T* dy, const T* x, const float* gamma,                \
                                     const float* beta, const float* mean, const float* invstd,  \
                                     const BatchNormGeometry& g, bool relu) {                    \
    backward_train(gpu, dx, dgamma, dbeta, dy, x, gamma, beta, mean, invstd, g, relu);          \
  }                                                                                              \
  void batchnorm_backward_infer_cuda(cuda::CudaState& gpu, T* dx, float* dgamma, float* dbeta,  \
                                     const T* dy, const T* x, const float* gamma,                \
                                     const float* beta, const float* running_mean,               \
                                     const float* running_var, const BatchNormGeometry& g,       \
                                     float eps, bool relu) {                                     \
    backward_infer(gpu, dx, dgamma, dbeta, dy, x, gamma, beta, running_mean, running_var, g,    \
                   eps, relu);                                                                   \
  }                                                                                              \
  void batchnorm_add_relu_forward_train_cuda(                                                    \
      cuda::CudaState& gpu, T* y, float* save_mean, float* save_invstd, float* running_mean,     \
      float* running_var, const T* x, const T* residual, const float* gamma, const float* beta,  \
      const BatchNormGeometry& g, float eps, float momentum) {                                   \
    forward_train(gpu, y, save_mean, save_invstd, running_mean, running_var, x, residual, gamma, \
                  beta, g, eps, momentum, /*relu=*/true);                                        \
  }                                                                                              \
  void batchnorm_add_relu_forward_infer_cuda(                                                    \
      cuda::CudaState& gpu, T* y, const T* x, const T* residual, const float* gamma,             \
      const float* beta, const float* running_mean, const float* running_var,                    \
      const BatchNormGeometry& g, float eps) {                                                   \
    forward_infer(gpu, y, x, residual, gamma, beta, running_mean, running_var, g, eps,           \
                  /*relu=*/true);                                                                \
  }
TL_BATCHNORM_CUDA_LAUNCHERS(float)
TL_BATCHNORM_CUDA_LAUNCHERS(uint16_t)
#undef TL_BATCHNORM_CUDA_LAUNCHERS

}  // namespace tl
