// CPU-only builds: every device copy is an error that says how to get CUDA.
#include "engine/device_copy.h"

#include "engine/check.h"

#ifndef TL_WITH_CUDA
namespace tl {
namespace {
[[noreturn]] void no_cuda() {
  fail("this build of tl has no CUDA backend; reconfigure with -DTL_CUDA=ON on a machine with "
       "nvcc and cuDNN, or run with --device cpu");
}
}  // namespace
void copy_host_to_device(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_host(void*, const void*, size_t) { no_cuda(); }
void copy_device_to_device(void*, const void*, size_t) { no_cuda(); }
}  // namespace tl
#endif
