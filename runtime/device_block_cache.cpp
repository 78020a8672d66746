#include "runtime/device_block_cache.h"

#include <algorithm>
#include <utility>

#include "runtime/check.h"

namespace tl {

DeviceBlockCache::DeviceBlockCache(RawAllocate raw_allocate, RawFree raw_free)
    : raw_allocate_(std::move(raw_allocate)), raw_free_(std::move(raw_free)) {}

DeviceBlockCache::~DeviceBlockCache() {
  free_all(general_);
  for (auto& [id, pool] : pools_) free_all(pool.free);
}

size_t DeviceBlockCache::round_size(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20;
  if (bytes < kLarge) return (bytes + kSmall - 1) / kSmall * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

void* DeviceBlockCache::take_free(FreeLists& lists, size_t size) {
  // Exact size only: a best-fit search would let one huge block serve a
  // tiny request and strand the rest of it.
  auto it = lists.find(size);
  if (it == lists.end()) return nullptr;
  void* block = it->second;
  lists.erase(it);
  cached_ -= size;
  return block;
}

void* DeviceBlockCache::raw(size_t size) {
  void* block = raw_allocate_(size);
  if (block) ++raw_allocations_;
  return block;
}

void DeviceBlockCache::free_all(FreeLists& lists) {
  for (auto& [size, block] : lists) {
    raw_free_(block);
    cached_ -= size;
  }
  lists.clear();
}

void* DeviceBlockCache::allocate(size_t bytes) {
  const size_t size = round_size(bytes);
  void* block = nullptr;
  if (private_pool_open()) {
    Pool& pool = pools_.at(open_pool_);
    block = take_free(pool.free, size);
    if (!block) {
      block = raw(size);  // no retry: nothing may be freed during a capture
      if (!block) return nullptr;
      owner_.emplace(block, open_pool_);
      pool.bytes += size;
    }
  } else {
    block = take_free(general_, size);
    if (!block) block = raw(size);
    if (!block && !general_.empty()) {
      free_all(general_);  // the cache held the memory: give it back and retry
      block = raw(size);
    }
    if (!block) return nullptr;
  }
  in_use_ += size;
  peak_ = std::max(peak_, in_use_);
  return block;
}

void DeviceBlockCache::release(void* block, size_t bytes) {
  if (!block) return;
  const size_t size = round_size(bytes);
  auto owner = owner_.find(block);
  FreeLists& lists = owner == owner_.end() ? general_ : pools_.at(owner->second).free;
  lists.emplace(size, block);
  in_use_ -= size;
  cached_ += size;
}

void DeviceBlockCache::empty_cache() { free_all(general_); }

DeviceBlockCache::PoolId DeviceBlockCache::open_private_pool() {
  TL_CHECK(!private_pool_open(), "DeviceBlockCache: a private pool is open already");
  open_pool_ = next_pool_++;
  pools_.emplace(open_pool_, Pool{});
  return open_pool_;
}

void DeviceBlockCache::close_private_pool() { open_pool_ = -1; }

void DeviceBlockCache::retire_private_pool(PoolId id) {
  auto it = pools_.find(id);
  if (it == pools_.end()) return;
  if (open_pool_ == id) open_pool_ = -1;
  // Ownership ends for every block of the pool: a free one moves to the
  // general lists now, one in use goes there when it is released.
  for (auto owner = owner_.begin(); owner != owner_.end();)
    owner = owner->second == id ? owner_.erase(owner) : std::next(owner);
  general_.merge(it->second.free);
  pools_.erase(it);
}

size_t DeviceBlockCache::private_pool_bytes(PoolId id) const {
  auto it = pools_.find(id);
  return it == pools_.end() ? 0 : it->second.bytes;
}

size_t DeviceBlockCache::private_bytes() const {
  size_t bytes = 0;
  for (const auto& [id, pool] : pools_) bytes += pool.bytes;
  return bytes;
}

}  // namespace tl
