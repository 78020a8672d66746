// CUDA pooling over NHWC float32 data (same contract as kernels/pool.cpp):
//  * max pooling, k x k window, stride s, symmetric padding p: padding never
//    wins; forward y = max over the window's real pixels; backward sends dy
//    to the first maximum of each window in (ky, kx) order, recomputed from x.
//  * global average pooling (N, H, W, C) -> (N, C) and its backward.
//
// Layout and launch shapes. Channels are innermost, so consecutive threads
// take consecutive channels (4 per thread as a float4 when C % 4 == 0) of the
// same pixel: every warp access is a contiguous run of whole cache lines.
//  * max pool forward: one thread per output element (flat grid-stride loop
//    over N*OH*OW*C/vec), looping over its window.
//  * max pool backward, a gather: one thread per INPUT element. It visits
//    the windows that contain its pixel (oy in [ceil((iy+p-k+1)/s),
//    floor((iy+p)/s)], the same for x; at most ceil(k/s)^2 = 4 windows for the
//    ResNet 3x3/2 pool), recomputes each window's argmax with the CPU's rule
//    and adds dy where the argmax is its pixel. Each dx element is written by
//    exactly one thread, so no atomics and no zero-fill pass, and the
//    additions happen in the CPU's order (oy, then ox, ascending): dx is
//    bit-identical to the CPU's. The window reads hit L1/L2 (neighbouring
//    threads read the same windows), so DRAM traffic stays ~x + dy + dx.
//  * global average pool forward: a block is tx lanes along C x ty threads
//    splitting the H*W positions of one image; each thread sums in double,
//    the block combines its ty partials with a fixed tree (deterministic),
//    one rounding to float, as the CPU's double accumulator.
//  * global average pool backward: elementwise, dx = dy / (H*W) (an IEEE
//    division, as the CPU: bit-identical).
#include <cmath>
#include <type_traits>

#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "kernels/channel_tiling.cuh"
#include "kernels/exact_math.cuh"
#include "kernels/pool.h"

