// A caching device allocator: freed blocks go back to per-size free lists
// and are reused, so a training loop that allocates the same shapes every
// step stops calling cudaMalloc/cudaFree (each of which synchronises the
// device) after its first step.
//
// Sizes are rounded up (to 512 bytes for small blocks, 2 MiB for large ones)
// so that similar requests share blocks. When cudaMalloc fails, the cache is
// emptied and the allocation retried once; if it fails again the error says
// what was asked for, what is cached and what the device has free.
//
// Reusing a block as soon as its tensor dies is safe because every tl kernel
// runs on the Context's one stream: work queued on the old tensor finishes
// before work queued on the new one starts.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include "runtime/storage.h"

namespace tl::cuda {

class CachingAllocator final : public Allocator {
 public:
  CachingAllocator() = default;
  ~CachingAllocator() override;
  void* allocate(size_t bytes) override;
  void release(void* ptr, size_t bytes) override;
  Device device() const override { return Device::CUDA; }

  void empty_cache();
  size_t bytes_in_use() const { return in_use_; }
  size_t bytes_cached() const { return cached_; }
  size_t peak_bytes_in_use() const { return peak_; }
  size_t device_allocations() const { return device_allocations_; }  // cudaMalloc calls

  static size_t round_size(size_t bytes);

 private:
  std::mutex mutex_;
  std::multimap<size_t, void*> free_blocks_;  // rounded size -> block
  size_t in_use_ = 0, cached_ = 0, peak_ = 0, device_allocations_ = 0;
};

}  // namespace tl::cuda
