// The kernel lab, bilinear upsampling backward (NHWC, half-pixel centres):
// four versions of
//   dx[n, iy, ix, c] = sum over the outputs (oy, ox) whose taps read (iy, ix)
//                      of wy * wx * dy[n, oy, ox, c]
// (docs/lab/upsample_backward.md derives it and says what each version
// changes and why it should be faster).
//
//   v1  scatter: one thread per OUTPUT element adds its four weighted dy
//       into dx with atomicAdd (after zeroing dx). Not bit-exact, see below.
//   v2  gather: one thread per INPUT element visits every output row and
//       column, keeps those whose taps read it, and adds their terms in the
//       CPU's order: bit-identical, no atomics, but ~3,400 tap evaluations
//       (double arithmetic) per thread for 32 -> 224.
//   v3  gather from tables: a setup kernel computes each output row's and
//       column's tap and each input row's and column's range of readers once
//       per call; the main kernel only reads them (a few KB, cached).
//   v4  today's kernels/upsample.cu (v3 with 4 channels per thread as a
//       float4 when C % 4 == 0), called as is.
//
// Why v1 is not bit-exact: the four atomicAdds into one dx element come from
// different threads in an order the hardware picks, so the float sum is
// rounded in a different order from run to run and from the CPU's (which adds
// in (oy, ox) order); float addition is not associative, so the last bits
// differ. (atom.add.f32 also flushes subnormal sums to zero; at these
// magnitudes that never matters.) The driver bounds the difference element
// by element instead (lab/kernel_lab.cpp).
#include "kernels/bilinear_tap.cuh"
#include "kernels/exact_math.cuh"
#include "lab/kernel_lab.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "runtime/cuda/scratch.h"

namespace tl::lab {
namespace {

using cuda::add_exact;
using cuda::bilinear_tap_device;
using cuda::kBlockThreads;
using cuda::mul_exact;
using cuda::sub_exact;

// The CPU's four statements for one dy value v read through taps a (rows)
// and b (columns), as seen from input pixel (iy, ix): each that lands here is
// added to `sum` in the CPU's order. At an edge (i0 == i1) two or four of
// them land on the same pixel, one after the other as on the CPU.
__device__ __forceinline__ float add_terms(float sum, float v, const BilinearTap& a,
                                           const BilinearTap& b, int32_t iy, int32_t ix) {
  const float ly = a.lambda, ly0 = sub_exact(1.0f, ly);
  const float lx = b.lambda, lx0 = sub_exact(1.0f, lx);
  if (a.i0 == iy && b.i0 == ix) sum = add_exact(sum, mul_exact(mul_exact(ly0, lx0), v));
  if (a.i0 == iy && b.i1 == ix) sum = add_exact(sum, mul_exact(mul_exact(ly0, lx), v));
  if (a.i1 == iy && b.i0 == ix) sum = add_exact(sum, mul_exact(mul_exact(ly, lx0), v));
  if (a.i1 == iy && b.i1 == ix) sum = add_exact(sum, mul_exact(mul_exact(ly, lx), v));
  return sum;
}

// ---- v1: scatter with atomicAdd --------------------------------------------------
// The transpose written as the forward's loop: thread (n, oy, ox, c) spreads
// dy onto the four pixels its forward read. Simple and regular (one coalesced
// read of dy), but 4 atomics per dy element land on 49x fewer dx elements
// for 32 -> 224, so up to ~200 threads queue on each dx address in L2.
__global__ void __launch_bounds__(kBlockThreads)
    upsample_backward_v1_kernel(float* dx, const float* dy, UpsampleGeometry g) {
  const int64_t C = g.channels;
  const int64_t total = g.batch * g.out_h * g.out_w * C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C;
    int64_t pix = i / C;
    const int64_t ox = pix % g.out_w;
    pix /= g.out_w;
    const int64_t oy = pix % g.out_h;
    const int64_t n = pix / g.out_h;
    const BilinearTap a = bilinear_tap_device(oy, g.in_h, g.out_h);
    const BilinearTap b = bilinear_tap_device(ox, g.in_w, g.out_w);
    const float ly = a.lambda, ly0 = sub_exact(1.0f, ly);
    const float lx = b.lambda, lx0 = sub_exact(1.0f, lx);
    const float v = dy[i];
    float* img = dx + n * g.in_h * g.in_w * C + c;
    atomicAdd(img + (int64_t(a.i0) * g.in_w + b.i0) * C, mul_exact(mul_exact(ly0, lx0), v));
    atomicAdd(img + (int64_t(a.i0) * g.in_w + b.i1) * C, mul_exact(mul_exact(ly0, lx), v));
    atomicAdd(img + (int64_t(a.i1) * g.in_w + b.i0) * C, mul_exact(mul_exact(ly, lx0), v));
    atomicAdd(img + (int64_t(a.i1) * g.in_w + b.i1) * C, mul_exact(mul_exact(ly, lx), v));
  }
}

void upsample_backward_v1(cuda::CudaState& gpu, float* dx, const float* dy,
                          const UpsampleGeometry& g) {
  const int64_t nx = g.batch * g.in_h * g.in_w * g.channels;
  const int64_t ny = g.batch * g.out_h * g.out_w * g.channels;
  if (nx == 0) return;
  TL_CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * static_cast<size_t>(nx), gpu.stream));
  if (ny == 0) return;
  upsample_backward_v1_kernel<<<cuda::blocks_for(ny), kBlockThreads, 0, gpu.stream>>>(dx, dy, g);
  TL_LAUNCH_CHECK(gpu);
}

