// CPU-only builds: the runtime's CUDA functions (runtime/cuda/cuda_state.cpp
// in a CUDA build). No GPU is usable, and every device copy is an error that
// says how to get CUDA.
#include <utility>

#include "runtime/check.h"
#include "runtime/cuda/device_count.h"
#include "runtime/cuda/graph_capture.h"
#include "runtime/device_copy.h"

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
void queue_host_to_device(cuda::CudaState&, void*, const void*, size_t) { no_cuda(); }

namespace cuda {
struct CapturedGraph::Impl {};
CapturedGraph::CapturedGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CapturedGraph::~CapturedGraph() = default;
void CapturedGraph::launch(CudaState&) { no_cuda(); }
size_t CapturedGraph::pool_bytes() const { return 0; }
void begin_capture(CudaState&) { no_cuda(); }
std::unique_ptr<CapturedGraph> end_capture(CudaState&) { no_cuda(); }
void abandon_capture(CudaState&) noexcept {}

int device_count() { return 0; }
std::string no_device_reason() { return "this build of tl has no CUDA backend"; }
}  // namespace cuda
}  // namespace tl
#endif
