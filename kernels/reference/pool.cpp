// Plain reference for pooling over NHWC data (kernels/reference/pool.h).
//
// Max pooling, window (oy, ox) of channel c: the input pixels
//   (oy * stride - pad + ky, ox * stride - pad + kx),  ky, kx in [0, kernel),
// that lie inside the image (padding is skipped: it never wins). The winner
// is found by scanning the window in (ky, kx) order and taking a value only
// when it is greater than the best so far, or NaN (PyTorch's rule: a NaN
// anywhere in the window makes the output NaN, and the last NaN wins). So
// among equal maxima the first keeps the place, and the backward sends dy
// to exactly that pixel. Overlapping windows (stride < kernel) may send
// several dy to one pixel; those add up, in double.
//
// Global average pooling: y[n, c] = the mean over the H*W pixels of x[n, ., ., c],
// summed in double; its backward spreads dy[n, c] / (H*W) over those pixels.
#include "kernels/reference/pool.h"

#include <cstddef>
#include <vector>

namespace tl {

namespace {

// The flat index in x of the winner of window (n, oy, ox, c), or -1 if the
// window holds no real pixel (ops::maxpool2d's pad <= kernel / 2 prevents that).
template <typename T>
int64_t window_winner(const T* x, const PoolGeometry& g, int64_t n, int64_t oy, int64_t ox,
                      int64_t c) {
  int64_t best = -1;
  for (int64_t ky = 0; ky < g.kernel; ++ky)
    for (int64_t kx = 0; kx < g.kernel; ++kx) {
      const int64_t iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
      if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) continue;  // padding
      const int64_t i = ((n * g.in_h + iy) * g.in_w + ix) * g.channels + c;
      const T v = x[i];
      if (best < 0 || v > x[best] || v != v) best = i;  // greater, or NaN
    }
  return best;
}

}  // namespace

template <typename T>
void maxpool2d_forward_reference(T* y, const T* x, const PoolGeometry& g) {
  const int64_t OH = g.out_h(), OW = g.out_w(), C = g.channels;
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox)
        for (int64_t c = 0; c < C; ++c)
          y[((n * OH + oy) * OW + ox) * C + c] = x[window_winner(x, g, n, oy, ox, c)];
}

template <typename T>
void maxpool2d_backward_reference(T* dx, const T* dy, const T* x, const PoolGeometry& g) {
  const int64_t OH = g.out_h(), OW = g.out_w(), C = g.channels;
  // Step 1: every dy goes to its window's winner; a pixel that wins several
  // overlapping windows collects all of theirs.
  std::vector<double> sums(static_cast<size_t>(g.batch * g.in_h * g.in_w * C), 0.0);
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oy = 0; oy < OH; ++oy)
      for (int64_t ox = 0; ox < OW; ++ox)
        for (int64_t c = 0; c < C; ++c)
          sums[window_winner(x, g, n, oy, ox, c)] += dy[((n * OH + oy) * OW + ox) * C + c];
  // Step 2: round once (pixels that never win get 0).
  for (size_t i = 0; i < sums.size(); ++i) dx[i] = static_cast<T>(sums[i]);
}

template <typename T>
void global_avgpool_forward_reference(T* y, const T* x, int64_t batch, int64_t spatial,
                                      int64_t channels) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t c = 0; c < channels; ++c) {
      double sum = 0;
      for (int64_t i = 0; i < spatial; ++i) sum += x[(n * spatial + i) * channels + c];
      y[n * channels + c] = static_cast<T>(sum / static_cast<double>(spatial));
    }
}

template <typename T>
void global_avgpool_backward_reference(T* dx, const T* dy, int64_t batch, int64_t spatial,
                                       int64_t channels) {
  const double count = static_cast<double>(spatial);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t i = 0; i < spatial; ++i)
      for (int64_t c = 0; c < channels; ++c)
        dx[(n * spatial + i) * channels + c] =
            static_cast<T>(static_cast<double>(dy[n * channels + c]) / count);
}

#define TL_INSTANTIATE(T)                                                                      \
  template void maxpool2d_forward_reference<T>(T*, const T*, const PoolGeometry&);             \
  template void maxpool2d_backward_reference<T>(T*, const T*, const T*, const PoolGeometry&);  \
  template void global_avgpool_forward_reference<T>(T*, const T*, int64_t, int64_t, int64_t);  \
  template void global_avgpool_backward_reference<T>(T*, const T*, int64_t, int64_t, int64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
