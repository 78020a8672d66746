// CUDA bilinear resampling, NHWC float32, half-pixel centres (same contract
// as kernels/upsample.cpp): forward, and backward as a gather.
//
// Taps. A tiny setup kernel computes, once per call, the (i0, i1, lambda) tap
// of every output row and column with the CPU's double arithmetic
// (kernels/bilinear_tap.cuh), and for the backward the range of output
// rows/columns that read each input row/column. The main kernels read these
// tables (a few KB, L1/L2-resident) instead of recomputing double math per
// element.
//
// Arithmetic: the CPU's expressions rounded step by step
// (kernels/exact_math.cuh: no FMA contraction), hence bit-identical to it.
//
// Forward: one thread per output element (n, oy, ox, channel lane; 4
// channels as a float4 when C % 4 == 0), so a warp writes contiguous memory
// and reads the 4 source pixels' channel runs contiguously.
//
// Backward, a gather without atomics: one thread per INPUT element (n, iy,
// ix, lane) sums every output that reads it. Output o reads input i iff
// i0(o) == i or i1(o) == i; these outputs form one contiguous range [lo, hi]
// (bilinear_readers in kernels/bilinear_tap.cuh, run once per row and column
// by the setup kernel). Inside the range the thread walks (oy, ox) in
// ascending order and adds the four corner terms in the CPU's statement
// order (i0/i0, i0/i1, i1/i0, i1/i1), so its float additions are exactly the
// CPU's: dx is bit-identical too. For 32 -> 224 each input pixel gathers
// ~14 x 14 outputs; dy is read ~4 times in all, from L2.
//
// The simpler versions this one grew from (a scatter with atomicAdd, a gather
// that finds its outputs by scanning), each validated and timed:
// lab/upsample_backward.cu and docs/lab/upsample_backward.md.
#include <type_traits>

#include "runtime/cuda/scratch.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "kernels/bilinear_tap.cuh"
#include "kernels/channel_tiling.cuh"
#include "kernels/exact_math.cuh"
#include "kernels/upsample.h"

namespace tl {
namespace {

using cuda::add_exact;
using cuda::kBlockThreads;
using cuda::mul_exact;
using cuda::sub_exact;

__global__ void upsample_tables_kernel(BilinearTap* taps_y, BilinearTap* taps_x, int2* range_y,
                                       int2* range_x, UpsampleGeometry g) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < g.out_h) taps_y[t] = cuda::bilinear_tap_device(t, g.in_h, g.out_h);
  if (t < g.out_w) taps_x[t] = cuda::bilinear_tap_device(t, g.in_w, g.out_w);
  if (range_y && t < g.in_h) range_y[t] = cuda::bilinear_readers(t, g.in_h, g.out_h);
  if (range_x && t < g.in_w) range_x[t] = cuda::bilinear_readers(t, g.in_w, g.out_w);
}

template <int VEC>
__global__ void __launch_bounds__(kBlockThreads)
    upsample_forward_kernel(float* __restrict__ y, const float* __restrict__ x,
                            const BilinearTap* __restrict__ taps_y,
                            const BilinearTap* __restrict__ taps_x,
                            UpsampleGeometry g) {
  const int64_t C = g.channels, lanes = C / VEC;
  const int64_t total = g.batch * g.out_h * g.out_w * lanes;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t lane = i % lanes;
    int64_t pix = i / lanes;
    const int64_t ox = pix % g.out_w;
    pix /= g.out_w;
    const int64_t oy = pix % g.out_h;
    const int64_t n = pix / g.out_h;
    const BilinearTap a = taps_y[oy], b = taps_x[ox];
    const float ly = a.lambda, ly0 = sub_exact(1.0f, ly);
    const float lx = b.lambda, lx0 = sub_exact(1.0f, lx);
    const float* row0 = x + (n * g.in_h + a.i0) * g.in_w * C + lane * VEC;
    const float* row1 = x + (n * g.in_h + a.i1) * g.in_w * C + lane * VEC;
    float p00[VEC], p01[VEC], p10[VEC], p11[VEC], out[VEC];
    cuda::load_vec<VEC>(p00, row0 + b.i0 * C);
    cuda::load_vec<VEC>(p01, row0 + b.i1 * C);
    cuda::load_vec<VEC>(p10, row1 + b.i0 * C);
    cuda::load_vec<VEC>(p11, row1 + b.i1 * C);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      // ly0 * (lx0 * p00 + lx * p01) + ly * (lx0 * p10 + lx * p11)
      const float top = add_exact(mul_exact(lx0, p00[k]), mul_exact(lx, p01[k]));
      const float bottom = add_exact(mul_exact(lx0, p10[k]), mul_exact(lx, p11[k]));
      out[k] = add_exact(mul_exact(ly0, top), mul_exact(ly, bottom));
    }
    cuda::store_vec<VEC>(y + i * VEC, out);
  }
}

