// CUDA kernels for the elementwise ops (elementwise.h): ReLU forward and
// backward, residual add, add fused with ReLU, and a constant fill.
//
// Layout: flat arrays of n floats (any shape, contiguous). Each thread handles
// one element with a grid-stride loop. These kernels are purely memory-bound
// (add_relu: 8 bytes read + 4 written per element), so the only goal is
// coalesced access: consecutive threads touch consecutive floats.
//
// Storage: float32, or bfloat16 (uint16_t bit patterns; runtime/bf16.h) for
// the --precision bf16 path: values are widened as they are read, computed
// in float32 and rounded once when stored, as the CPU's bf16 reference does
// (the float32 op between casts, engine/ops.h).
//
// NaN propagates through every ReLU here, as in the CPU reference and in
// PyTorch (relu_value / relu_passes in elementwise.h): fmaxf(x, 0), the
// obvious CUDA ReLU, returns 0 for a NaN x (IEEE maxNum) and would hide it.
#include "runtime/bf16.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "kernels/elementwise.h"

namespace tl {
namespace {

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const uint16_t* p, int64_t i) {
  return float_from_bf16_bits(p[i]);
}
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(uint16_t* p, int64_t i, float v) {
  p[i] = bf16_bits_from_float(v);
}

template <typename T>
__global__ void relu_forward_kernel(T* y, const T* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store(y, i, relu_value(load(x, i)));  // not fmaxf(x, 0): it returns 0 for NaN
}

template <typename T>
__global__ void relu_backward_kernel(T* dx, const T* dy, const T* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    store(dx, i, relu_passes(load(y, i)) ? load(dy, i) : 0.0f);
}

template <typename T>
__global__ void add_kernel(T* y, const T* a, const T* b, int64_t n, bool relu) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float s = __fadd_rn(load(a, i), load(b, i));
    store(y, i, relu ? relu_value(s) : s);
  }
}

__global__ void fill_kernel(float* y, float value, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = value;
}

template <typename T>
void relu_forward(cuda::CudaState& gpu, T* y, const T* x, int64_t n) {
  if (n == 0) return;
  relu_forward_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(y, x, n);
  TL_LAUNCH_CHECK(gpu);
}

template <typename T>
void relu_backward(cuda::CudaState& gpu, T* dx, const T* dy, const T* y, int64_t n) {
  if (n == 0) return;
  relu_backward_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(dx, dy, y, n);
  TL_LAUNCH_CHECK(gpu);
}

template <typename T>
void add(cuda::CudaState& gpu, T* y, const T* a, const T* b, int64_t n, bool relu) {
  if (n == 0) return;
  add_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(y, a, b, n, relu);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace

void relu_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, int64_t n) {
  relu_forward(gpu, y, x, n);
}
void relu_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy, const float* y, int64_t n) {
  relu_backward(gpu, dx, dy, y, n);
}
void add_forward_cuda(cuda::CudaState& gpu, float* y, const float* a, const float* b, int64_t n) {
  add(gpu, y, a, b, n, false);
}
void add_relu_forward_cuda(cuda::CudaState& gpu, float* y, const float* a, const float* b, int64_t n) {
  add(gpu, y, a, b, n, true);
}
void relu_forward_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* x, int64_t n) {
  relu_forward(gpu, y, x, n);
}
void relu_backward_cuda(cuda::CudaState& gpu, uint16_t* dx, const uint16_t* dy, const uint16_t* y,
                        int64_t n) {
  relu_backward(gpu, dx, dy, y, n);
}
void add_forward_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* a, const uint16_t* b,
                      int64_t n) {
  add(gpu, y, a, b, n, false);
}
void add_relu_forward_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* a,
                           const uint16_t* b, int64_t n) {
  add(gpu, y, a, b, n, true);
}

void fill_cuda(cuda::CudaState& gpu, float* y, float value, int64_t n) {
  if (n == 0) return;
  fill_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(y, value, n);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace tl
