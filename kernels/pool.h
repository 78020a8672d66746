// Pooling, NHWC.
//  * Max pooling, k x k window, stride s, symmetric padding p. Padded
//    positions never win (they act as -inf, as in PyTorch). Keras pads with
//    zeros before its 3x3/2 pool, which is the same thing there because the
//    input is post-ReLU (>= 0). The gradient goes to the first maximum of
//    each window in (ky, kx) order.
//  * Global average pooling: (N, H, W, C) -> (N, C).
#pragma once

#include <cstdint>

namespace tl {

struct PoolGeometry {
  int64_t batch = 0, in_h = 0, in_w = 0, channels = 0;
  int64_t kernel = 3, stride = 2, pad = 0;
  int64_t out_h() const { return (in_h + 2 * pad - kernel) / stride + 1; }
  int64_t out_w() const { return (in_w + 2 * pad - kernel) / stride + 1; }
};

// y: (N, OH, OW, C); x: (N, H, W, C).
template <typename T>
void maxpool2d_forward_cpu(T* y, const T* x, const PoolGeometry& g);
// dx: (N, H, W, C), overwritten; the argmax is recomputed from x.
template <typename T>
void maxpool2d_backward_cpu(T* dx, const T* dy, const T* x, const PoolGeometry& g);

// y: (N, C) = mean over H*W of x: (N, H, W, C).
template <typename T>
void global_avgpool_forward_cpu(T* y, const T* x, int64_t batch, int64_t spatial, int64_t channels);
// dx[n, i, c] = dy[n, c] / spatial.
template <typename T>
void global_avgpool_backward_cpu(T* dx, const T* dy, int64_t batch, int64_t spatial,
                                 int64_t channels);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launchers (kernels/pool.cu; a CPU-only build has
// stubs that throw: kernels/cuda_stubs.cpp), float32, on the CudaState's stream; the
// same contracts as the CPU functions above (device pointers).
void maxpool2d_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, const PoolGeometry& g);
void maxpool2d_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy, const float* x,
                             const PoolGeometry& g);
// The same for bfloat16 activations (uint16_t bit patterns).
void maxpool2d_forward_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* x,
                            const PoolGeometry& g);
void maxpool2d_backward_cuda(cuda::CudaState& gpu, uint16_t* dx, const uint16_t* dy,
                             const uint16_t* x, const PoolGeometry& g);
void global_avgpool_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, int64_t batch,
                                 int64_t spatial, int64_t channels);
void global_avgpool_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy, int64_t batch,
                                  int64_t spatial, int64_t channels);
}  // namespace tl
