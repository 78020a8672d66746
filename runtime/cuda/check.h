// Always-on checks for CUDA runtime, cuBLAS and cuDNN calls. Each failure
// throws tl::Error with the expression, file:line and the library's own
// message. TL_LAUNCH_CHECK(gpu) after a kernel launch catches launch errors;
// with TL_SYNC_CHECK=1 in the environment it also synchronises, so an
// asynchronous fault is reported at the launch that caused it.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include "runtime/check.h"

namespace tl::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t st, const char* expr, const char* file, int line);
[[noreturn]] void throw_cudnn_error(cudnnStatus_t st, const char* expr, const char* file, int line);
const char* cublas_status_name(cublasStatus_t st);

}  // namespace tl::cuda

#define TL_CUDA_CHECK(expr)                                                               \
  do {                                                                                    \
    const cudaError_t tl_err_ = (expr);                                                   \
    if (tl_err_ != cudaSuccess) ::tl::cuda::throw_cuda_error(tl_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define TL_CUBLAS_CHECK(expr)                                                             \
  do {                                                                                    \
    const cublasStatus_t tl_st_ = (expr);                                                 \
    if (tl_st_ != CUBLAS_STATUS_SUCCESS)                                                  \
      ::tl::cuda::throw_cublas_error(tl_st_, #expr, __FILE__, __LINE__);                  \
  } while (0)

#define TL_CUDNN_CHECK(expr)                                                              \
  do {                                                                                    \
    const cudnnStatus_t tl_st_ = (expr);                                                  \
    if (tl_st_ != CUDNN_STATUS_SUCCESS)                                                   \
      ::tl::cuda::throw_cudnn_error(tl_st_, #expr, __FILE__, __LINE__);                   \
  } while (0)

// After a <<<...>>> launch: the launch's own error, and with TL_SYNC_CHECK=1
// any fault during its execution.
#define TL_LAUNCH_CHECK(gpu)                                                    \
  do {                                                                          \
    TL_CUDA_CHECK(cudaGetLastError());                                          \
    if ((gpu).sync_check) TL_CUDA_CHECK(cudaStreamSynchronize((gpu).stream));   \
  } while (0)
