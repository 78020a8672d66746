// Batch normalisation over the channel axis of NHWC data, seen as a
// (rows, channels) matrix with rows = N*H*W (or N for a 1-D BN after Dense).
// Optionally fused with the ReLU that follows it in every ResNet block.
//
//   training:  mean_c, var_c over the rows (biased variance, as Keras),
//              y = gamma * (x - mean) / sqrt(var + eps) + beta   [then max(0, .)]
//              running = momentum * running + (1 - momentum) * batch
//              (Keras's convention: momentum 0.99 keeps 99% of the old value;
//              the running variance takes the biased batch variance, as
//              Keras 3 does. PyTorch's momentum is 1 - ours, with an unbiased
//              running variance.)
//   inference: the same with running_mean / running_var.
#pragma once

#include <cmath>
#include <cstdint>

namespace tl {

// 1 / sqrt(running_var + eps), computed in double and rounded once to T: the
// inference BN's per-channel factor, one rule for its forward, its backward
// and the convolution it is fused into (ops::conv2d_batchnorm_inference), so
// that all of them see the same bits.
template <typename T>
inline T batchnorm_inference_invstd(T running_var, T eps) {
  const double var = static_cast<double>(running_var) + static_cast<double>(eps);
  return static_cast<T>(1.0 / std::sqrt(var));
}

struct BatchNormGeometry {
  int64_t rows = 0;      // N*H*W
  int64_t channels = 0;  // C
};

// x, y: (rows, C); gamma, beta, running_*: (C). Writes the batch mean and
// 1/sqrt(var + eps) to save_mean / save_invstd (C) for the backward pass.
// running_mean / running_var are updated in place unless null.
template <typename T>
void batchnorm_forward_train_cpu(T* y, T* save_mean, T* save_invstd, T* running_mean,
                                 T* running_var, const T* x, const T* gamma, const T* beta,
                                 const BatchNormGeometry& g, T eps, T momentum, bool relu);

// Inference: normalises with the running statistics, changes nothing.
template <typename T>
void batchnorm_forward_infer_cpu(T* y, const T* x, const T* gamma, const T* beta,
                                 const T* running_mean, const T* running_var,
                                 const BatchNormGeometry& g, T eps, bool relu);

// running_mean += (1 - momentum) * shift, per channel: the running-mean
// update a training forward of x + shift would have made, after one of x.
// A per-channel shift (the bias of the convolution before the BN) cancels
// in the batch statistics exactly, so the op can skip adding it and only
// tell the running mean (ops::batchnorm, BatchNormOptions::shift).
template <typename T>
void batchnorm_shift_running_mean_cpu(T* running_mean, const T* shift, int64_t channels,
                                      T momentum);

// Backward of the training forward. mean / invstd are what the forward saved;
// with relu the mask is recomputed from x (y > 0), so y need not be kept.
// dx, dgamma, dbeta may each be null (not computed).
template <typename T>
void batchnorm_backward_train_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                  const T* gamma, const T* beta, const T* mean, const T* invstd,
                                  const BatchNormGeometry& g, bool relu);

