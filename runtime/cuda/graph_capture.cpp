#include "runtime/cuda/graph_capture.h"

#include <cuda_runtime.h>

#include "runtime/check.h"
#include "runtime/cuda/caching_allocator.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"

namespace tl::cuda {

struct CapturedGraph::Impl {
  cudaGraphExec_t exec = nullptr;
  // Held so that the pool can be retired even after the CudaState's other
  // owners let the allocator go.
  std::shared_ptr<CachingAllocator> allocator;
  DeviceBlockCache::PoolId pool = -1;
  bool arms_deferred_checks = false;  // the captured work has checking kernels

  ~Impl() {
    // An in-flight launch finishes first (the driver frees the graph after
    // it); the pool's blocks then serve work queued behind it on the stream.
    if (exec) cudaGraphExecDestroy(exec);
    if (allocator) allocator->retire_private_pool(pool);
  }
};

CapturedGraph::CapturedGraph(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CapturedGraph::~CapturedGraph() = default;

void CapturedGraph::launch(CudaState& gpu) {
  if (impl_->arms_deferred_checks) gpu.deferred_checks_on_device();
  TL_CUDA_CHECK(cudaGraphLaunch(impl_->exec, gpu.stream));
}

size_t CapturedGraph::pool_bytes() const { return impl_->allocator->private_pool_bytes(impl_->pool); }

void begin_capture(CudaState& gpu) {
  TL_CHECK(!gpu.capturing, "begin_capture: a capture is in progress already");
  if (gpu.sync_check)
    fail("TL_SYNC_CHECK=1 waits for the device after every launch, which a CUDA graph capture "
         "cannot");
  TL_CUDA_CHECK(cudaStreamSynchronize(gpu.stream));  // the caller has raised what it left
  gpu.caching_allocator->empty_cache();
  gpu.capture_pool = gpu.caching_allocator->open_private_pool();
  const cudaError_t err = cudaStreamBeginCapture(gpu.stream, cudaStreamCaptureModeRelaxed);
  if (err != cudaSuccess) {
    gpu.caching_allocator->close_private_pool();
    gpu.caching_allocator->retire_private_pool(gpu.capture_pool);
    throw_cuda_error(err, "cudaStreamBeginCapture", __FILE__, __LINE__);
  }
  gpu.capturing = true;
}

std::unique_ptr<CapturedGraph> end_capture(CudaState& gpu) {
  TL_CHECK(gpu.capturing, "end_capture: no capture in progress");
  gpu.capturing = false;
  gpu.caching_allocator->close_private_pool();
  auto impl = std::make_unique<CapturedGraph::Impl>();
  impl->allocator = gpu.caching_allocator;
  impl->pool = gpu.capture_pool;  // retired by ~Impl, on success or failure
  // The caller read the checks before begin_capture: armed now means armed
  // by a checking kernel in the capture (otherwise a replay arms them for
  // nothing: one spare small read at the next wait).
  impl->arms_deferred_checks = gpu.deferred_checks_armed();
  cudaGraph_t graph = nullptr;
  cudaError_t err = cudaStreamEndCapture(gpu.stream, &graph);
  if (err == cudaSuccess) err = cudaGraphInstantiate(&impl->exec, graph, 0);
  if (graph) cudaGraphDestroy(graph);  // the executable graph keeps what it needs
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    fail("capturing the training step into a CUDA graph failed: ", cudaGetErrorString(err));
  }
  return std::make_unique<CapturedGraph>(std::move(impl));
}

void abandon_capture(CudaState& gpu) noexcept {
  if (!gpu.capturing) return;
  gpu.capturing = false;
  cudaGraph_t graph = nullptr;
  cudaStreamEndCapture(gpu.stream, &graph);  // ends it even when it was invalidated
  if (graph) cudaGraphDestroy(graph);
  (void)cudaGetLastError();
  gpu.caching_allocator->close_private_pool();
  // Blocks of the pool still held (tensors made during the capture) go to
  // the general cache when released: nothing replays them.
  gpu.caching_allocator->retire_private_pool(gpu.capture_pool);
}

}  // namespace tl::cuda
