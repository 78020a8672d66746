// The bookkeeping of the CUDA caching allocator (runtime/cuda/caching_allocator.h),
// kept free of CUDA so that the CPU tests can check it: which freed block
// serves which request, and which blocks belong to a CUDA graph.
//
// Blocks are rounded up (to 512 bytes below 2 MiB, to 2 MiB above) and kept
// on exact-size free lists when released; a request takes a free block of its
// rounded size, or a new one from the raw allocator.
//
// Private pools, for CUDA graph capture (layers/training_step_graph.h). A
// graph replays its kernels at the addresses they had when it was captured,
// so the blocks the captured step used must never serve anything else while
// the graph lives: a tensor that eager code allocated in such a block would
// be overwritten at the next replay. While a private pool is open, every
// allocation comes from that pool (its own free lists, or new raw blocks it
// owns), and a pool block goes back to its pool when released, even after
// the pool is closed. Inside the capture a pool block can be reused by a
// later allocation of the same capture: the graph runs the captured work in
// the captured order, as the stream would have. Retiring a pool (the graph
// is gone) hands its free blocks to the general cache, and its blocks still
// in use join the general cache when they are released.
//
// While a pool is open nothing is given back to the raw allocator (freeing
// device memory waits for the device, which a capture does not allow): a
// request that the raw allocator cannot serve then fails at once.
//
// Not thread-safe: the CUDA allocator serialises calls with its mutex.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <unordered_map>

namespace tl {

class DeviceBlockCache {
 public:
  // Raw memory: allocate returns null when the device has none left.
  using RawAllocate = std::function<void*(size_t bytes)>;
  using RawFree = std::function<void(void* block)>;

  DeviceBlockCache(RawAllocate raw_allocate, RawFree raw_free);
  // Frees the cached (free) blocks; blocks still in use are the owners' to release first.
  ~DeviceBlockCache();
  DeviceBlockCache(const DeviceBlockCache&) = delete;
  DeviceBlockCache& operator=(const DeviceBlockCache&) = delete;

  static size_t round_size(size_t bytes);

  // A block of round_size(bytes) bytes, or null when the raw allocator has
  // no memory even after the general cache was given back to it (not tried
  // while a pool is open).
  void* allocate(size_t bytes);
  // Takes back a block from allocate(bytes), with the same `bytes`.
  void release(void* block, size_t bytes);
  // Gives the general cache's free blocks back to the raw allocator (the
  // private pools keep theirs: their graphs still use them).
  void empty_cache();

  // ---- private pools (CUDA graph capture) ----
  using PoolId = int;
  // Opens a new pool: allocations come from it until close_private_pool().
  PoolId open_private_pool();
  void close_private_pool();
  bool private_pool_open() const { return open_pool_ >= 0; }
  // The graph that used `pool` is gone: its free blocks become general ones.
  void retire_private_pool(PoolId pool);

  // ---- statistics (rounded bytes) ----
  size_t bytes_in_use() const { return in_use_; }
  size_t bytes_cached() const { return cached_; }  // free blocks, general and private
  size_t peak_bytes_in_use() const { return peak_; }
  size_t raw_allocations() const { return raw_allocations_; }
  size_t private_pool_bytes(PoolId pool) const;  // its blocks, in use or free
  size_t private_bytes() const;                  // all live pools' blocks

 private:
  using FreeLists = std::multimap<size_t, void*>;  // rounded size -> block
  struct Pool {
    FreeLists free;
    size_t bytes = 0;
  };
  // A free block of `size` from `lists`, or null.
  void* take_free(FreeLists& lists, size_t size);
  void* raw(size_t size);
  void free_all(FreeLists& lists);

  RawAllocate raw_allocate_;
  RawFree raw_free_;
  FreeLists general_;
  std::map<PoolId, Pool> pools_;
  std::unordered_map<void*, PoolId> owner_;  // blocks of live pools (in use or free)
  PoolId open_pool_ = -1;
  PoolId next_pool_ = 0;
  size_t in_use_ = 0, cached_ = 0, peak_ = 0, raw_allocations_ = 0;
};

}  // namespace tl