// Backward of the inference forward (a per-channel affine map): used when a
// BN runs in inference mode inside a part that is still being trained.
template <typename T>
void batchnorm_backward_infer_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                  const T* gamma, const T* beta, const T* running_mean,
                                  const T* running_var, const BatchNormGeometry& g, T eps,
                                  bool relu);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launchers (kernels/batchnorm.cu; a CPU-only build has
// stubs that throw: kernels/cuda_stubs.cpp), float32, on the CudaState's stream;
// the same contracts as the CPU functions above (device pointers).
void batchnorm_forward_train_cuda(cuda::CudaState& gpu, float* y, float* save_mean, float* save_invstd,
                                  float* running_mean, float* running_var, const float* x,
                                  const float* gamma, const float* beta,
                                  const BatchNormGeometry& g, float eps, float momentum, bool relu);
void batchnorm_shift_running_mean_cuda(cuda::CudaState& gpu, float* running_mean,
                                       const float* shift, int64_t channels, float momentum);
void batchnorm_forward_infer_cuda(cuda::CudaState& gpu, float* y, const float* x, const float* gamma,
                                  const float* beta, const float* running_mean,
                                  const float* running_var, const BatchNormGeometry& g, float eps,
                                  bool relu);
void batchnorm_backward_train_cuda(cuda::CudaState& gpu, float* dx, float* dgamma, float* dbeta,
                                   const float* dy, const float* x, const float* gamma,
                                   const float* beta, const float* mean, const float* invstd,
                                   const BatchNormGeometry& g, bool relu);
void batchnorm_backward_infer_cuda(cuda::CudaState& gpu, float* dx, float* dgamma, float* dbeta,
                                   const float* dy, const float* x, const float* gamma,
                                   const float* beta, const float* running_mean,
                                   const float* running_var, const BatchNormGeometry& g, float eps,
                                   bool relu);
// The same four for bfloat16 activations (x, y, dy, dx as uint16_t bit
// patterns; runtime/bf16.h): widened as they are read, float / double
// arithmetic as above, each output rounded once. Parameters and statistics
// stay float32. Equal to the float32 launcher on the widened x, rounded.
void batchnorm_forward_train_cuda(cuda::CudaState& gpu, uint16_t* y, float* save_mean,
                                  float* save_invstd, float* running_mean, float* running_var,
                                  const uint16_t* x, const float* gamma, const float* beta,
                                  const BatchNormGeometry& g, float eps, float momentum, bool relu);
void batchnorm_forward_infer_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* x,
                                  const float* gamma, const float* beta, const float* running_mean,
                                  const float* running_var, const BatchNormGeometry& g, float eps,
                                  bool relu);
void batchnorm_backward_train_cuda(cuda::CudaState& gpu, uint16_t* dx, float* dgamma,
                                   float* dbeta, const uint16_t* dy, const uint16_t* x,
                                   const float* gamma, const float* beta, const float* mean,
                                   const float* invstd, const BatchNormGeometry& g, bool relu);
void batchnorm_backward_infer_cuda(cuda::CudaState& gpu, uint16_t* dx, float* dgamma,
                                   float* dbeta, const uint16_t* dy, const uint16_t* x,
                                   const float* gamma, const float* beta, const float* running_mean,
                                   const float* running_var, const BatchNormGeometry& g, float eps,
                                   bool relu);
// The forward of relu(residual + batchnorm(x)) in one pass (the last BN of a
// bottleneck with the shortcut added and the block's ReLU): the float32 /
// bf16 forward launchers above with the residual (rows, C) added in float
// before the ReLU. The statistics are x's alone. Its backward is the ReLU's
// mask applied to dy (the residual's gradient) and then the plain BN
// backward (relu = false) on that.
void batchnorm_add_relu_forward_train_cuda(cuda::CudaState& gpu, float* y, float* save_mean,
                                           float* save_invstd, float* running_mean,
                                           float* running_var, const float* x,
                                           const float* residual, const float* gamma,
                                           const float* beta, const BatchNormGeometry& g,
                                           float eps, float momentum);
void batchnorm_add_relu_forward_infer_cuda(cuda::CudaState& gpu, float* y, const float* x,
                                           const float* residual, const float* gamma,
                                           const float* beta, const float* running_mean,
                                           const float* running_var, const BatchNormGeometry& g,
                                           float eps);
void batchnorm_add_relu_forward_train_cuda(cuda::CudaState& gpu, uint16_t* y, float* save_mean,
                                           float* save_invstd, float* running_mean,
                                           float* running_var, const uint16_t* x,
                                           const uint16_t* residual, const float* gamma,
                                           const float* beta, const BatchNormGeometry& g,
                                           float eps, float momentum);
void batchnorm_add_relu_forward_infer_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* x,
                                           const uint16_t* residual, const float* gamma,
                                           const float* beta, const float* running_mean,
                                           const float* running_var, const BatchNormGeometry& g,
                                           float eps);
}  // namespace tl
