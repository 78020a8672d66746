// Elementwise ops: ReLU, the residual add, and the residual add fused with
// the ReLU that follows it at the end of every bottleneck block.
#pragma once

#include <cstdint>

#include "runtime/philox.h"  // TL_HOST_DEVICE

namespace tl {

// The ReLU of one value, shared by every ReLU in tl (plain, fused with BN,
// fused with the residual add; CPU and CUDA): NaN propagates, as in PyTorch
// and Keras (`v > 0 ? v : 0` and fmaxf(v, 0) would both turn NaN into 0).
template <typename T>
TL_HOST_DEVICE T relu_value(T v) {
  return v <= T(0) ? T(0) : v;
}
// Whether the ReLU's gradient passes at output (or pre-activation) v:
// PyTorch's threshold_backward, `v <= 0 ? 0 : dy`, so it passes at NaN.
template <typename T>
TL_HOST_DEVICE bool relu_passes(T v) {
  return !(v <= T(0));
}

// y = max(x, 0), NaN kept
template <typename T>
void relu_forward_cpu(T* y, const T* x, int64_t n);
// dx = dy where y is not <= 0, else 0 (the subgradient at 0 is 0, and a
// NaN output passes dy, as PyTorch).
template <typename T>
void relu_backward_cpu(T* dx, const T* dy, const T* y, int64_t n);

// y = a + b
template <typename T>
void add_forward_cpu(T* y, const T* a, const T* b, int64_t n);
// y = max(a + b, 0), NaN kept; its backward is relu_backward_cpu, whose result is the
// gradient of both a and b.
template <typename T>
void add_relu_forward_cpu(T* y, const T* a, const T* b, int64_t n);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launchers (kernels/elementwise.cu; a CPU-only build has
// stubs that throw: kernels/cuda_stubs.cpp), float32, on the CudaState's stream.
void relu_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, int64_t n);
void relu_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy, const float* y, int64_t n);
void add_forward_cuda(cuda::CudaState& gpu, float* y, const float* a, const float* b, int64_t n);
void add_relu_forward_cuda(cuda::CudaState& gpu, float* y, const float* a, const float* b, int64_t n);
// The same four for bfloat16 (uint16_t bit patterns): float32 arithmetic,
// each output rounded once; dx is dy (already bf16) or 0, exact.
void relu_forward_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* x, int64_t n);
void relu_backward_cuda(cuda::CudaState& gpu, uint16_t* dx, const uint16_t* dy, const uint16_t* y,
                        int64_t n);
void add_forward_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* a, const uint16_t* b,
                      int64_t n);
void add_relu_forward_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* a,
                           const uint16_t* b, int64_t n);
// y[i] = value (Context::full on a GPU: the backward seed of 1 is made here
// rather than copied from the host, which would make the host wait).
void fill_cuda(cuda::CudaState& gpu, float* y, float value, int64_t n);
}  // namespace tl
