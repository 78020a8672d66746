// CPU-only builds: the runtime's CUDA functions (runtime/cuda/cuda_state.cpp
// in a CUDA build). No GPU is usable, and every device copy is an error that
// says how to get CUDA.
#include "runtime/cuda/device_count.h"
#include "runtime/device_copy.h"

#include "runtime/check.h"

#ifndef TL_WITH_CUDA
namespace tl {
namespace {
[[noreturn]] void no_cuda() {
  fail("this build of tl has no CUDA backend; reconfigure with -DTL_CUDA=ON on a machine with "
       "nvcc and cuDNN, or compute on the CPU");
}
}  // namespace
void copy_host_to_device(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_host(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_device(cuda::CudaState&, void*, const void*, size_t) { no_cuda(); }
void fill_device_bytes(cuda::CudaState&, void*, unsigned char, size_t) { no_cuda(); }

namespace cuda {
int device_count() { return 0; }
std::string no_device_reason() { return "this build of tl has no CUDA backend"; }
}  // namespace cuda
}  // namespace tl
#endif
