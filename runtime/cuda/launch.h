// Launch-shape helpers shared by every handwritten kernel (kernels/*.cu).
// Host-only arithmetic: no CUDA header is needed to include this.
#pragma once

#include <cstdint>

namespace tl::cuda {

// Threads per block for every tl kernel: a multiple of the warp size (8 warps)
// that leaves room for 8 resident blocks per SM on Hopper. The kernels are
// memory-bound, so the exact number matters little as long as the grid covers
// the SMs many times over; one constant keeps __launch_bounds__ and the launch
// sites in agreement.
constexpr int kBlockThreads = 256;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Blocks of `threads` that cover n elements, at least 1, capped at 2^30
// (the kernels use grid-stride loops, so a capped grid still covers n).
inline unsigned blocks_for(int64_t n, int threads = kBlockThreads) {
  const int64_t blocks = ceil_div(n, threads);
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > (1 << 30) ? (1 << 30) : blocks));
}

// Smallest power of two >= v (v >= 1), capped at `cap` (a power of two).
inline int pow2_at_least(int64_t v, int cap) {
  int p = 1;
  while (p < v && p < cap) p *= 2;
  return p;
}

// True when p may be read or written as a float4 (16-byte aligned).
inline bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace tl::cuda
