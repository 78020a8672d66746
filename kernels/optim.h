// Optimiser updates, one parameter tensor of n elements per call, with
// PyTorch's exact update rules (so torch.optim is the outside judge):
//  SGD:   g += wd * p;  v = momentum * v + g;  g = nesterov ? g + momentum * v : v;
//         p -= lr * g
//  Adam:  g += wd * p (L2, Adam) or p *= 1 - lr * wd (decoupled, AdamW);
//         m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//         p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
#pragma once

#include <cstddef>
#include <cstdint>

namespace tl {

// The coefficients of one update. (The optimiser a user configures, with its
// parameter groups and hyper-parameters, is engine/optimizer.h; it hands the
// kernels these plain numbers.)
struct SgdUpdate {
  float lr = 0.01f, momentum = 0.9f, weight_decay = 0.0f;
  bool nesterov = false;
};
struct AdamUpdate {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-7f, weight_decay = 0.0f;
  bool decoupled = false;  // AdamW
};

// velocity: (n), zero before the first step.
void sgd_update_cpu(float* param, float* velocity, const float* grad, int64_t n, const SgdUpdate& h);
// m, v: (n), zero before the first step; step counts from 1.
void adam_update_cpu(float* param, float* m, float* v, const float* grad, int64_t n,
                     const AdamUpdate& h, int64_t step);

}  // namespace tl

#include <vector>

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// One parameter tensor of a multi-tensor update (device pointers).
struct SgdTensorRef {
  float* param;
  float* velocity;  // (n); may be null when update.momentum == 0
  const float* grad;
  int64_t n;
  SgdUpdate update;
};
struct AdamTensorRef {
  float* param;
  float* m;
  float* v;
  const float* grad;
  int64_t n;
  AdamUpdate update;
  int64_t step;  // this parameter's update count, from 1
};
// CUDA launchers (kernels/optim.cu; a CPU-only build has
// stubs that throw: kernels/cuda_stubs.cpp): every listed tensor updated in ONE
// launch on the CudaState's stream, bit-identical to the CPU functions above.
// A parameter listed twice is a tl::Error (the updates run concurrently).
// skip_if_not_finite: null, or a device float (the step's loss) read by the
// kernel; when it is NaN or infinite nothing is updated.
void sgd_update_cuda(cuda::CudaState& gpu, const std::vector<SgdTensorRef>& tensors,
                     const float* skip_if_not_finite = nullptr);
void adam_update_cuda(cuda::CudaState& gpu, const std::vector<AdamTensorRef>& tensors,
                      const float* skip_if_not_finite = nullptr);

// The same updates split in two, for a step captured into a CUDA graph
// (engine/step_capture.h): the launch, captured once, reads the per-tensor
// descriptors from `descriptors`, device memory of *_descriptor_bytes(tensors)
// bytes at a fixed address; before each replay, *_write_descriptors computes
// them for that step (learning rate, bias corrections) and queues their
// upload there. Both take the same list of tensors (the same pointers and
// sizes; only the learning rates and step counts may differ). Write, then
// launch: the same update, bit for bit, as *_update_cuda.
size_t sgd_descriptor_bytes(const std::vector<SgdTensorRef>& tensors);
void sgd_write_descriptors_cuda(cuda::CudaState& gpu, const std::vector<SgdTensorRef>& tensors,
                                void* descriptors);
void sgd_launch_cuda(cuda::CudaState& gpu, const std::vector<SgdTensorRef>& tensors,
                     const void* descriptors, const float* skip_if_not_finite);
size_t adam_descriptor_bytes(const std::vector<AdamTensorRef>& tensors);
void adam_write_descriptors_cuda(cuda::CudaState& gpu, const std::vector<AdamTensorRef>& tensors,
                                 void* descriptors);
void adam_launch_cuda(cuda::CudaState& gpu, const std::vector<AdamTensorRef>& tensors,
                      const void* descriptors, const float* skip_if_not_finite);
}  // namespace tl
