// Plain reference for inverted dropout (kernels/reference/dropout.h):
//
//   out[i] = keep_i ? in[i] / (1 - rate) : 0,   keep_i = dropout_keep(seed, stream, i, rate)
//
// The forward (in = x) and the backward (in = dy) are the same map: the mask
// is a function of (seed, stream, i), drawn again rather than stored. The
// scale 1 / (1 - rate) is computed in float, as the fast path and the CUDA
// kernel compute it, so that all three give the same bits.
#include "kernels/reference/dropout.h"

#include "kernels/dropout.h"  // dropout_keep

namespace tl {

namespace {

template <typename T>
void apply_mask_reference(T* out, const T* in, int64_t n, float rate, uint64_t seed,
                          uint64_t stream) {
  const T scale = static_cast<T>(1.0f / (1.0f - rate));
  for (int64_t i = 0; i < n; ++i)
    out[i] = dropout_keep(seed, stream, static_cast<uint64_t>(i), rate) ? in[i] * scale : T(0);
}

}  // namespace

template <typename T>
void dropout_forward_reference(T* y, const T* x, int64_t n, float rate, uint64_t seed,
                               uint64_t stream) {
  apply_mask_reference(y, x, n, rate, seed, stream);
}

template <typename T>
void dropout_backward_reference(T* dx, const T* dy, int64_t n, float rate, uint64_t seed,
                                uint64_t stream) {
  apply_mask_reference(dx, dy, n, rate, seed, stream);
}

#define TL_INSTANTIATE(T)                                                                    \
  template void dropout_forward_reference<T>(T*, const T*, int64_t, float, uint64_t,        \
                                             uint64_t);                                      \
  template void dropout_backward_reference<T>(T*, const T*, int64_t, float, uint64_t,       \
                                              uint64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
