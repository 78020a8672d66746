// The CUDA caching allocator's bookkeeping (runtime/device_block_cache.h),
// checked on the CPU with a fake raw allocator: which freed block serves
// which request, and that a CUDA graph's private pool never lends its
// blocks to anything else.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "runtime/device_block_cache.h"

namespace tl {
namespace {

// A raw allocator with a byte budget, counting what is live.
struct FakeDevice {
  size_t budget = size_t(1) << 30;
  size_t live = 0;
  std::map<void*, size_t> blocks;  // live raw blocks -> size

  DeviceBlockCache cache() {
    return DeviceBlockCache(
        [this](size_t bytes) -> void* {
          if (live + bytes > budget) return nullptr;
          void* p = std::malloc(bytes);
          live += bytes;
          blocks.emplace(p, bytes);
          return p;
        },
        [this](void* p) {
          auto it = blocks.find(p);
          ASSERT_NE(it, blocks.end()) << "freed a block the fake device never gave";
          live -= it->second;
          blocks.erase(it);
          std::free(p);
        });
  }
};

TEST(DeviceBlockCache, RoundsSmallBlocksTo512AndLargeTo2MiB) {
  EXPECT_EQ(DeviceBlockCache::round_size(1), 512u);
  EXPECT_EQ(DeviceBlockCache::round_size(512), 512u);
  EXPECT_EQ(DeviceBlockCache::round_size(513), 1024u);
  EXPECT_EQ(DeviceBlockCache::round_size((size_t(2) << 20) - 1), size_t(2) << 20);
  EXPECT_EQ(DeviceBlockCache::round_size((size_t(2) << 20) + 1), size_t(4) << 20);
}

TEST(DeviceBlockCache, AReleasedBlockServesTheNextRequestOfItsSize) {
  FakeDevice device;
  DeviceBlockCache cache = device.cache();
  void* a = cache.allocate(1000);
  cache.release(a, 1000);
  EXPECT_EQ(cache.allocate(900), a) << "same rounded size (1024): the cached block";
  void* b = cache.allocate(3000);
  EXPECT_NE(b, a);
  EXPECT_EQ(cache.raw_allocations(), 2u);
  EXPECT_EQ(cache.bytes_in_use(), 1024u + 3072u);
  cache.release(a, 900);
  cache.release(b, 3000);
  EXPECT_EQ(cache.bytes_in_use(), 0u);
  EXPECT_EQ(cache.bytes_cached(), 1024u + 3072u);
}

TEST(DeviceBlockCache, OutOfMemoryGivesTheCacheBackAndRetries) {
  FakeDevice device;
  device.budget = 4096;
  DeviceBlockCache cache = device.cache();
  void* a = cache.allocate(2048);
  cache.release(a, 2048);  // cached: the device has 2048 bytes left
  void* b = cache.allocate(4000);  // 4096 rounded: only with the cached block's memory
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(cache.bytes_cached(), 0u);
  EXPECT_EQ(device.live, 4096u);
  cache.release(b, 4000);
  EXPECT_EQ(cache.allocate(5000), nullptr) << "more than the device has: null, not a throw";
}

TEST(DeviceBlockCache, APrivatePoolNeverLendsItsBlocksToEagerAllocations) {
  FakeDevice device;
  DeviceBlockCache cache = device.cache();
  void* eager = cache.allocate(1024);
  cache.release(eager, 1024);  // a general free block of 1024

  const auto pool = cache.open_private_pool();
  void* captured = cache.allocate(1024);
  EXPECT_NE(captured, eager) << "a capture must not take the general cache's blocks";
  cache.release(captured, 1024);
  void* captured_again = cache.allocate(1024);
  EXPECT_EQ(captured_again, captured) << "inside the capture the pool reuses its own blocks";
  void* kept = cache.allocate(4096);  // e.g. a gradient that outlives the capture
  cache.close_private_pool();
  EXPECT_EQ(cache.private_pool_bytes(pool), 1024u + 4096u);
  EXPECT_EQ(cache.private_bytes(), 1024u + 4096u);

  // After the capture: releases go back to the pool, eager requests never see them.
  cache.release(captured_again, 1024);
  cache.release(kept, 4096);
  EXPECT_EQ(cache.allocate(1024), eager) << "the general block, not the pool's";
  void* fresh = cache.allocate(4096);
  EXPECT_NE(fresh, kept);
  EXPECT_NE(fresh, captured);

  // The graph is gone: its blocks may serve anyone now.
  cache.retire_private_pool(pool);
  EXPECT_EQ(cache.private_pool_bytes(pool), 0u);
  EXPECT_EQ(cache.private_bytes(), 0u);
  std::set<void*> reused = {cache.allocate(1024), cache.allocate(4096)};
  EXPECT_TRUE(reused.count(captured)) << "the retired pool's 1024-byte block";
  EXPECT_TRUE(reused.count(kept)) << "the retired pool's 4096-byte block";
}

TEST(DeviceBlockCache, ABlockInUseWhenItsPoolRetiresReturnsToTheGeneralCache) {
  FakeDevice device;
  DeviceBlockCache cache = device.cache();
  const auto pool = cache.open_private_pool();
  void* grad = cache.allocate(2048);
  cache.close_private_pool();
  cache.retire_private_pool(pool);
  cache.release(grad, 2048);  // released after its graph died
  EXPECT_EQ(cache.allocate(2048), grad);
}

TEST(DeviceBlockCache, ACaptureThatRunsOutOfMemoryFailsWithoutFreeingAnything) {
  FakeDevice device;
  device.budget = 3000;
  DeviceBlockCache cache = device.cache();
  void* a = cache.allocate(2048);
  cache.release(a, 2048);
  cache.open_private_pool();
  // Freeing device memory during a capture is not allowed: no retry.
  EXPECT_EQ(cache.allocate(2048), nullptr);
  EXPECT_EQ(cache.bytes_cached(), 2048u) << "the general cache was left alone";
  cache.close_private_pool();
}

TEST(DeviceBlockCache, EmptyCacheKeepsThePrivatePoolsBlocks) {
  FakeDevice device;
  DeviceBlockCache cache = device.cache();
  const auto pool = cache.open_private_pool();
  void* p = cache.allocate(512);
  cache.release(p, 512);
  cache.close_private_pool();
  void* q = cache.allocate(512);
  cache.release(q, 512);
  cache.empty_cache();
  EXPECT_EQ(device.blocks.count(q), 0u) << "the general block went back to the device";
  EXPECT_EQ(device.blocks.count(p), 1u) << "the graph's block is still its own";
  EXPECT_EQ(cache.private_pool_bytes(pool), 512u);
}

}  // namespace
}  // namespace tl
