// The plain reference for the fused input pipeline (kernels/preprocess.h):
// uint8 RGB -> bilinear resize with half-pixel centres -> BGR minus the
// ImageNet means, one output value at a time, in double. Read this before
// kernels/preprocess.cpp, the fast path (taps tabulated, OpenMP, float).
// docs/cpu_reference.md.
#pragma once

#include <cstdint>

namespace tl {

// Same contract as preprocess_caffe_cpu.
void preprocess_caffe_reference(float* y, const uint8_t* x, int64_t batch, int64_t in_h,
                                int64_t in_w, int64_t out_h, int64_t out_w);

}  // namespace tl
