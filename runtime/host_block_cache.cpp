#include "runtime/host_block_cache.h"

#include <cstdlib>
#include <map>
#include <mutex>

namespace tl {

namespace {

// Sizes are rounded up to 64 KB so that blocks for the same tensor shape
// always match, and a slightly smaller request can reuse a block.
constexpr size_t kGranule = size_t(64) << 10;
size_t rounded(size_t bytes) { return (bytes + kGranule - 1) / kGranule * kGranule; }

}  // namespace

struct HostBlockCache::State {
  std::mutex mutex;
  std::multimap<size_t, void*> free_blocks;  // rounded size -> block
  size_t cached = 0;
};

HostBlockCache::State& HostBlockCache::state() const {
  static State* s = new State;  // never destroyed (instance())
  return *s;
}

HostBlockCache& HostBlockCache::instance() {
  static HostBlockCache* cache = new HostBlockCache;  // never destroyed
  return *cache;
}

void* HostBlockCache::allocate(size_t bytes) {
  // aligned_alloc wants a size that is a multiple of the alignment.
  if (bytes < kMinBytes)
    return std::aligned_alloc(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment);
  const size_t size = rounded(bytes);
  {
    State& s = state();
    const std::lock_guard<std::mutex> lock(s.mutex);
    auto found = s.free_blocks.find(size);
    if (found != s.free_blocks.end()) {
      void* block = found->second;
      s.free_blocks.erase(found);
      s.cached -= size;
      return block;
    }
  }
  return std::aligned_alloc(kAlignment, size);
}

void HostBlockCache::release(void* block, size_t bytes) {
  if (!block) return;
  if (bytes < kMinBytes) {
    std::free(block);
    return;
  }
  const size_t size = rounded(bytes);
  {
    State& s = state();
    const std::lock_guard<std::mutex> lock(s.mutex);
    if (s.cached + size <= kMaxCachedBytes) {
      s.free_blocks.emplace(size, block);
      s.cached += size;
      return;
    }
  }
  std::free(block);
}

size_t HostBlockCache::cached_bytes() const {
  State& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  return s.cached;
}

void HostBlockCache::clear() {
  State& s = state();
  const std::lock_guard<std::mutex> lock(s.mutex);
  for (auto& [size, block] : s.free_blocks) std::free(block);
  s.free_blocks.clear();
  s.cached = 0;
}

}  // namespace tl
