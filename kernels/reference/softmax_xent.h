// The plain reference for the fused softmax cross-entropy
// (kernels/softmax_xent.h), one sample at a time, in double. Read this
// before kernels/softmax_xent.cpp, the fast path (float, OpenMP over the
// samples). docs/cpu_reference.md.
#pragma once

#include <cstdint>

namespace tl {

// Same contracts as softmax_xent_forward_cpu / softmax_xent_backward_cpu
// (a label outside [0, C) is the same tl::Error).
template <typename T>
T softmax_xent_forward_reference(T* probs, const T* logits, const int32_t* labels, int64_t batch,
                                 int64_t classes);
template <typename T>
void softmax_xent_backward_reference(T* dlogits, const T* probs, const int32_t* labels, T dloss,
                                     int64_t batch, int64_t classes);

}  // namespace tl
