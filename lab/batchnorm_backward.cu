// The kernel lab, BN + ReLU backward (training mode): four versions of
//   dbeta = sum_r g,   dgamma = sum_r g * xhat,
//   dx    = scale * (g - mean_r(g) - xhat * mean_r(g * xhat))
// over an NHWC activation seen as (rows, C), g being dy masked by the fused
// ReLU (docs/lab/batchnorm_backward.md derives it and says what each version
// changes and why it should be faster).
//
//   v1  one thread per channel: both sums, then dx, in two plain loops
//   v2  one block per tile of 32 channels: the rows split over the block's
//       8 row-threads, combined in shared memory
//   v3  the rows split over many blocks too: partial sums, a finalize
//       kernel, then dx as its own grid-wide kernel
//   v4  today's kernels/batchnorm.cu (v3 with 4 channels per thread as a
//       float4, and the finalize split over more threads), called as is
//
// Every version computes each element with the same expressions
// (kernels/batchnorm_math.cuh, the production kernels' own), so they differ
// only in who computes what and in the order in which the double sums are
// combined. The order is fixed by the shape in each version, so every version
// is deterministic; none is bit-identical to the CPU's sums, which add in
// another order, so the driver (lab/kernel_lab.cpp) compares them under a
// tolerance.
#include "kernels/batchnorm_math.cuh"
#include "kernels/channel_tiling.cuh"
#include "kernels/exact_math.cuh"
#include "lab/kernel_lab.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "runtime/cuda/scratch.h"

