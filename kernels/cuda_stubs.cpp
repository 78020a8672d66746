// CPU-only builds: every CUDA launcher declared in kernels/*.h exists here
// as a stub that throws a clear error. So the ops (engine/ops_*.cpp) call
// the launchers with no preprocessor around them: which backend runs is a
// plain `if` on the Context's device, and only this one file knows whether
// the CUDA half was compiled. (A CPU Context never reaches these; a CUDA
// Context cannot be created without the CUDA backend. They are a last guard.)
#include "runtime/check.h"
#include "kernels/augment.h"
#include "kernels/batchnorm.h"
#include "kernels/cast.h"
#include "kernels/conv2d.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "kernels/optim.h"
#include "kernels/pad_channels.h"
#include "kernels/pool.h"
#include "kernels/preprocess.h"
#include "kernels/softmax_xent.h"
#include "kernels/step_metrics.h"
#include "kernels/upsample.h"

#ifndef TL_WITH_CUDA
namespace tl {
namespace {

[[noreturn]] void no_cuda_kernel(const char* launcher) {
  fail(launcher, ": this build of tl has no CUDA backend; reconfigure with -DTL_CUDA=ON on a machine "
       "with nvcc and cuDNN, or compute on the CPU");
}

}  // namespace

// kernels/augment.h
void gather_augment_cuda(cuda::CudaState&, uint8_t*, int32_t*, const uint8_t*, const int32_t*,
                         const int32_t*, int64_t, int64_t, int64_t, bool, uint64_t, int64_t,
                         int64_t) {
  no_cuda_kernel("gather_augment_cuda");
}

// kernels/batchnorm.h
void batchnorm_forward_train_cuda(cuda::CudaState&, float*, float*, float*, float*, float*, const float*,
                                  const float*, const float*, const BatchNormGeometry&, float,
                                  float, bool) {
  no_cuda_kernel("batchnorm_forward_train_cuda");
}
void batchnorm_shift_running_mean_cuda(cuda::CudaState&, float*, const float*, int64_t, float) {
  no_cuda_kernel("batchnorm_shift_running_mean_cuda");
}
void batchnorm_forward_infer_cuda(cuda::CudaState&, float*, const float*, const float*, const float*,
                                  const float*, const float*, const BatchNormGeometry&, float,
                                  bool) {
  no_cuda_kernel("batchnorm_forward_infer_cuda");
}
void batchnorm_backward_train_cuda(cuda::CudaState&, float*, float*, float*, const float*, const float*,
                                   const float*, const float*, const float*, const float*,
                                   const BatchNormGeometry&, bool) {
  no_cuda_kernel("batchnorm_backward_train_cuda");
}
void batchnorm_backward_infer_cuda(cuda::CudaState&, float*, float*, float*, const float*, const float*,
                                   const float*, const float*, const float*, const float*,
                                   const BatchNormGeometry&, float, bool) {
  no_cuda_kernel("batchnorm_backward_infer_cuda");
}
void batchnorm_add_relu_forward_train_cuda(cuda::CudaState&, float*, float*, float*, float*,
                                           float*, const float*, const float*, const float*,
                                           const float*, const BatchNormGeometry&, float, float) {
  no_cuda_kernel("batchnorm_add_relu_forward_train_cuda");
}
void batchnorm_add_relu_forward_infer_cuda(cuda::CudaState&, float*, const float*, const float*,
                                           const float*, const float*, const float*, const float*,
                                           const BatchNormGeometry&, float) {
  no_cuda_kernel("batchnorm_add_relu_forward_infer_cuda");
}
void batchnorm_add_relu_forward_train_cuda(cuda::CudaState&, uint16_t*, float*, float*, float*,
                                           float*, const uint16_t*, const uint16_t*,
                                           const float*, const float*, const BatchNormGeometry&,
                                           float, float) {
  no_cuda_kernel("batchnorm_add_relu_forward_train_cuda");
}
void batchnorm_add_relu_forward_infer_cuda(cuda::CudaState&, uint16_t*, const uint16_t*,
                                           const uint16_t*, const float*, const float*,
                                           const float*, const float*, const BatchNormGeometry&,
                                           float) {
  no_cuda_kernel("batchnorm_add_relu_forward_infer_cuda");
}
void batchnorm_forward_train_cuda(cuda::CudaState&, uint16_t*, float*, float*, float*, float*,
                                  const uint16_t*, const float*, const float*,
                                  const BatchNormGeometry&, float, float, bool) {
  no_cuda_kernel("batchnorm_forward_train_cuda");
}
void batchnorm_forward_infer_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, const float*,
                                  const float*, const float*, const float*,
                                  const BatchNormGeometry&, float, bool) {
  no_cuda_kernel("batchnorm_forward_infer_cuda");
}
void batchnorm_backward_train_cuda(cuda::CudaState&, uint16_t*, float*, float*, const uint16_t*,
                                   const uint16_t*, const float*, const float*, const float*,
                                   const float*, const BatchNormGeometry&, bool) {
  no_cuda_kernel("batchnorm_backward_train_cuda");
}
void batchnorm_backward_infer_cuda(cuda::CudaState&, uint16_t*, float*, float*, const uint16_t*,
                                   const uint16_t*, const float*, const float*, const float*,
                                   const float*, const BatchNormGeometry&, float, bool) {
  no_cuda_kernel("batchnorm_backward_infer_cuda");
}

