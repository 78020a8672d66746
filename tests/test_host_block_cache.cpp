// HostBlockCache (runtime/host_block_cache.h): a freed large block comes back
// for the next request of its size, small blocks are not held, and what is
// held stays within the bound.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "runtime/host_block_cache.h"

namespace tl::test {
namespace {

TEST(HostBlockCache, AFreedLargeBlockIsReusedForTheSameSize) {
  if (HostBlockCache::kMaxCachedBytes == 0) GTEST_SKIP() << "caching is off under AddressSanitizer";
  HostBlockCache& cache = HostBlockCache::instance();
  cache.clear();
  const size_t bytes = (size_t(3) << 20) + 100;  // a 3 MB activation, not a multiple of anything
  void* first = cache.allocate(bytes);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(first) % HostBlockCache::kAlignment, 0u);
  cache.release(first, bytes);
  EXPECT_GE(cache.cached_bytes(), bytes);
  void* again = cache.allocate(bytes);
  EXPECT_EQ(again, first);  // no new pages: the same block
  EXPECT_EQ(cache.cached_bytes(), 0u);
  cache.release(again, bytes);
  cache.clear();
  EXPECT_EQ(cache.cached_bytes(), 0u);
}

TEST(HostBlockCache, SmallBlocksAreNotHeld) {
  HostBlockCache& cache = HostBlockCache::instance();
  cache.clear();
  void* small = cache.allocate(4096);
  ASSERT_NE(small, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(small) % HostBlockCache::kAlignment, 0u);
  cache.release(small, 4096);
  EXPECT_EQ(cache.cached_bytes(), 0u);
}

TEST(HostBlockCache, HeldBytesStayWithinTheBound) {
  HostBlockCache& cache = HostBlockCache::instance();
  cache.clear();
  // 1.5x the bound in 64 MB blocks, all live, then all freed: the cache keeps
  // what fits and gives the rest back.
  const size_t block = size_t(64) << 20;
  const size_t count = HostBlockCache::kMaxCachedBytes / block * 3 / 2 + 1;
  std::vector<void*> blocks;
  for (size_t i = 0; i < count; ++i) blocks.push_back(cache.allocate(block));
  for (void* b : blocks) cache.release(b, block);
  EXPECT_LE(cache.cached_bytes(), HostBlockCache::kMaxCachedBytes);
  cache.clear();
}

TEST(HostBlockCache, TensorsUseIt) {
  if (HostBlockCache::kMaxCachedBytes == 0) GTEST_SKIP() << "caching is off under AddressSanitizer";
  HostBlockCache& cache = HostBlockCache::instance();
  cache.clear();
  const void* first = nullptr;
  {
    Tensor t = Tensor::empty({8, 56, 56, 64});  // 6.4 MB
    first = t.raw_data();
  }
  EXPECT_GT(cache.cached_bytes(), 0u);
  Tensor again = Tensor::empty({8, 56, 56, 64});
  EXPECT_EQ(again.raw_data(), first);
}

}  // namespace
}  // namespace tl::test
