// CUDA inverted dropout (same contract as kernels/dropout.cpp):
//   out[i] = keep_i ? in[i] * scale : 0,   keep_i = philox_uniform_at(seed, stream, i) >= rate,
//   scale = 1.0f / (1.0f - rate) computed in float on the host, exactly as the CPU does.
// The forward (in = x) and the backward (in = dy) are the same map, and the
// mask is never stored: both redraw it from (seed, stream). In a CUDA graph
// the stream is an offset from a base read from device memory (stream_base).
//
// Layout: a flat array of n floats. One thread per Philox block of 4
// elements: one philox4x32_10 call (runtime/philox.h, __host__ __device__)
// yields the 4 words of elements 4b .. 4b+3, which is also what the CPU's loop
// does, so the mask is bit-identical to the CPU's; the kept values are one
// float multiply on both sides, so out is bit-identical too. The 4 elements
// move as one float4 (16-byte, coalesced across the warp) when the pointers
// allow; the last partial block goes element by element. Philox costs ~100
// integer instructions per 4 elements (~25 per element); an H200 issues those
// at roughly the rate it moves an element's 8 bytes (4 read, 4 written), so
// the kernel sits near the balance point of compute and memory.
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "runtime/philox.h"
#include "kernels/channel_tiling.cuh"
#include "kernels/dropout.h"

namespace tl {
namespace {

__global__ void __launch_bounds__(cuda::kBlockThreads)
    dropout_kernel(float* __restrict__ out, const float* __restrict__ in, int64_t n, float rate,
                   float scale, uint64_t seed, uint64_t stream_offset,
                   const uint64_t* __restrict__ stream_base, bool vec4) {
  const uint64_t stream = stream_base ? *stream_base + stream_offset : stream_offset;
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; b < blocks;
       b += int64_t(gridDim.x) * blockDim.x) {
    const uint64_t block = static_cast<uint64_t>(b);
    const Philox4x32 r = philox_block(seed, stream, block);
    const int64_t i0 = b * 4;
    if (vec4 && i0 + 4 <= n) {
      float v[4];
      cuda::load_vec<4>(v, in + i0);
#pragma unroll
      for (int k = 0; k < 4; ++k) v[k] = philox_uniform(r.v[k]) >= rate ? v[k] * scale : 0.0f;
      cuda::store_vec<4>(out + i0, v);
    } else {
      for (int64_t i = i0; i < n && i < i0 + 4; ++i)
        out[i] = philox_uniform(r.v[i & 3]) >= rate ? in[i] * scale : 0.0f;
    }
  }
}

void launch(cuda::CudaState& gpu, float* out, const float* in, int64_t n, float rate, uint64_t seed,
            uint64_t stream, const uint64_t* stream_base) {
  if (n == 0) return;
  const float scale = 1.0f / (1.0f - rate);  // in float, as dropout.cpp
  const bool vec4 = cuda::aligned16(out) && cuda::aligned16(in);
  dropout_kernel<<<cuda::blocks_for((n + 3) / 4), cuda::kBlockThreads, 0, gpu.stream>>>(
      out, in, n, rate, scale, seed, stream, stream_base, vec4);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace

void dropout_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, int64_t n, float rate,
                          uint64_t seed, uint64_t stream, const uint64_t* stream_base) {
  launch(gpu, y, x, n, rate, seed, stream, stream_base);
}

void dropout_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy, int64_t n, float rate,
                           uint64_t seed, uint64_t stream, const uint64_t* stream_base) {
  launch(gpu, dx, dy, n, rate, seed, stream, stream_base);
}

}  // namespace tl
