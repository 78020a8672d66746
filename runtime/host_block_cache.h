// Large host blocks kept for reuse instead of returned to the system.
//
// A training or inference step allocates the same large activations every
// time (at 224x224 batch 8 ResNet50's are up to 25.7 MB each). glibc's
// malloc serves blocks of that size with a fresh mmap and gives them back
// with munmap on free, so every step the kernel maps, zeroes and unmaps the
// same memory again: page faults were ~7% of an inference step on the
// 2-core machine (perf, bench/RESULTS.md). This cache keeps freed blocks of
// at least kMinBytes, keyed by their rounded size, and hands the same block
// back for the same size: after the first step there are no new pages.
// What it holds is bounded (kMaxCachedBytes); beyond that, blocks go back to
// the system as before. Host Storage uses it (runtime/storage.cpp); device
// memory has its own caching allocator (runtime/cuda/).
#pragma once

#include <cstddef>

namespace tl {

class HostBlockCache {
 public:
  static constexpr size_t kMinBytes = size_t(1) << 20;  // smaller blocks: plain malloc
  // Held while unused, at most. Zero under AddressSanitizer, which can only
  // catch a use after free in memory that really is freed.
#if defined(__SANITIZE_ADDRESS__)
  static constexpr size_t kMaxCachedBytes = 0;
#else
  static constexpr size_t kMaxCachedBytes = size_t(1) << 30;
#endif
  static constexpr size_t kAlignment = 64;  // a cache line, as Storage promises

  // The process-wide cache. Never destroyed: a Storage freed during exit
  // (a static Tensor) can still give its block back; what is held at exit
  // is reachable memory, not a leak.
  static HostBlockCache& instance();

  // A 64-byte aligned block of at least `bytes`; null when the system has no memory.
  void* allocate(size_t bytes);
  // Gives back a block from allocate(bytes) (the same `bytes`).
  void release(void* block, size_t bytes);

  // Bytes held for reuse now (for tests and diagnostics).
  size_t cached_bytes() const;
  // Returns every held block to the system.
  void clear();

 private:
  HostBlockCache() = default;
  struct State;
  State& state() const;
};

}  // namespace tl
