// CUDA kernels for the elementwise ops (elementwise.h): ReLU forward and
// backward, residual add, add fused with ReLU, and a constant fill.
//
// Layout: flat arrays of n floats (any shape, contiguous). Each thread handles
// one element with a grid-stride loop. These kernels are purely memory-bound
// (add_relu: 8 bytes read + 4 written per element), so the only goal is
// coalesced access: consecutive threads touch consecutive floats.
//
// NaN propagates through every ReLU here, as in the CPU reference and in
// PyTorch (relu_value / relu_passes in elementwise.h): fmaxf(x, 0), the
// obvious CUDA ReLU, returns 0 for a NaN x (IEEE maxNum) and would hide it.
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "kernels/elementwise.h"

namespace tl {
namespace {

__global__ void relu_forward_kernel(float* y, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = relu_value(x[i]);  // not fmaxf(x, 0): it returns 0 for NaN
}

__global__ void relu_backward_kernel(float* dx, const float* dy, const float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = relu_passes(y[i]) ? dy[i] : 0.0f;
}

__global__ void add_kernel(float* y, const float* a, const float* b, int64_t n, bool relu) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float s = a[i] + b[i];
    y[i] = relu ? relu_value(s) : s;
  }
}

__global__ void fill_kernel(float* y, float value, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = value;
}

}  // namespace

void relu_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, int64_t n) {
  if (n == 0) return;
  relu_forward_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(y, x, n);
  TL_LAUNCH_CHECK(gpu);
}

void relu_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy, const float* y, int64_t n) {
  if (n == 0) return;
  relu_backward_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(dx, dy, y, n);
  TL_LAUNCH_CHECK(gpu);
}

void add_forward_cuda(cuda::CudaState& gpu, float* y, const float* a, const float* b, int64_t n) {
  if (n == 0) return;
  add_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(y, a, b, n, false);
  TL_LAUNCH_CHECK(gpu);
}

void add_relu_forward_cuda(cuda::CudaState& gpu, float* y, const float* a, const float* b, int64_t n) {
  if (n == 0) return;
  add_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(y, a, b, n, true);
  TL_LAUNCH_CHECK(gpu);
}

void fill_cuda(cuda::CudaState& gpu, float* y, float value, int64_t n) {
  if (n == 0) return;
  fill_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(y, value, n);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace tl