namespace tl {
namespace {

using cuda::kBlockThreads;
using cuda::mul_exact;

// PoolGeometry with the output size precomputed (its methods are host-only).
struct PoolDims {
  int64_t n, h, w, c, k, s, p, oh, ow;
};

PoolDims dims_of(const PoolGeometry& g) {
  return PoolDims{g.batch, g.in_h, g.in_w, g.channels, g.kernel,
                  g.stride, g.pad, g.out_h(), g.out_w()};
}

// The window offsets [k_lo, k_hi) whose input coordinate is not padding, for
// the window starting at input coordinate `start` (window_range in pool.cpp).
__device__ __forceinline__ void window_range(int64_t start, int64_t kernel, int64_t in,
                                             int64_t& k_lo, int64_t& k_hi) {
  k_lo = start < 0 ? -start : 0;
  k_hi = in - start < kernel ? in - start : kernel;
}

// The CPU's rule (kernels/pool.cpp): v replaces the running maximum when it
// is greater or NaN (v != v), as PyTorch's max pooling does: a NaN in a
// window makes the output NaN instead of being dropped.
__device__ __forceinline__ bool takes_max(float v, float best) { return v > best || v != v; }

// T: float, or uint16_t for bfloat16 activations (widened as read; the max
// of bf16 values is one of them, so storing it rounds nothing; the
// backward's float sums are rounded once).
template <int VEC, typename T>
__global__ void __launch_bounds__(kBlockThreads)
    maxpool_forward_kernel(T* __restrict__ y, const T* __restrict__ x, PoolDims d) {
  const int64_t lanes = d.c / VEC;
  const int64_t total = d.n * d.oh * d.ow * lanes;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t lane = i % lanes;
    int64_t pix = i / lanes;
    const int64_t ox = pix % d.ow;
    pix /= d.ow;
    const int64_t oy = pix % d.oh;
    const int64_t n = pix / d.oh;
    const int64_t y0 = oy * d.s - d.p, x0 = ox * d.s - d.p;
    int64_t ky0, ky1, kx0, kx1;
    window_range(y0, d.k, d.h, ky0, ky1);
    window_range(x0, d.k, d.w, kx0, kx1);
    float best[VEC];
#pragma unroll
    for (int k = 0; k < VEC; ++k) best[k] = -INFINITY;  // padding acts as -inf
    for (int64_t ky = ky0; ky < ky1; ++ky)
      for (int64_t kx = kx0; kx < kx1; ++kx) {
        float v[VEC];
        cuda::load_vec<VEC>(v, x + ((n * d.h + y0 + ky) * d.w + x0 + kx) * d.c + lane * VEC);
#pragma unroll
        for (int k = 0; k < VEC; ++k) best[k] = takes_max(v[k], best[k]) ? v[k] : best[k];
      }
    cuda::store_vec<VEC>(y + i * VEC, best);
  }
}

template <int VEC, typename T>
__global__ void __launch_bounds__(kBlockThreads)
    maxpool_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                            const T* __restrict__ x, PoolDims d) {
  const int64_t lanes = d.c / VEC;
  const int64_t total = d.n * d.h * d.w * lanes;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t lane = i % lanes;
    int64_t pix = i / lanes;
    const int64_t ix = pix % d.w;
    pix /= d.w;
    const int64_t iy = pix % d.h;
    const int64_t n = pix / d.h;
    const int32_t me = static_cast<int32_t>(iy * d.w + ix);
    // Windows containing iy: oy * s - p <= iy <= oy * s - p + k - 1.
    const int64_t ny = iy + d.p - d.k + 1, nx = ix + d.p - d.k + 1;
    const int64_t oy_lo = ny <= 0 ? 0 : (ny + d.s - 1) / d.s;
    const int64_t ox_lo = nx <= 0 ? 0 : (nx + d.s - 1) / d.s;
    const int64_t oy_hi = (iy + d.p) / d.s < d.oh - 1 ? (iy + d.p) / d.s : d.oh - 1;
    const int64_t ox_hi = (ix + d.p) / d.s < d.ow - 1 ? (ix + d.p) / d.s : d.ow - 1;
    const T* x_n = x + n * d.h * d.w * d.c + lane * VEC;
    float sum[VEC];
#pragma unroll
    for (int k = 0; k < VEC; ++k) sum[k] = 0.0f;
    for (int64_t oy = oy_lo; oy <= oy_hi; ++oy) {
      const int64_t y0 = oy * d.s - d.p;
      int64_t ky0, ky1;
      window_range(y0, d.k, d.h, ky0, ky1);
      for (int64_t ox = ox_lo; ox <= ox_hi; ++ox) {
        const int64_t x0 = ox * d.s - d.p;
        int64_t kx0, kx1;
        window_range(x0, d.k, d.w, kx0, kx1);
        // The CPU's rule: start from the first real pixel, take only
        // strictly greater values (or a NaN), so the first maximum keeps the
        // gradient (the last NaN, where there are NaNs).
        const int32_t first = static_cast<int32_t>((y0 + ky0) * d.w + (x0 + kx0));
        float best[VEC];
        int32_t arg[VEC];
        cuda::load_vec<VEC>(best, x_n + int64_t(first) * d.c);
#pragma unroll
        for (int k = 0; k < VEC; ++k) arg[k] = first;
        for (int64_t ky = ky0; ky < ky1; ++ky)
          for (int64_t kx = kx0; kx < kx1; ++kx) {
            const int32_t pixel = static_cast<int32_t>((y0 + ky) * d.w + (x0 + kx));
            float v[VEC];
            cuda::load_vec<VEC>(v, x_n + int64_t(pixel) * d.c);
#pragma unroll
            for (int k = 0; k < VEC; ++k)
              if (takes_max(v[k], best[k])) {
                best[k] = v[k];
                arg[k] = pixel;
              }
          }
        bool mine = false;
#pragma unroll
        for (int k = 0; k < VEC; ++k) mine |= arg[k] == me;
        if (!mine) continue;  // skip the dy read when no channel's max is here
        float g[VEC];
        cuda::load_vec<VEC>(g, dy + ((n * d.oh + oy) * d.ow + ox) * d.c + lane * VEC);
#pragma unroll
        for (int k = 0; k < VEC; ++k)
          if (arg[k] == me) sum[k] += g[k];
      }
    }
    cuda::store_vec<VEC>(dx + i * VEC, sum);
  }
}

// y[n, c] = (sum over i of x[n, i, c]) / spatial, in double, one rounding.
template <int VEC>
__global__ void __launch_bounds__(kBlockThreads)
    global_avgpool_forward_kernel(float* __restrict__ y, const float* __restrict__ x,
                                  int64_t spatial, int64_t C) {
  __shared__ double sm[kBlockThreads * 4];
  const int64_t lane = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const bool active = lane < C / VEC;
  const int64_t n = blockIdx.y;
  double acc[VEC];
#pragma unroll
  for (int k = 0; k < VEC; ++k) acc[k] = 0.0;
  if (active) {
    for (int64_t i = threadIdx.y; i < spatial; i += blockDim.y) {
      float v[VEC];
      cuda::load_vec<VEC>(v, x + (n * spatial + i) * C + lane * VEC);
#pragma unroll
      for (int k = 0; k < VEC; ++k) acc[k] += static_cast<double>(v[k]);
    }
  }
  const int width = blockDim.x * VEC;
  const int slot = threadIdx.y * width + threadIdx.x * VEC;
#pragma unroll
  for (int k = 0; k < VEC; ++k) sm[slot + k] = acc[k];
  __syncthreads();
  for (unsigned s = blockDim.y / 2; s > 0; s >>= 1) {  // fixed tree: deterministic
    if (threadIdx.y < s) {
#pragma unroll
      for (int k = 0; k < VEC; ++k) sm[slot + k] += sm[slot + s * width + k];
    }
    __syncthreads();
  }
  if (threadIdx.y == 0 && active) {
    const double inv = 1.0 / static_cast<double>(spatial);
    float out[VEC];
#pragma unroll
    for (int k = 0; k < VEC; ++k) out[k] = static_cast<float>(mul_exact(sm[slot + k], inv));
    cuda::store_vec<VEC>(y + n * C + lane * VEC, out);
  }
}

