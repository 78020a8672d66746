// Launch-shape helpers shared by the .cu files.
#pragma once

#include <cstdint>

namespace tl::cuda {

// 256 threads: a multiple of the warp size that leaves room for 8 resident
// blocks per SM on Hopper; elementwise kernels are memory-bound, so the exact
// number matters little as long as the grid covers the SMs many times over.
constexpr int kElementwiseThreads = 256;

inline unsigned blocks_for(int64_t n, int threads = kElementwiseThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  // Grid-stride loops handle the rest; 65535*... is far more than needed.
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > (1 << 30) ? (1 << 30) : blocks));
}

}  // namespace tl::cuda
