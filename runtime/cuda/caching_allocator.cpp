#include "runtime/cuda/caching_allocator.h"

#include <cuda_runtime.h>

#include <string>

#include "runtime/check.h"
#include "runtime/cuda/check.h"

namespace tl::cuda {

namespace {

// cudaMalloc, with "out of memory" as null; any other failure (a fault left
// by an earlier kernel, say) is raised as it is.
void* device_malloc(size_t bytes) {
  void* p = nullptr;
  const cudaError_t err = cudaMalloc(&p, bytes);
  if (err == cudaSuccess) return p;
  (void)cudaGetLastError();  // clear the error state before anything else runs
  if (err != cudaErrorMemoryAllocation) throw_cuda_error(err, "cudaMalloc", __FILE__, __LINE__);
  return nullptr;
}

}  // namespace

CachingAllocator::CachingAllocator()
    : blocks_(device_malloc, [](void* block) { cudaFree(block); }) {}

CachingAllocator::~CachingAllocator() = default;  // the block cache frees what it holds

void* CachingAllocator::allocate(size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (void* p = blocks_.allocate(bytes)) return p;
  size_t free_bytes = 0, total_bytes = 0;
  cudaMemGetInfo(&free_bytes, &total_bytes);
  (void)cudaGetLastError();
  const size_t graphs = blocks_.private_bytes();
  fail("out of GPU memory allocating ", bytes, " bytes (", round_size(bytes),
       " rounded): ", blocks_.bytes_in_use(), " bytes in use by tl, ", free_bytes, " free of ",
       total_bytes, " on the device",
       blocks_.private_pool_open() ? " (while capturing a CUDA graph of the step)" : "",
       graphs ? detail::concat("; ", graphs, " bytes are held by CUDA graphs of the training "
                               "step, which a run without graphs does not need")
              : std::string(),
       ". Reduce the batch size or the input resolution.");
}

void CachingAllocator::release(void* ptr, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  blocks_.release(ptr, bytes);
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  blocks_.empty_cache();
}

size_t CachingAllocator::bytes_in_use() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return blocks_.bytes_in_use();
}
size_t CachingAllocator::bytes_cached() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return blocks_.bytes_cached();
}
size_t CachingAllocator::peak_bytes_in_use() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return blocks_.peak_bytes_in_use();
}
size_t CachingAllocator::device_allocations() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return blocks_.raw_allocations();
}

DeviceBlockCache::PoolId CachingAllocator::open_private_pool() {
  std::lock_guard<std::mutex> lock(mutex_);
  return blocks_.open_private_pool();
}
void CachingAllocator::close_private_pool() {
  std::lock_guard<std::mutex> lock(mutex_);
  blocks_.close_private_pool();
}
void CachingAllocator::retire_private_pool(DeviceBlockCache::PoolId pool) {
  std::lock_guard<std::mutex> lock(mutex_);
  blocks_.retire_private_pool(pool);
}
size_t CachingAllocator::private_pool_bytes(DeviceBlockCache::PoolId pool) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return blocks_.private_pool_bytes(pool);
}

}  // namespace tl::cuda
