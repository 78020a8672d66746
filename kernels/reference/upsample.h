// The plain reference for bilinear resampling with half-pixel centres, NHWC
// (kernels/upsample.h): each output element mixes its 2x2 source pixels in
// double; the backward spreads each dy back with the same four weights.
// Read this before kernels/upsample.cpp, the fast path (taps tabulated once,
// row pointers, OpenMP). docs/cpu_reference.md.
#pragma once

#include "kernels/upsample.h"  // UpsampleGeometry, bilinear_tap

namespace tl {

// Same contracts as the functions of kernels/upsample.h.
template <typename T>
void upsample_bilinear_forward_reference(T* y, const T* x, const UpsampleGeometry& g);
template <typename T>
void upsample_bilinear_backward_reference(T* dx, const T* dy, const UpsampleGeometry& g);

}  // namespace tl
