// The plain reference for batch normalisation (optionally fused with the
// ReLU after it) over the channels of a (rows, C) matrix: kernels/batchnorm.h's
// definitions written channel by channel, with every statistic and every
// gradient sum in double. Read this before kernels/batchnorm.cpp, the fast
// path (row x channel tiles, vectorised channel loops, OpenMP), which
// computes the same numbers. docs/cpu_reference.md.
#pragma once

#include "kernels/batchnorm.h"  // BatchNormGeometry

namespace tl {

// Same contracts as the batchnorm_*_cpu functions of kernels/batchnorm.h.
template <typename T>
void batchnorm_forward_train_reference(T* y, T* save_mean, T* save_invstd, T* running_mean,
                                       T* running_var, const T* x, const T* gamma, const T* beta,
                                       const BatchNormGeometry& g, T eps, T momentum, bool relu);

template <typename T>
void batchnorm_forward_infer_reference(T* y, const T* x, const T* gamma, const T* beta,
                                       const T* running_mean, const T* running_var,
                                       const BatchNormGeometry& g, T eps, bool relu);

template <typename T>
void batchnorm_backward_train_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                        const T* gamma, const T* beta, const T* mean,
                                        const T* invstd, const BatchNormGeometry& g, bool relu);

template <typename T>
void batchnorm_backward_infer_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                        const T* gamma, const T* beta, const T* running_mean,
                                        const T* running_var, const BatchNormGeometry& g, T eps,
                                        bool relu);

}  // namespace tl