// dx[n, i, c] = dy[n, c] / spatial.
template <int VEC>
__global__ void __launch_bounds__(kBlockThreads)
    global_avgpool_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                   int64_t batch, int64_t spatial, int64_t C) {
  const int64_t lanes = C / VEC;
  const int64_t total = batch * spatial * lanes;
  const float count = static_cast<float>(spatial);
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t lane = i % lanes;
    const int64_t n = i / (spatial * lanes);
    float g[VEC];
    cuda::load_vec<VEC>(g, dy + n * C + lane * VEC);
#pragma unroll
    for (int k = 0; k < VEC; ++k) g[k] = __fdiv_rn(g[k], count);
    cuda::store_vec<VEC>(dx + i * VEC, g);
  }
}

template <typename F>
void dispatch_vec(int vec, F&& f) {
  if (vec == 4) f(std::integral_constant<int, 4>{});
  else f(std::integral_constant<int, 1>{});
}

}  // namespace

namespace {

template <typename T>
void maxpool_forward(cuda::CudaState& gpu, T* y, const T* x, const PoolGeometry& g) {
  const PoolDims d = dims_of(g);
  const int vec = (d.c % 4 == 0 && cuda::aligned16(x) && cuda::aligned16(y)) ? 4 : 1;
  const int64_t total = d.n * d.oh * d.ow * (d.c / vec);
  if (total == 0) return;
  dispatch_vec(vec, [&](auto V) {
    maxpool_forward_kernel<decltype(V)::value, T>
        <<<cuda::blocks_for(total), kBlockThreads, 0, gpu.stream>>>(y, x, d);
  });
  TL_LAUNCH_CHECK(gpu);
}

template <typename T>
void maxpool_backward(cuda::CudaState& gpu, T* dx, const T* dy, const T* x, const PoolGeometry& g) {
  const PoolDims d = dims_of(g);
  const int vec =
      (d.c % 4 == 0 && cuda::aligned16(x) && cuda::aligned16(dy) && cuda::aligned16(dx)) ? 4 : 1;
  const int64_t total = d.n * d.h * d.w * (d.c / vec);
  if (total == 0) return;
  dispatch_vec(vec, [&](auto V) {
    maxpool_backward_kernel<decltype(V)::value, T>
        <<<cuda::blocks_for(total), kBlockThreads, 0, gpu.stream>>>(dx, dy, x, d);
  });
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace

void maxpool2d_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, const PoolGeometry& g) {
  maxpool_forward(gpu, y, x, g);
}
void maxpool2d_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy, const float* x,
                             const PoolGeometry& g) {
  maxpool_backward(gpu, dx, dy, x, g);
}
void maxpool2d_forward_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* x,
                            const PoolGeometry& g) {
  maxpool_forward(gpu, y, x, g);
}
void maxpool2d_backward_cuda(cuda::CudaState& gpu, uint16_t* dx, const uint16_t* dy,
                             const uint16_t* x, const PoolGeometry& g) {
  maxpool_backward(gpu, dx, dy, x, g);
}

void global_avgpool_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, int64_t batch,
                                 int64_t spatial, int64_t channels) {
  if (batch == 0 || channels == 0) return;
  const cuda::ChannelTiling t =
      cuda::channel_tiling(channels, cuda::aligned16(x) && cuda::aligned16(y));
  // One image per grid row: at most 65535 images per launch, so split larger
  // batches into several launches.
  constexpr int64_t kMaxGridY = 65535;
  for (int64_t n0 = 0; n0 < batch; n0 += kMaxGridY) {
    const int64_t nb = batch - n0 < kMaxGridY ? batch - n0 : kMaxGridY;
    const dim3 grid(static_cast<unsigned>(t.channel_tiles), static_cast<unsigned>(nb));
    dispatch_vec(t.vec, [&](auto V) {
      global_avgpool_forward_kernel<decltype(V)::value>
          <<<grid, dim3(t.tx, t.ty), 0, gpu.stream>>>(
              y + n0 * channels, x + n0 * spatial * channels, spatial, channels);
    });
    TL_LAUNCH_CHECK(gpu);
  }
}

void global_avgpool_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy, int64_t batch,
                                  int64_t spatial, int64_t channels) {
  const int vec = (channels % 4 == 0 && cuda::aligned16(dx) && cuda::aligned16(dy)) ? 4 : 1;
  const int64_t total = batch * spatial * (channels / vec);
  if (total == 0) return;
  dispatch_vec(vec, [&](auto V) {
    global_avgpool_backward_kernel<decltype(V)::value>
        <<<cuda::blocks_for(total), kBlockThreads, 0, gpu.stream>>>(dx, dy, batch, spatial,
                                                                          channels);
  });
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace tl