// kernels/cast.h
void float_to_bf16_cuda(cuda::CudaState&, uint16_t*, const float*, int64_t) {
  no_cuda_kernel("float_to_bf16_cuda");
}
void bf16_to_float_cuda(cuda::CudaState&, float*, const uint16_t*, int64_t) {
  no_cuda_kernel("bf16_to_float_cuda");
}
void add_bf16_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, const uint16_t*, int64_t) {
  no_cuda_kernel("add_bf16_cuda");
}

// kernels/conv2d.h
void conv2d_forward_cuda(cuda::CudaState&, float*, const float*, const float*, const float*,
                         const Conv2dGeometry&) {
  no_cuda_kernel("conv2d_forward_cuda");
}
void conv2d_backward_cuda(cuda::CudaState&, float*, float*, float*, const float*, const float*,
                          const float*, const Conv2dGeometry&, bool) {
  no_cuda_kernel("conv2d_backward_cuda");
}

void conv2d_forward_bf16_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, const uint16_t*,
                              const Conv2dGeometry&) {
  no_cuda_kernel("conv2d_forward_bf16_cuda");
}
void conv2d_backward_bf16_cuda(cuda::CudaState&, uint16_t*, uint16_t*, const uint16_t*,
                               const uint16_t*, const uint16_t*, const Conv2dGeometry&, bool) {
  no_cuda_kernel("conv2d_backward_bf16_cuda");
}

// kernels/dropout.h
void dropout_forward_cuda(cuda::CudaState&, float*, const float*, int64_t, float, uint64_t, uint64_t,
                          const uint64_t*) {
  no_cuda_kernel("dropout_forward_cuda");
}
void dropout_backward_cuda(cuda::CudaState&, float*, const float*, int64_t, float, uint64_t, uint64_t,
                           const uint64_t*) {
  no_cuda_kernel("dropout_backward_cuda");
}

// kernels/elementwise.h
void relu_forward_cuda(cuda::CudaState&, float*, const float*, int64_t) {
  no_cuda_kernel("relu_forward_cuda");
}
void relu_backward_cuda(cuda::CudaState&, float*, const float*, const float*, int64_t) {
  no_cuda_kernel("relu_backward_cuda");
}
void add_forward_cuda(cuda::CudaState&, float*, const float*, const float*, int64_t) {
  no_cuda_kernel("add_forward_cuda");
}
void add_relu_forward_cuda(cuda::CudaState&, float*, const float*, const float*, int64_t) {
  no_cuda_kernel("add_relu_forward_cuda");
}
void relu_forward_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, int64_t) {
  no_cuda_kernel("relu_forward_cuda");
}
void relu_backward_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, const uint16_t*, int64_t) {
  no_cuda_kernel("relu_backward_cuda");
}
void add_forward_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, const uint16_t*, int64_t) {
  no_cuda_kernel("add_forward_cuda");
}
void add_relu_forward_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, const uint16_t*, int64_t) {
  no_cuda_kernel("add_relu_forward_cuda");
}
void fill_cuda(cuda::CudaState&, float*, float, int64_t) { no_cuda_kernel("fill_cuda"); }

// kernels/linear.h
void linear_forward_cuda(cuda::CudaState&, float*, const float*, const float*, const float*, int64_t,
                         int64_t, int64_t) {
  no_cuda_kernel("linear_forward_cuda");
}
void linear_backward_cuda(cuda::CudaState&, float*, float*, float*, const float*, const float*,
                          const float*, int64_t, int64_t, int64_t) {
  no_cuda_kernel("linear_backward_cuda");
}
void bias_add_rows_cuda(cuda::CudaState&, float*, const float*, int64_t, int64_t) {
  no_cuda_kernel("bias_add_rows_cuda");
}
void bias_grad_rows_cuda(cuda::CudaState&, float*, const float*, int64_t, int64_t) {
  no_cuda_kernel("bias_grad_rows_cuda");
}

