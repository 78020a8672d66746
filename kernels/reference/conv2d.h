// The plain reference for 2-D convolution: the definition of kernels/conv2d.h
// written as loops, one multiply-add at a time, every sum in double.
//
// Read this before kernels/conv2d.cpp, the fast path (im2col + BLAS GEMM,
// chunked, a pointwise shortcut), which computes the same numbers much faster.
// The ops run this one instead when asked (Context::set_cpu_kernels), the
// gradient checks judge it, and tests/test_cpu_fast_vs_reference.cpp holds
// the fast path against it (docs/cpu_reference.md).
#pragma once

#include "kernels/conv2d.h"  // Conv2dGeometry

namespace tl {

// Same contract as conv2d_forward_cpu: y (N, OH, OW, O) from x (N, H, W, C),
// w (O, KH, KW, C) and bias (O) or null.
template <typename T>
void conv2d_forward_reference(T* y, const T* x, const T* w, const T* bias, const Conv2dGeometry& g);

// Same contract as conv2d_backward_cpu: dx, dw, dbias may each be null (not
// computed); the others are overwritten.
template <typename T>
void conv2d_backward_reference(T* dx, T* dw, T* dbias, const T* dy, const T* x, const T* w,
                               const Conv2dGeometry& g);

}  // namespace tl