namespace tl::lab {
namespace {

using cuda::BnChannel;
using cuda::BnParams;
using cuda::kBlockThreads;

BnParams train_params(const float* gamma, const float* beta, const float* mean,
                      const float* invstd) {
  BnParams p;
  p.gamma = gamma;
  p.beta = beta;
  p.mean = mean;
  p.invstd = invstd;
  return p;
}

// ---- v1: one thread per channel ---------------------------------------------
// The formula as written: thread c walks its column twice, once for the two
// sums (in double, as the CPU), once for dx. Correct, and the simplest to
// read; but only C threads exist (64 to 2048 in ResNet50, where an H200 wants
// ~100,000 in flight), so few loads are ever in flight: each thread walks up
// to 802,816 rows, waiting on memory at nearly every one.
template <bool RELU>
__global__ void bn_backward_v1_kernel(float* dx, float* dgamma, float* dbeta, const float* dy,
                                      const float* x, BnParams p, int64_t rows, int64_t C) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const BnChannel ch = cuda::load_channel(p, c);
  double sum_g = 0.0, sum_gx = 0.0;
  for (int64_t r = 0; r < rows; ++r) {
    const float xv = x[r * C + c];
    const double g = cuda::masked_grad<RELU>(dy[r * C + c], xv, ch);
    sum_g += g;
    sum_gx += cuda::mul_exact(g, cuda::xhat_double(xv, ch));
  }
  dbeta[c] = static_cast<float>(sum_g);
  dgamma[c] = static_cast<float>(sum_gx);
  const float mean_g = static_cast<float>(sum_g / static_cast<double>(rows));
  const float mean_gx = static_cast<float>(sum_gx / static_cast<double>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = r * C + c;
    const float g = cuda::masked_grad<RELU>(dy[i], x[i], ch);
    dx[i] = cuda::bn_train_dx(g, x[i], ch, mean_g, mean_gx);
  }
}

void bn_backward_v1(cuda::CudaState& gpu, float* dx, float* dgamma, float* dbeta, const float* dy,
                    const float* x, const float* gamma, const float* beta, const float* mean,
                    const float* invstd, const BatchNormGeometry& g, bool relu) {
  if (g.rows == 0 || g.channels == 0) return;
  const BnParams p = train_params(gamma, beta, mean, invstd);
  const unsigned blocks = cuda::blocks_for(g.channels);
  if (relu)
    bn_backward_v1_kernel<true>
        <<<blocks, kBlockThreads, 0, gpu.stream>>>(dx, dgamma, dbeta, dy, x, p, g.rows, g.channels);
  else
    bn_backward_v1_kernel<false>
        <<<blocks, kBlockThreads, 0, gpu.stream>>>(dx, dgamma, dbeta, dy, x, p, g.rows, g.channels);
  TL_LAUNCH_CHECK(gpu);
}

// ---- v2: one block per channel tile ----------------------------------------
// The block is the production's channel tiling with one channel per lane
// (kernels/channel_tiling.cuh): tx lanes along C (a warp reads whole 128-byte
// lines of a row) times ty threads that split the rows. Each thread sums
// every ty-th row; the block combines its ty partials with a fixed tree in
// shared memory; then every thread reads its channel's totals and writes dx
// for its rows. ty times more threads than v1, but still one block per 32
// channels: 2 blocks for C = 64, 8 for C = 256, on a GPU of 132 SMs.
template <bool RELU>
__global__ void __launch_bounds__(kBlockThreads)
    bn_backward_v2_kernel(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x,
                          BnParams p, int64_t rows, int64_t C) {
  __shared__ double sum_g_sm[kBlockThreads], sum_gx_sm[kBlockThreads];
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool active = c < C;
  BnChannel ch{};
  double sum_g = 0.0, sum_gx = 0.0;
  if (active) {
    ch = cuda::load_channel(p, c);
    for (int64_t r = threadIdx.y; r < rows; r += blockDim.y) {
      const float xv = x[r * C + c];
      const double g = cuda::masked_grad<RELU>(dy[r * C + c], xv, ch);
      sum_g += g;
      sum_gx += cuda::mul_exact(g, cuda::xhat_double(xv, ch));
    }
  }
  const int t = threadIdx.y * blockDim.x + threadIdx.x;
  sum_g_sm[t] = sum_g;
  sum_gx_sm[t] = sum_gx;
  __syncthreads();
  for (unsigned s = blockDim.y / 2; s > 0; s >>= 1) {  // blockDim.y is a power of two
    if (threadIdx.y < s) {
      sum_g_sm[t] += sum_g_sm[t + s * blockDim.x];
      sum_gx_sm[t] += sum_gx_sm[t + s * blockDim.x];
    }
    __syncthreads();
  }
  if (!active) return;  // (after the last barrier)
  const double total_g = sum_g_sm[threadIdx.x], total_gx = sum_gx_sm[threadIdx.x];
  if (threadIdx.y == 0) {
    dbeta[c] = static_cast<float>(total_g);
    dgamma[c] = static_cast<float>(total_gx);
  }
  const float mean_g = static_cast<float>(total_g / static_cast<double>(rows));
  const float mean_gx = static_cast<float>(total_gx / static_cast<double>(rows));
  for (int64_t r = threadIdx.y; r < rows; r += blockDim.y) {
    const int64_t i = r * C + c;
    const float g = cuda::masked_grad<RELU>(dy[i], x[i], ch);
    dx[i] = cuda::bn_train_dx(g, x[i], ch, mean_g, mean_gx);
  }
}

void bn_backward_v2(cuda::CudaState& gpu, float* dx, float* dgamma, float* dbeta, const float* dy,
                    const float* x, const float* gamma, const float* beta, const float* mean,
                    const float* invstd, const BatchNormGeometry& g, bool relu) {
  if (g.rows == 0 || g.channels == 0) return;
  const BnParams p = train_params(gamma, beta, mean, invstd);
  const cuda::ChannelTiling t = cuda::channel_tiling(g.channels, /*vec4_ok=*/false);
  const dim3 grid(static_cast<unsigned>(t.channel_tiles)), block(t.tx, t.ty);
  if (relu)
    bn_backward_v2_kernel<true>
        <<<grid, block, 0, gpu.stream>>>(dx, dgamma, dbeta, dy, x, p, g.rows, g.channels);
  else
    bn_backward_v2_kernel<false>
        <<<grid, block, 0, gpu.stream>>>(dx, dgamma, dbeta, dy, x, p, g.rows, g.channels);
  TL_LAUNCH_CHECK(gpu);
}

// ---- v3: rows split across blocks -----------------------------------------------
// Enough blocks to fill the GPU whatever C is: the reduction becomes a grid of
// (channel tiles) x (row blocks), each block writing one double partial per
// channel; a finalize kernel adds a channel's partials in row-block order
// (fixed: the result depends on the shape only); dx is a third kernel over
// its own grid. The price: dy and x are read twice from DRAM (once per pass)
// and two launches more. The same rule as the production kernel sizes the
// grids: about kReduceBlocks blocks for the sums, at least kMinRowsPerThread
// rows per thread, about kApplyBlocks blocks for dx.
constexpr int64_t kReduceBlocks = 1024;
constexpr int64_t kMinRowsPerThread = 16;
constexpr int64_t kApplyBlocks = 4096;

// partial: (row_blocks, 2, C): sum g, then sum g * xhat, per row block.
template <bool RELU>
__global__ void __launch_bounds__(kBlockThreads)
    bn_backward_v3_sums_kernel(double* partial, const float* dy, const float* x, BnParams p,
                               int64_t rows, int64_t C, int64_t rows_per_block) {
  __shared__ double sum_g_sm[kBlockThreads], sum_gx_sm[kBlockThreads];
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool active = c < C;
  double sum_g = 0.0, sum_gx = 0.0;
  if (active) {
    const BnChannel ch = cuda::load_channel(p, c);
    const int64_t r_begin = int64_t(blockIdx.y) * rows_per_block;
    const int64_t r_end = r_begin + rows_per_block < rows ? r_begin + rows_per_block : rows;
    for (int64_t r = r_begin + threadIdx.y; r < r_end; r += blockDim.y) {
      const float xv = x[r * C + c];
      const double g = cuda::masked_grad<RELU>(dy[r * C + c], xv, ch);
      sum_g += g;
      sum_gx += cuda::mul_exact(g, cuda::xhat_double(xv, ch));
    }
  }
  const int t = threadIdx.y * blockDim.x + threadIdx.x;
  sum_g_sm[t] = sum_g;
  sum_gx_sm[t] = sum_gx;
  __syncthreads();
  for (unsigned s = blockDim.y / 2; s > 0; s >>= 1) {
    if (threadIdx.y < s) {
      sum_g_sm[t] += sum_g_sm[t + s * blockDim.x];
      sum_gx_sm[t] += sum_gx_sm[t + s * blockDim.x];
    }
    __syncthreads();
  }
  if (threadIdx.y == 0 && active) {
    double* out = partial + int64_t(blockIdx.y) * 2 * C;
    out[c] = sum_g_sm[t];
    out[C + c] = sum_gx_sm[t];
  }
}

// One thread per channel adds the row blocks' partials in order: dbeta,
// dgamma, and their means over the rows (means: (2, C) floats) for dx.
__global__ void bn_backward_v3_finalize_kernel(float* dgamma, float* dbeta, float* means,
                                               const double* partial, int64_t rows, int64_t C,
                                               int64_t row_blocks) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  double sum_g = 0.0, sum_gx = 0.0;
#pragma unroll 8
  for (int64_t rb = 0; rb < row_blocks; ++rb) {
    sum_g += partial[rb * 2 * C + c];
    sum_gx += partial[rb * 2 * C + C + c];
  }
  dbeta[c] = static_cast<float>(sum_g);
  dgamma[c] = static_cast<float>(sum_gx);
  means[c] = static_cast<float>(sum_g / static_cast<double>(rows));
  means[C + c] = static_cast<float>(sum_gx / static_cast<double>(rows));
}