template <int VEC>
__global__ void __launch_bounds__(kBlockThreads)
    upsample_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                             const BilinearTap* __restrict__ taps_y,
                             const BilinearTap* __restrict__ taps_x,
                             const int2* __restrict__ range_y, const int2* __restrict__ range_x,
                             UpsampleGeometry g) {
  const int64_t C = g.channels, lanes = C / VEC;
  const int64_t total = g.batch * g.in_h * g.in_w * lanes;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t lane = i % lanes;
    int64_t pix = i / lanes;
    const int32_t ix = static_cast<int32_t>(pix % g.in_w);
    pix /= g.in_w;
    const int32_t iy = static_cast<int32_t>(pix % g.in_h);
    const int64_t n = pix / g.in_h;
    const int2 ry = range_y[iy], rx = range_x[ix];
    float sum[VEC];
#pragma unroll
    for (int k = 0; k < VEC; ++k) sum[k] = 0.0f;
    for (int oy = ry.x; oy <= ry.y; ++oy) {
      const BilinearTap a = taps_y[oy];
      const bool y0 = a.i0 == iy, y1 = a.i1 == iy;
      const float ly = a.lambda, ly0 = sub_exact(1.0f, ly);
      const float* d_row = dy + (n * g.out_h + oy) * g.out_w * C + lane * VEC;
      for (int ox = rx.x; ox <= rx.y; ++ox) {
        const BilinearTap b = taps_x[ox];
        const bool x0 = b.i0 == ix, x1 = b.i1 == ix;
        const float lx = b.lambda, lx0 = sub_exact(1.0f, lx);
        float v[VEC];
        cuda::load_vec<VEC>(v, d_row + int64_t(ox) * C);
        // The CPU's four statements, in its order; at an edge (i0 == i1)
        // two or four of them land here, added one after the other as there.
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          if (y0 && x0) sum[k] = add_exact(sum[k], mul_exact(mul_exact(ly0, lx0), v[k]));
          if (y0 && x1) sum[k] = add_exact(sum[k], mul_exact(mul_exact(ly0, lx), v[k]));
          if (y1 && x0) sum[k] = add_exact(sum[k], mul_exact(mul_exact(ly, lx0), v[k]));
          if (y1 && x1) sum[k] = add_exact(sum[k], mul_exact(mul_exact(ly, lx), v[k]));
        }
      }
    }
    cuda::store_vec<VEC>(dx + i * VEC, sum);
  }
}

template <typename F>
void dispatch_vec(int vec, F&& f) {
  if (vec == 4) f(std::integral_constant<int, 4>{});
  else f(std::integral_constant<int, 1>{});
}

// Fills the tap tables (and the reader ranges when range_y is wanted).
void build_tables(cuda::CudaState& gpu, const UpsampleGeometry& g, BilinearTap* taps_y,
                  BilinearTap* taps_x, int2* range_y, int2* range_x) {
  int64_t longest = g.out_h > g.out_w ? g.out_h : g.out_w;
  if (range_y) {
    if (g.in_h > longest) longest = g.in_h;
    if (g.in_w > longest) longest = g.in_w;
  }
  upsample_tables_kernel<<<cuda::blocks_for(longest), kBlockThreads, 0, gpu.stream>>>(
      taps_y, taps_x, range_y, range_x, g);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace

void upsample_bilinear_forward_cuda(cuda::CudaState& gpu, float* y, const float* x,
                                    const UpsampleGeometry& g) {
  const int vec = (g.channels % 4 == 0 && cuda::aligned16(x) && cuda::aligned16(y)) ? 4 : 1;
  const int64_t total = g.batch * g.out_h * g.out_w * (g.channels / vec);
  if (total == 0) return;
  cuda::Scratch holder;
  BilinearTap* taps = holder.take<BilinearTap>(gpu, g.out_h + g.out_w);
  build_tables(gpu, g, taps, taps + g.out_h, nullptr, nullptr);
  dispatch_vec(vec, [&](auto V) {
    upsample_forward_kernel<decltype(V)::value>
        <<<cuda::blocks_for(total), kBlockThreads, 0, gpu.stream>>>(y, x, taps,
                                                                          taps + g.out_h, g);
  });
  TL_LAUNCH_CHECK(gpu);
}

void upsample_bilinear_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy,
                                     const UpsampleGeometry& g) {
  const int vec = (g.channels % 4 == 0 && cuda::aligned16(dx) && cuda::aligned16(dy)) ? 4 : 1;
  const int64_t total = g.batch * g.in_h * g.in_w * (g.channels / vec);
  if (total == 0) return;
  cuda::Scratch tap_holder, range_holder;
  BilinearTap* taps = tap_holder.take<BilinearTap>(gpu, g.out_h + g.out_w);
  int2* ranges = range_holder.take<int2>(gpu, g.in_h + g.in_w);
  build_tables(gpu, g, taps, taps + g.out_h, ranges, ranges + g.in_h);
  dispatch_vec(vec, [&](auto V) {
    upsample_backward_kernel<decltype(V)::value>
        <<<cuda::blocks_for(total), kBlockThreads, 0, gpu.stream>>>(
            dx, dy, taps, taps + g.out_h, ranges, ranges + g.in_h, g);
  });
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace tl