// ---- v2: gather, scanning every output -----------------------------------------
// One thread per dx element, which alone writes it: no atomics, no zero-fill,
// and its terms are added in the CPU's order ((oy, ox) ascending, the four
// statements in order), so dx is bit-identical to the CPU's. Finding the
// outputs that read the pixel costs a tap (double arithmetic, a division) per
// output row, and per output column of each reading row.
__global__ void __launch_bounds__(kBlockThreads)
    upsample_backward_v2_kernel(float* dx, const float* dy, UpsampleGeometry g) {
  const int64_t C = g.channels;
  const int64_t total = g.batch * g.in_h * g.in_w * C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C;
    int64_t pix = i / C;
    const int32_t ix = static_cast<int32_t>(pix % g.in_w);
    pix /= g.in_w;
    const int32_t iy = static_cast<int32_t>(pix % g.in_h);
    const int64_t n = pix / g.in_h;
    float sum = 0.0f;
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      const BilinearTap a = bilinear_tap_device(oy, g.in_h, g.out_h);
      if (a.i0 != iy && a.i1 != iy) continue;
      const float* dy_row = dy + (n * g.out_h + oy) * g.out_w * C + c;
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        const BilinearTap b = bilinear_tap_device(ox, g.in_w, g.out_w);
        if (b.i0 != ix && b.i1 != ix) continue;
        sum = add_terms(sum, dy_row[ox * C], a, b, iy, ix);
      }
    }
    dx[i] = sum;
  }
}

void upsample_backward_v2(cuda::CudaState& gpu, float* dx, const float* dy,
                          const UpsampleGeometry& g) {
  const int64_t nx = g.batch * g.in_h * g.in_w * g.channels;
  if (nx == 0) return;
  upsample_backward_v2_kernel<<<cuda::blocks_for(nx), kBlockThreads, 0, gpu.stream>>>(dx, dy, g);
  TL_LAUNCH_CHECK(gpu);
}

