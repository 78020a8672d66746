// The plain reference for pooling, NHWC (kernels/pool.h): max pooling with
// padding that never wins and the gradient to the first maximum of each
// window, and global average pooling, written one output element at a time.
// Read this before kernels/pool.cpp, the fast path (channel-contiguous inner
// loops, channel blocks, OpenMP). docs/cpu_reference.md.
#pragma once

#include "kernels/pool.h"  // PoolGeometry

namespace tl {

// Same contracts as the functions of kernels/pool.h.
template <typename T>
void maxpool2d_forward_reference(T* y, const T* x, const PoolGeometry& g);
template <typename T>
void maxpool2d_backward_reference(T* dx, const T* dy, const T* x, const PoolGeometry& g);

template <typename T>
void global_avgpool_forward_reference(T* y, const T* x, int64_t batch, int64_t spatial,
                                      int64_t channels);
template <typename T>
void global_avgpool_backward_reference(T* dx, const T* dy, int64_t batch, int64_t spatial,
                                       int64_t channels);

}  // namespace tl
