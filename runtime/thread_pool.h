// The CPU backend's threads: one pool that tl owns, shared by every CPU
// kernel (and by oneDNN's convolutions, run one batch slice per thread:
// kernels/onednn/conv2d.cpp).
//
// Why tl has its own pool rather than OpenMP's: libgomp's threads spin
// after every parallel region unless OMP_WAIT_POLICY=passive was in the
// environment when the process started, and a library cannot set that for
// the program that links it (libgomp reads it in its load-time constructor).
// Spinning threads collapse throughput 10-26x as soon as anything else runs
// on the machine (bench/RESULTS.md). This pool is safe by default, for the
// apps and for any program that links tl:
//   * a worker with nothing to do spins for a short, bounded while (so that
//     back-to-back loops, microseconds apart, find it awake), then sleeps on a
//     futex (std::atomic::wait) until the next loop;
//   * the work of a loop is cut into chunks fixed by the loop's length and the
//     thread count alone, which threads CLAIM one at a time: a thread that is
//     late (asleep, or descheduled because the machine is busy) leaves its
//     chunks to the others instead of making them wait for it.
// Results never depend on which thread ran which chunk, so a run is bit for
// bit repeatable for a given thread count, whatever the machine's load.
//
// Threads: TL_NUM_THREADS, else OMP_NUM_THREADS (what users of CPU libraries
// set), else the CPUs this process may run on. The calling thread works too:
// N threads = the caller + N - 1 workers. A loop started inside another
// loop's chunk, or by a second thread while the pool is busy, runs serially
// in its own thread (correct, never a deadlock).
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace tl {

// Threads the CPU kernels use (>= 1).
int cpu_threads();
// Sets it (1 = everything on the calling thread). Not while a loop runs.
void set_cpu_threads(int threads);
// How long an idle worker spins before it sleeps, in microseconds
// (TL_SPIN_US, else the default measured in bench/RESULTS.md, "CPU threads").
int cpu_spin_microseconds();

// A loop over fewer elements than this (of simple per-element work) is done
// by the calling thread alone: waking a sleeping worker costs ~5-20 us,
// about what one thread needs for 64 K elements at memory speed.
constexpr int64_t kParallelWorkMin = int64_t(1) << 16;

namespace detail {
// A borrowed callable (no allocation, no copy): what the pool hands workers.
struct ChunkTask {
  void* callable;
  void (*call)(void* callable, int64_t begin, int64_t end);
};
void run_chunks(int64_t n, int64_t chunks, const ChunkTask& task);
int64_t chunks_for(int64_t n);
// What the pool starts with (read when it is first used; exposed for tests):
// the thread count and the spin, each checked, a bad value an error naming
// the variable.
int threads_from_environment();
int spin_from_environment();
}  // namespace detail

// Calls body(begin, end) over contiguous ranges covering [0, n) exactly once,
// on the pool's threads; returns when all have run. `worth_threads`: false
// runs body(0, n) on the calling thread (for loops too short to pay for
// waking a worker, ~5-20 us). The first exception thrown by a chunk is
// rethrown here once every chunk has finished.
template <typename Body>
void parallel_for(int64_t n, bool worth_threads, Body&& body) {
  if (n <= 0) return;
  const int64_t chunks = worth_threads ? detail::chunks_for(n) : 1;
  if (chunks <= 1) {
    body(int64_t{0}, n);
    return;
  }
  using B = std::remove_reference_t<Body>;
  const detail::ChunkTask task{
      const_cast<void*>(static_cast<const void*>(&body)),
      [](void* callable, int64_t begin, int64_t end) { (*static_cast<B*>(callable))(begin, end); }};
  detail::run_chunks(n, chunks, task);
}

// Calls part(p) for p in [0, parts), each on one thread, concurrently where
// the pool's threads allow (a late thread's parts are run by the others).
// For work that is already cut into pieces of its own: a GEMM's column
// blocks, a convolution's batch slices.
template <typename Part>
void parallel_parts(int64_t parts, Part&& part) {
  if (parts <= 0) return;
  if (parts == 1) {
    part(int64_t{0});
    return;
  }
  using P = std::remove_reference_t<Part>;
  const detail::ChunkTask task{
      const_cast<void*>(static_cast<const void*>(&part)),
      [](void* callable, int64_t begin, int64_t end) {
        for (int64_t p = begin; p < end; ++p) (*static_cast<P*>(callable))(p);
      }};
  detail::run_chunks(parts, parts, task);
}

// Whether the calling thread is running a chunk of a pool loop (a nested
// loop then runs serially).
bool in_parallel_region();

}  // namespace tl