template <bool RELU>
__global__ void __launch_bounds__(kBlockThreads)
    bn_backward_v3_dx_kernel(float* dx, const float* dy, const float* x, BnParams p,
                             const float* means, int64_t rows, int64_t C) {
  const int64_t c = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (c >= C) return;
  const BnChannel ch = cuda::load_channel(p, c);
  const float mean_g = means[c], mean_gx = means[C + c];
  for (int64_t r = int64_t(blockIdx.y) * blockDim.y + threadIdx.y; r < rows;
       r += int64_t(gridDim.y) * blockDim.y) {
    const int64_t i = r * C + c;
    const float g = cuda::masked_grad<RELU>(dy[i], x[i], ch);
    dx[i] = cuda::bn_train_dx(g, x[i], ch, mean_g, mean_gx);
  }
}

template <bool RELU>
void bn_backward_v3_launch(cuda::CudaState& gpu, float* dx, float* dgamma, float* dbeta,
                           const float* dy, const float* x, const BnParams& p, int64_t rows,
                           int64_t C) {
  const cuda::ChannelTiling t = cuda::channel_tiling(C, /*vec4_ok=*/false);
  const dim3 block(t.tx, t.ty);
  int64_t row_blocks = cuda::ceil_div(rows, t.ty * kMinRowsPerThread);
  const int64_t cap = kReduceBlocks / t.channel_tiles > 1 ? kReduceBlocks / t.channel_tiles : 1;
  if (row_blocks > cap) row_blocks = cap;
  const int64_t rows_per_block = cuda::ceil_div(rows, row_blocks);
  row_blocks = cuda::ceil_div(rows, rows_per_block);  // no empty block

  cuda::Scratch partial_holder, means_holder;
  double* partial = partial_holder.take<double>(gpu, row_blocks * 2 * C);
  float* means = means_holder.take<float>(gpu, 2 * C);
  bn_backward_v3_sums_kernel<RELU>
      <<<dim3(static_cast<unsigned>(t.channel_tiles), static_cast<unsigned>(row_blocks)), block, 0,
         gpu.stream>>>(partial, dy, x, p, rows, C, rows_per_block);
  TL_LAUNCH_CHECK(gpu);
  bn_backward_v3_finalize_kernel<<<cuda::blocks_for(C), kBlockThreads, 0, gpu.stream>>>(
      dgamma, dbeta, means, partial, rows, C, row_blocks);
  TL_LAUNCH_CHECK(gpu);
  int64_t dx_blocks = cuda::ceil_div(rows, t.ty);
  const int64_t dx_cap = kApplyBlocks / t.channel_tiles > 1 ? kApplyBlocks / t.channel_tiles : 1;
  if (dx_blocks > dx_cap) dx_blocks = dx_cap;
  bn_backward_v3_dx_kernel<RELU>
      <<<dim3(static_cast<unsigned>(t.channel_tiles), static_cast<unsigned>(dx_blocks)), block, 0,
         gpu.stream>>>(dx, dy, x, p, means, rows, C);
  TL_LAUNCH_CHECK(gpu);
}