// kernels/optim.h
void sgd_update_cuda(cuda::CudaState&, const std::vector<SgdTensorRef>&, const float*) {
  no_cuda_kernel("sgd_update_cuda");
}
void adam_update_cuda(cuda::CudaState&, const std::vector<AdamTensorRef>&, const float*) {
  no_cuda_kernel("adam_update_cuda");
}
size_t sgd_descriptor_bytes(const std::vector<SgdTensorRef>&) {
  no_cuda_kernel("sgd_descriptor_bytes");
}
void sgd_write_descriptors_cuda(cuda::CudaState&, const std::vector<SgdTensorRef>&, void*) {
  no_cuda_kernel("sgd_write_descriptors_cuda");
}
void sgd_launch_cuda(cuda::CudaState&, const std::vector<SgdTensorRef>&, const void*, const float*) {
  no_cuda_kernel("sgd_launch_cuda");
}
size_t adam_descriptor_bytes(const std::vector<AdamTensorRef>&) {
  no_cuda_kernel("adam_descriptor_bytes");
}
void adam_write_descriptors_cuda(cuda::CudaState&, const std::vector<AdamTensorRef>&, void*) {
  no_cuda_kernel("adam_write_descriptors_cuda");
}
void adam_launch_cuda(cuda::CudaState&, const std::vector<AdamTensorRef>&, const void*,
                      const float*) {
  no_cuda_kernel("adam_launch_cuda");
}

// kernels/pad_channels.h
void pad_channels_cuda(cuda::CudaState&, float*, const float*, int64_t, int64_t, int64_t) {
  no_cuda_kernel("pad_channels_cuda");
}
void pad_channels_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, int64_t, int64_t, int64_t) {
  no_cuda_kernel("pad_channels_cuda");
}
void unpad_channels_cuda(cuda::CudaState&, float*, const float*, int64_t, int64_t, int64_t) {
  no_cuda_kernel("unpad_channels_cuda");
}
void unpad_channels_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, int64_t, int64_t,
                         int64_t) {
  no_cuda_kernel("unpad_channels_cuda");
}

// kernels/pool.h
void maxpool2d_forward_cuda(cuda::CudaState&, float*, const float*, const PoolGeometry&) {
  no_cuda_kernel("maxpool2d_forward_cuda");
}
void maxpool2d_backward_cuda(cuda::CudaState&, float*, const float*, const float*, const PoolGeometry&) {
  no_cuda_kernel("maxpool2d_backward_cuda");
}
void maxpool2d_forward_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, const PoolGeometry&) {
  no_cuda_kernel("maxpool2d_forward_cuda");
}
void maxpool2d_backward_cuda(cuda::CudaState&, uint16_t*, const uint16_t*, const uint16_t*,
                             const PoolGeometry&) {
  no_cuda_kernel("maxpool2d_backward_cuda");
}
void global_avgpool_forward_cuda(cuda::CudaState&, float*, const float*, int64_t, int64_t, int64_t) {
  no_cuda_kernel("global_avgpool_forward_cuda");
}
void global_avgpool_backward_cuda(cuda::CudaState&, float*, const float*, int64_t, int64_t, int64_t) {
  no_cuda_kernel("global_avgpool_backward_cuda");
}

// kernels/preprocess.h
void preprocess_caffe_cuda(cuda::CudaState&, float*, const uint8_t*, int64_t, int64_t, int64_t, int64_t,
                           int64_t) {
  no_cuda_kernel("preprocess_caffe_cuda");
}

// kernels/softmax_xent.h
void softmax_xent_forward_cuda(cuda::CudaState&, float*, float*, const float*, const int32_t*, int64_t,
                               int64_t) {
  no_cuda_kernel("softmax_xent_forward_cuda");
}
void softmax_xent_backward_cuda(cuda::CudaState&, float*, const float*, const int32_t*,
                                const float*, int64_t, int64_t) {
  no_cuda_kernel("softmax_xent_backward_cuda");
}

// kernels/step_metrics.h
void add_step_totals_cuda(cuda::CudaState&, StepTotals*, const float*, const float*, const int32_t*,
                          int64_t, int64_t) {
  no_cuda_kernel("add_step_totals_cuda");
}

// kernels/upsample.h
void upsample_bilinear_forward_cuda(cuda::CudaState&, float*, const float*, const UpsampleGeometry&) {
  no_cuda_kernel("upsample_bilinear_forward_cuda");
}
void upsample_bilinear_backward_cuda(cuda::CudaState&, float*, const float*, const UpsampleGeometry&) {
  no_cuda_kernel("upsample_bilinear_backward_cuda");
}

}  // namespace tl
#endif
