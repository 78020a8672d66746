// Fully connected layer (Keras Dense): y = x w + b.
// The weight is stored (in, out), as Keras stores Dense kernels, so loading
// needs no transpose and the forward is one row-major GEMM.
#pragma once

#include <cstdint>

namespace tl {

// y: (N, out); x: (N, in); w: (in, out); b: (out) or null.
template <typename T>
void linear_forward_cpu(T* y, const T* x, const T* w, const T* b, int64_t batch, int64_t in,
                        int64_t out);
// dx = dy w^T, dw = x^T dy, db = sum over rows of dy. Each may be null.
template <typename T>
void linear_backward_cpu(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t batch,
                         int64_t in, int64_t out);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launchers (kernels/linear.cu; a CPU-only build has
// stubs that throw: kernels/cuda_stubs.cpp), float32, device pointers, on the
// CudaState's stream: cuBLAS SGEMMs (TF32 tensor cores only when the CudaState
// allows them) and two small bias kernels. Same contracts as the CPU ones.
void linear_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, const float* w, const float* b,
                         int64_t batch, int64_t in, int64_t out);
void linear_backward_cuda(cuda::CudaState& gpu, float* dx, float* dw, float* db, const float* dy,
                          const float* x, const float* w, int64_t batch, int64_t in, int64_t out);

// The bias of a row-major (rows, cols) matrix: a Dense output, or an NHWC
// convolution output seen as (N*H*W, C) (kernels/conv2d.cu uses both).
// y[r, c] += bias[c]
void bias_add_rows_cuda(cuda::CudaState& gpu, float* y, const float* bias, int64_t rows, int64_t cols);
// db[c] = sum over r of dy[r, c], overwritten. Deterministic: a fixed
// summation order (per-chunk partial sums, then the chunks in order), no atomics.
void bias_grad_rows_cuda(cuda::CudaState& gpu, float* db, const float* dy, int64_t rows, int64_t cols);
}  // namespace tl
