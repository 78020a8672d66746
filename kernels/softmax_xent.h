// Softmax cross-entropy, fused: loss = mean_n [ logsumexp(z_n) - z_n[label_n] ].
// Stable for logits of any size: the max is subtracted before exp, so logits
// of +-1e4 give finite losses and gradients.
#pragma once

#include <cstdint>

namespace tl {

// logits: (N, C); labels: (N) in [0, C). Writes the softmax to probs (N, C)
// (kept for the backward) and returns the mean loss. A label outside [0, C)
// is a tl::Error naming the sample.
template <typename T>
T softmax_xent_forward_cpu(T* probs, const T* logits, const int32_t* labels, int64_t batch,
                           int64_t classes);
// dlogits = dloss * (probs - onehot(labels)) / N.
template <typename T>
void softmax_xent_backward_cpu(T* dlogits, const T* probs, const int32_t* labels, T dloss,
                               int64_t batch, int64_t classes);

// The label check of both CPU forwards (this one and the plain reference,
// kernels/reference/softmax_xent.h): a tl::Error naming the first sample
// whose label is outside [0, classes).
void check_class_labels(const int32_t* labels, int64_t batch, int64_t classes);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launchers (kernels/softmax_xent.cu; a CPU-only build has
// stubs that throw: kernels/cuda_stubs.cpp), float32, on the CudaState's stream.
// loss: (1) on the device. A label outside [0, C) makes the loss NaN and is
// a tl::Error naming the sample, raised at the host's next wait for the GPU
// (cuda::DeferredChecks): the launcher itself never waits.
void softmax_xent_forward_cuda(cuda::CudaState& gpu, float* loss, float* probs, const float* logits,
                               const int32_t* labels, int64_t batch, int64_t classes);
// dloss: (1) on the device, read there.
void softmax_xent_backward_cuda(cuda::CudaState& gpu, float* dlogits, const float* probs,
                                const int32_t* labels, const float* dloss, int64_t batch,
                                int64_t classes);
}  // namespace tl
