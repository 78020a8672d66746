// Plain reference for 2-D convolution, NHWC x OHWI (kernels/reference/conv2d.h).
//
// The forward is the definition, term by term:
//
//   y[n, oy, ox, o] = bias[o] + sum over (ky, kx, c) of x[n, iy, ix, c] * w[o, ky, kx, c]
//   with iy = oy * stride - pad + ky  and  ix = ox * stride - pad + kx.
//
// A term whose (iy, ix) lies in the zero padding is zero, so it is skipped.
//
// The backward walks the very same loop nest. Each term x * w of the forward
// added its value to one y, so each term sends that y's gradient back to its
// two factors: dx[n, iy, ix, c] += dy * w and dw[o, ky, kx, c] += dy * x; and
// the bias, added once to each y, collects dy once from each.
//
// Every sum is accumulated in double and rounded to T once, at the end: the
// reference is then more accurate than any order of float sums the fast path
// may use, which is what lets it judge them.
#include "kernels/reference/conv2d.h"

#include <cstddef>
#include <vector>

namespace tl {

namespace {

// Flat offsets of one element of each NHWC / OHWI array.
struct Conv2dIndex {
  const Conv2dGeometry& g;
  int64_t x(int64_t n, int64_t iy, int64_t ix, int64_t c) const {
    return ((n * g.in_h + iy) * g.in_w + ix) * g.in_c + c;
  }
  int64_t w(int64_t o, int64_t ky, int64_t kx, int64_t c) const {
    return ((o * g.kernel_h + ky) * g.kernel_w + kx) * g.in_c + c;
  }
  int64_t y(int64_t n, int64_t oy, int64_t ox, int64_t o) const {
    return ((n * g.out_h() + oy) * g.out_w() + ox) * g.out_c + o;
  }
  bool in_image(int64_t iy, int64_t ix) const {
    return iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w;
  }
};

// out[i] = the double sums rounded to T (nothing when out is null).
template <typename T>
void round_into(T* out, const std::vector<double>& sums) {
  if (!out) return;
  for (size_t i = 0; i < sums.size(); ++i) out[i] = static_cast<T>(sums[i]);
}

}  // namespace

template <typename T>
void conv2d_forward_reference(T* y, const T* x, const T* w, const T* bias,
                              const Conv2dGeometry& g) {
  const Conv2dIndex at{g};
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oy = 0; oy < g.out_h(); ++oy)
      for (int64_t ox = 0; ox < g.out_w(); ++ox)
        for (int64_t o = 0; o < g.out_c; ++o) {
          double sum = bias ? static_cast<double>(bias[o]) : 0.0;
          for (int64_t ky = 0; ky < g.kernel_h; ++ky)
            for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
              const int64_t iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
              if (!at.in_image(iy, ix)) continue;  // zero padding: the term is 0
              for (int64_t c = 0; c < g.in_c; ++c)
                sum += static_cast<double>(x[at.x(n, iy, ix, c)]) *
                       static_cast<double>(w[at.w(o, ky, kx, c)]);
            }
          y[at.y(n, oy, ox, o)] = static_cast<T>(sum);
        }
}

template <typename T>
void conv2d_backward_reference(T* dx, T* dw, T* dbias, const T* dy, const T* x, const T* w,
                               const Conv2dGeometry& g) {
  const Conv2dIndex at{g};
  // Step 1: one double accumulator per gradient element, zero (an empty
  // batch leaves every gradient zero), none for a gradient not asked for.
  std::vector<double> dx_sum(dx ? static_cast<size_t>(g.batch * g.in_h * g.in_w * g.in_c) : 0);
  std::vector<double> dw_sum(dw ? static_cast<size_t>(g.out_c * g.patch_size()) : 0);
  std::vector<double> dbias_sum(dbias ? static_cast<size_t>(g.out_c) : 0);

  // Step 2: the forward's loop nest; each of its terms hands dy back.
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oy = 0; oy < g.out_h(); ++oy)
      for (int64_t ox = 0; ox < g.out_w(); ++ox)
        for (int64_t o = 0; o < g.out_c; ++o) {
          const double grad = static_cast<double>(dy[at.y(n, oy, ox, o)]);
          if (dbias) dbias_sum[o] += grad;
          for (int64_t ky = 0; ky < g.kernel_h; ++ky)
            for (int64_t kx = 0; kx < g.kernel_w; ++kx) {
              const int64_t iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
              if (!at.in_image(iy, ix)) continue;  // padding has no gradient to receive
              for (int64_t c = 0; c < g.in_c; ++c) {
                const int64_t xi = at.x(n, iy, ix, c), wi = at.w(o, ky, kx, c);
                if (dx) dx_sum[xi] += grad * static_cast<double>(w[wi]);
                if (dw) dw_sum[wi] += grad * static_cast<double>(x[xi]);
              }
            }
        }

  // Step 3: round each sum to T once.
  round_into(dx, dx_sum);
  round_into(dw, dw_sum);
  round_into(dbias, dbias_sum);
}

#define TL_INSTANTIATE(T)                                                                      \
  template void conv2d_forward_reference<T>(T*, const T*, const T*, const T*,                  \
                                            const Conv2dGeometry&);                            \
  template void conv2d_backward_reference<T>(T*, T*, T*, const T*, const T*, const T*,         \
                                             const Conv2dGeometry&);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