// ---- v3: gather from precomputed tables -------------------------------------------
// The taps depend only on the output row (column), and the readers of an
// input row (column) only on that row: (out_h + out_w) taps and
// (in_h + in_w) ranges, computed once per call by a small setup kernel
// (bilinear_readers: two binary searches, exact). The main kernel's loop is
// then loads and float arithmetic only, over exactly the outputs that read
// its pixel.
__global__ void upsample_backward_v3_tables_kernel(BilinearTap* taps_y, BilinearTap* taps_x,
                                                   int2* range_y, int2* range_x,
                                                   UpsampleGeometry g) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t < g.out_h) taps_y[t] = bilinear_tap_device(t, g.in_h, g.out_h);
  if (t < g.out_w) taps_x[t] = bilinear_tap_device(t, g.in_w, g.out_w);
  if (t < g.in_h) range_y[t] = cuda::bilinear_readers(t, g.in_h, g.out_h);
  if (t < g.in_w) range_x[t] = cuda::bilinear_readers(t, g.in_w, g.out_w);
}

__global__ void __launch_bounds__(kBlockThreads)
    upsample_backward_v3_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                const BilinearTap* __restrict__ taps_y,
                                const BilinearTap* __restrict__ taps_x,
                                const int2* __restrict__ range_y, const int2* __restrict__ range_x,
                                UpsampleGeometry g) {
  const int64_t C = g.channels;
  const int64_t total = g.batch * g.in_h * g.in_w * C;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = i % C;
    int64_t pix = i / C;
    const int32_t ix = static_cast<int32_t>(pix % g.in_w);
    pix /= g.in_w;
    const int32_t iy = static_cast<int32_t>(pix % g.in_h);
    const int64_t n = pix / g.in_h;
    const int2 ry = range_y[iy], rx = range_x[ix];
    float sum = 0.0f;
    for (int oy = ry.x; oy <= ry.y; ++oy) {
      const BilinearTap a = taps_y[oy];
      const float* dy_row = dy + (n * g.out_h + oy) * g.out_w * C + c;
      for (int ox = rx.x; ox <= rx.y; ++ox)
        sum = add_terms(sum, dy_row[int64_t(ox) * C], a, taps_x[ox], iy, ix);
    }
    dx[i] = sum;
  }
}

void upsample_backward_v3(cuda::CudaState& gpu, float* dx, const float* dy,
                          const UpsampleGeometry& g) {
  const int64_t nx = g.batch * g.in_h * g.in_w * g.channels;
  if (nx == 0) return;
  cuda::Scratch tap_holder, range_holder;
  BilinearTap* taps = tap_holder.take<BilinearTap>(gpu, g.out_h + g.out_w);
  int2* ranges = range_holder.take<int2>(gpu, g.in_h + g.in_w);
  int64_t longest = g.out_h;
  for (const int64_t n : {g.out_w, g.in_h, g.in_w}) longest = n > longest ? n : longest;
  upsample_backward_v3_tables_kernel<<<cuda::blocks_for(longest), kBlockThreads, 0, gpu.stream>>>(
      taps, taps + g.out_h, ranges, ranges + g.in_h, g);
  TL_LAUNCH_CHECK(gpu);
  upsample_backward_v3_kernel<<<cuda::blocks_for(nx), kBlockThreads, 0, gpu.stream>>>(
      dx, dy, taps, taps + g.out_h, ranges, ranges + g.in_h, g);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace

std::vector<Version<UpsampleBackwardFn>> upsample_backward_versions() {
  return {
      {"v1_scatter_atomic",
       "one thread per dy element, 4 atomicAdds into a zeroed dx: not bit-exact", false,
       upsample_backward_v1},
      {"v2_gather_scan",
       "one thread per dx element, scanning all outputs for its readers: exact, no atomics", true,
       upsample_backward_v2},
      {"v3_gather_tables",
       "taps and reader ranges computed once per call into tables: no double math per element",
       true, upsample_backward_v3},
      {"v4_production",
       "kernels/upsample.cu: v3 with float4 lanes when C % 4 == 0 (called, not copied)", true,
       upsample_bilinear_backward_cuda},
  };
}

}  // namespace tl::lab
