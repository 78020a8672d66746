// Small host -> device uploads that the host does not wait for.
//
// cudaMemcpyAsync from ordinary (pageable) host memory is not truly
// asynchronous: the driver stages the bytes itself and may block the host
// until the stream has caught up. tl uploads a few kilobytes per training
// step (the optimiser's per-tensor descriptors, kernels/optim.cu), so it
// copies them into pinned memory of its own first and queues the copy from
// there. Pinned buffers form a ring; a slot is written again only once the
// copy that read it has run (an event per slot), so the host can be at most
// kSlots uploads ahead of the GPU, and never overwrites bytes in flight.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstddef>

namespace tl::cuda {

class StagedUpload {
 public:
  static constexpr int kSlots = 4;

  StagedUpload() = default;
  ~StagedUpload();
  StagedUpload(const StagedUpload&) = delete;
  StagedUpload& operator=(const StagedUpload&) = delete;

  // Queues a copy of src[0, bytes) to device memory dst on `stream`; returns
  // without waiting for it (src may be freed at once).
  void copy(cudaStream_t stream, void* dst, const void* src, size_t bytes);

 private:
  struct Slot {
    void* host = nullptr;  // cudaHostAlloc'd
    size_t capacity = 0;
    cudaEvent_t copied = nullptr;  // recorded after the copy that reads `host`
  };
  std::array<Slot, kSlots> slots_{};
  int next_ = 0;
};

}  // namespace tl::cuda
