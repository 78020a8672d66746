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
