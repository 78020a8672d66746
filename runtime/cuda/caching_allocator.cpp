#include "runtime/cuda/caching_allocator.h"

#include <cuda_runtime.h>

#include "runtime/cuda/check.h"

namespace tl::cuda {

size_t CachingAllocator::round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20;
  if (bytes < kLarge) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

CachingAllocator::~CachingAllocator() { empty_cache(); }

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  // Exact-size reuse only: a best-fit search would let one huge block serve
  // a tiny request and strand the rest of it.
  auto it = free_blocks_.find(size);
  if (it != free_blocks_.end()) {
    void* p = it->second;
    free_blocks_.erase(it);
    cached_ -= size;
    in_use_ += size;
    peak_ = std::max(peak_, in_use_);
    return p;
  }
  void* p = nullptr;
  cudaError_t err = cudaMalloc(&p, size);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();  // clear the sticky-free error state
    for (auto& [s, block] : free_blocks_) cudaFree(block);
    free_blocks_.clear();
    cached_ = 0;
    err = cudaMalloc(&p, size);
  }
  if (err != cudaSuccess && err != cudaErrorMemoryAllocation)
    throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);  // e.g. a fault left by a kernel
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    size_t free_bytes = 0, total_bytes = 0;
    cudaMemGetInfo(&free_bytes, &total_bytes);
    fail("out of GPU memory allocating ", bytes, " bytes (", size, " rounded): ", in_use_,
         " bytes in use by tl, ", free_bytes, " free of ", total_bytes,
         " on the device. Reduce the batch size or the input resolution.");
  }
  ++device_allocations_;
  in_use_ += size;
  peak_ = std::max(peak_, in_use_);
  return p;
}

void CachingAllocator::release(void* ptr, size_t bytes) {
  const size_t size = round_size(bytes);
  std::lock_guard<std::mutex> lock(mutex_);
  free_blocks_.emplace(size, ptr);
  in_use_ -= size;
  cached_ += size;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto& [size, block] : free_blocks_) cudaFree(block);
  free_blocks_.clear();
  cached_ = 0;
}

}  // namespace tl::cuda
