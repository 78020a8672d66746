// The plain reference for the fully connected layer (Keras Dense, w stored
// (in, out)): kernels/linear.h's y = x w + b and its three gradients written
// as dot products, each summed in double. Read this before kernels/linear.cpp,
// the fast path (GEMMs, BLAS when built with it). docs/cpu_reference.md.
#pragma once

#include <cstdint>

namespace tl {

// Same contract as linear_forward_cpu: y (N, out) from x (N, in), w (in, out),
// b (out) or null.
template <typename T>
void linear_forward_reference(T* y, const T* x, const T* w, const T* b, int64_t batch,
                              int64_t in, int64_t out);

// Same contract as linear_backward_cpu: dx, dw, db may each be null.
template <typename T>
void linear_backward_reference(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                               int64_t batch, int64_t in, int64_t out);

}  // namespace tl
