#include "runtime/cuda/staged_upload.h"

#include <cstring>

#include "runtime/cuda/check.h"

namespace tl::cuda {

StagedUpload::~StagedUpload() {
  // Destructors must not throw: errors here are ignored on purpose.
  for (Slot& slot : slots_) {
    if (slot.copied) {
      cudaEventSynchronize(slot.copied);
      cudaEventDestroy(slot.copied);
    }
    if (slot.host) cudaFreeHost(slot.host);
  }
}

void StagedUpload::copy(cudaStream_t stream, void* dst, const void* src, size_t bytes) {
  if (bytes == 0) return;
  Slot& slot = slots_[static_cast<size_t>(next_)];
  next_ = (next_ + 1) % kSlots;
  if (slot.copied) {
    // The copy that last read this slot, kSlots uploads ago: normally long
    // done, so this returns at once; it only stops a host that has run
    // kSlots steps ahead of the GPU.
    TL_CUDA_CHECK(cudaEventSynchronize(slot.copied));
  } else {
    TL_CUDA_CHECK(cudaEventCreateWithFlags(&slot.copied, cudaEventDisableTiming));
  }
  if (slot.capacity < bytes) {
    if (slot.host) TL_CUDA_CHECK(cudaFreeHost(slot.host));
    slot.host = nullptr;
    slot.capacity = 0;
    TL_CUDA_CHECK(cudaHostAlloc(&slot.host, bytes, cudaHostAllocDefault));
    slot.capacity = bytes;
  }
  std::memcpy(slot.host, src, bytes);
  TL_CUDA_CHECK(cudaMemcpyAsync(dst, slot.host, bytes, cudaMemcpyHostToDevice, stream));
  TL_CUDA_CHECK(cudaEventRecord(slot.copied, stream));
}

}  // namespace tl::cuda
