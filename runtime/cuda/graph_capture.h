// Capturing the work queued on a CudaState's stream into a CUDA graph, and
// launching it again: the mechanism under layers/training_step_graph.h.
//
// A training step queues ~500 kernels; launching each one costs the host a
// few microseconds, which at thousands of images a second is a real share
// of the step, and the GPU idles whenever the host falls behind. Captured
// once into a graph, the whole step is one launch.
//
// What a capture needs, and what these functions arrange:
//  - relaxed capture mode: the caching allocator may still call cudaMalloc
//    for a block the step needs (never cudaFree, DeviceBlockCache);
//  - a private memory pool for everything the captured step allocates, kept
//    for the graph alone until it is destroyed (caching_allocator.h);
//  - CudaState::capturing set, so that a launcher about to do what a capture
//    forbids (grow the cuDNN workspace, measure algorithms) fails clearly
//    instead of corrupting the capture.
// Free of CUDA types so that CPU-only builds compile the code that uses it
// (runtime/cuda_stubs.cpp has the stubs, which say there is no CUDA).
#pragma once

#include <memory>

namespace tl::cuda {

struct CudaState;

// An instantiated graph and the memory pool of its capture (retired when it dies).
class CapturedGraph {
 public:
  struct Impl;
  explicit CapturedGraph(std::unique_ptr<Impl> impl);
  ~CapturedGraph();
  CapturedGraph(const CapturedGraph&) = delete;
  CapturedGraph& operator=(const CapturedGraph&) = delete;

  // Queues one replay on the stream it was captured from (and arms the
  // deferred checks when the captured work has checking kernels).
  void launch(CudaState& gpu);
  // Device memory held by the capture's pool (bytes).
  size_t pool_bytes() const;

 private:
  std::unique_ptr<Impl> impl_;
};

// Starts capturing gpu.stream. Call it once the queued work has drained
// (CudaState::synchronize, which raises what that work left: a fault or a
// failed check belongs to it, not to the capture). Gives the allocator's
// cached blocks back to the device first (the capture's pool will hold a
// step's worth of its own). Every allocation from now until the capture
// ends comes from a new private pool. Refused (a tl::Error) with
// TL_SYNC_CHECK=1, which waits for every launch.
void begin_capture(CudaState& gpu);
// Ends the capture and instantiates the graph; throws a tl::Error naming
// the CUDA error when the capture was invalidated (something waited for
// the device, say). Either way the stream is capturing no more.
std::unique_ptr<CapturedGraph> end_capture(CudaState& gpu);
// Ends a capture that failed (an exception from the captured code): drops
// what it recorded and its pool, and clears the error it may have left.
void abandon_capture(CudaState& gpu) noexcept;

}  // namespace tl::cuda
