// Fast CPU path for inverted dropout (see dropout.h; the plain reference is
// kernels/reference/dropout.cpp): y = x * keep / (1 - rate)
// with keep_i = philox_uniform_at(seed, stream, i) >= rate. The mask is a pure
// function of (seed, stream, i), so it is never stored: the backward redraws
// it, and the CUDA kernel draws the same bits on the device.
#include "kernels/dropout.h"

#include "runtime/philox.h"
#include "runtime/thread_pool.h"

namespace tl {

bool dropout_keep(uint64_t seed, uint64_t stream, uint64_t i, float rate) {
  return philox_uniform_at(seed, stream, i) >= rate;
}

namespace {

// out = in * keep / (1 - rate): the forward and the backward are the same map.
template <typename T>
void apply_mask(T* out, const T* in, int64_t n, float rate, uint64_t seed, uint64_t stream) {
  // The scale is computed in float, as the CUDA kernel does, then widened.
  const T scale = static_cast<T>(1.0f / (1.0f - rate));
  // One Philox call yields 4 words, so elements go in blocks of 4 (the block
  // index is the Philox counter; see philox_uniform_at).
  const int64_t blocks = (n + 3) / 4;
  parallel_for(blocks, n >= kParallelWorkMin, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const uint64_t block = static_cast<uint64_t>(b);
      const Philox4x32 r = philox_block(seed, stream, block);
      const int64_t stop = b * 4 + 4 < n ? b * 4 + 4 : n;
      for (int64_t i = b * 4; i < stop; ++i)
        out[i] = philox_uniform(r.v[i & 3]) >= rate ? in[i] * scale : T(0);
    }
  });
}

}  // namespace

template <typename T>
void dropout_forward_cpu(T* y, const T* x, int64_t n, float rate, uint64_t seed, uint64_t stream) {
  apply_mask(y, x, n, rate, seed, stream);
}

template <typename T>
void dropout_backward_cpu(T* dx, const T* dy, int64_t n, float rate, uint64_t seed,
                          uint64_t stream) {
  apply_mask(dx, dy, n, rate, seed, stream);
}

#define TL_INSTANTIATE(T)                                                                      \
  template void dropout_forward_cpu<T>(T*, const T*, int64_t, float, uint64_t, uint64_t);     \
  template void dropout_backward_cpu<T>(T*, const T*, int64_t, float, uint64_t, uint64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
