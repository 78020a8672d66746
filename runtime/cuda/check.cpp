#include "runtime/cuda/check.h"

#include <sstream>

namespace tl::cuda {

const char* cublas_status_name(cublasStatus_t st) {
  switch (st) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "unknown cuBLAS status";
}

void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  std::ostringstream os;
  os << "CUDA error " << cudaGetErrorName(err) << " (" << cudaGetErrorString(err) << ") in "
     << expr << " at " << file << ":" << line;
  if (err == cudaErrorNoKernelImageForDevice)
    os << ". This binary has no kernels for this GPU's architecture: rebuild with "
          "-DTL_CUDA_ARCHS=<your GPU's compute capability, e.g. 90>";
  throw Error(os.str());
}

void throw_cublas_error(cublasStatus_t st, const char* expr, const char* file, int line) {
  std::ostringstream os;
  os << "cuBLAS error " << cublas_status_name(st) << " in " << expr << " at " << file << ":" << line;
  throw Error(os.str());
}

void throw_cudnn_error(cudnnStatus_t st, const char* expr, const char* file, int line) {
  std::ostringstream os;
  os << "cuDNN error " << cudnnGetErrorString(st) << " in " << expr << " at " << file << ":" << line;
  throw Error(os.str());
}

}  // namespace tl::cuda