void bn_backward_v3(cuda::CudaState& gpu, float* dx, float* dgamma, float* dbeta, const float* dy,
                    const float* x, const float* gamma, const float* beta, const float* mean,
                    const float* invstd, const BatchNormGeometry& g, bool relu) {
  if (g.rows == 0 || g.channels == 0) return;
  const BnParams p = train_params(gamma, beta, mean, invstd);
  if (relu)
    bn_backward_v3_launch<true>(gpu, dx, dgamma, dbeta, dy, x, p, g.rows, g.channels);
  else
    bn_backward_v3_launch<false>(gpu, dx, dgamma, dbeta, dy, x, p, g.rows, g.channels);
}

}  // namespace

std::vector<Version<BnBackwardFn>> batchnorm_backward_versions() {
  return {
      {"v1_thread_per_channel",
       "one thread per channel walks its column twice: the formula as written", false,
       bn_backward_v1},
      {"v2_block_per_channel_tile",
       "8 row-threads per channel, combined in shared memory: 8x the threads of v1", false,
       bn_backward_v2},
      {"v3_rows_split_over_blocks",
       "row blocks x channel tiles, partial sums + finalize + a dx kernel: fills the GPU", false,
       bn_backward_v3},
      {"v4_production",
       "kernels/batchnorm.cu: v3 with float4 lanes and a wider finalize (called, not copied)",
       false, batchnorm_backward_train_cuda},
  };
}

}  // namespace tl::lab
