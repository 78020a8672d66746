// The plain reference for inverted dropout (kernels/dropout.h): each element
// kept or dropped by dropout_keep, its own Philox draw. Read this before
// kernels/dropout.cpp, the fast path (one Philox call per 4 elements,
// OpenMP), which must draw the very same mask. docs/cpu_reference.md.
#pragma once

#include <cstdint>

namespace tl {

// Same contracts as dropout_forward_cpu / dropout_backward_cpu.
template <typename T>
void dropout_forward_reference(T* y, const T* x, int64_t n, float rate, uint64_t seed,
                               uint64_t stream);
template <typename T>
void dropout_backward_reference(T* dx, const T* dy, int64_t n, float rate, uint64_t seed,
                                uint64_t stream);

}  // namespace tl
