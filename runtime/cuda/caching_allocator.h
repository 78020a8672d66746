// A caching device allocator: freed blocks go back to per-size free lists
// and are reused, so a training loop that allocates the same shapes every
// step stops calling cudaMalloc/cudaFree (each of which synchronises the
// device) after its first step. The bookkeeping (rounding, free lists, the
// private pools of CUDA graphs) is runtime/device_block_cache.h; this class
// gives it cudaMalloc and cudaFree, a mutex, and the out-of-memory message.
//
// When cudaMalloc fails, the cache is emptied and the allocation retried
// once; if it fails again the error says what was asked for, what is in use
// and what the device has free.
//
// Reusing a block as soon as its tensor dies is safe because every tl kernel
// runs on the Context's one stream: work queued on the old tensor finishes
// before work queued on the new one starts.
#pragma once

#include <cstddef>
#include <mutex>

#include "runtime/device_block_cache.h"
#include "runtime/storage.h"

namespace tl::cuda {

class CachingAllocator final : public Allocator {
 public:
  CachingAllocator();
  ~CachingAllocator() override;
  void* allocate(size_t bytes) override;
  void release(void* ptr, size_t bytes) override;
  Device device() const override { return Device::CUDA; }

  void empty_cache();
  size_t bytes_in_use() const;
  size_t bytes_cached() const;
  size_t peak_bytes_in_use() const;
  size_t device_allocations() const;  // cudaMalloc calls

  // While a CUDA graph is captured, every allocation comes from a private
  // pool whose blocks serve nothing else while the graph lives
  // (DeviceBlockCache's private pools).
  DeviceBlockCache::PoolId open_private_pool();
  void close_private_pool();
  void retire_private_pool(DeviceBlockCache::PoolId pool);
  size_t private_pool_bytes(DeviceBlockCache::PoolId pool) const;

  static size_t round_size(size_t bytes) { return DeviceBlockCache::round_size(bytes); }

 private:
  mutable std::mutex mutex_;
  DeviceBlockCache blocks_;
};

}  // namespace tl::cuda
