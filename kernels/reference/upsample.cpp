// Plain reference for bilinear resampling, NHWC, half-pixel centres
// (kernels/reference/upsample.h).
//
// Output row oy reads input rows i0 and i1 = bilinear_tap(oy, in_h, out_h)
// with weights (1 - ly, ly); output column ox likewise (1 - lx, lx). So
//
//   y[n, oy, ox, c] = (1-ly)(1-lx) x[i0y, i0x] + (1-ly) lx x[i0y, i1x]
//                   +   ly  (1-lx) x[i1y, i0x] +   ly   lx x[i1y, i1x]
//
// and the backward hands dy[n, oy, ox, c] to the same four pixels with the
// same four weights (at an edge i0 == i1, and both weights land on one pixel).
// bilinear_tap (kernels/upsample.cpp) is the definition of where an output
// pixel samples, shared with the fast path and the CUDA kernels; here it is
// called where its result is needed instead of being tabulated.
#include "kernels/reference/upsample.h"

#include <cstddef>
#include <vector>

namespace tl {

template <typename T>
void upsample_bilinear_forward_reference(T* y, const T* x, const UpsampleGeometry& g) {
  const int64_t C = g.channels;
  auto x_at = [&](int64_t n, int64_t iy, int64_t ix, int64_t c) {
    return static_cast<double>(x[((n * g.in_h + iy) * g.in_w + ix) * C + c]);
  };
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      const BilinearTap ty = bilinear_tap(oy, g.in_h, g.out_h);
      const double ly = ty.lambda;
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        const BilinearTap tx = bilinear_tap(ox, g.in_w, g.out_w);
        const double lx = tx.lambda;
        for (int64_t c = 0; c < C; ++c) {
          const double v = (1 - ly) * (1 - lx) * x_at(n, ty.i0, tx.i0, c) +
                           (1 - ly) * lx * x_at(n, ty.i0, tx.i1, c) +
                           ly * (1 - lx) * x_at(n, ty.i1, tx.i0, c) +
                           ly * lx * x_at(n, ty.i1, tx.i1, c);
          y[((n * g.out_h + oy) * g.out_w + ox) * C + c] = static_cast<T>(v);
        }
      }
    }
}

template <typename T>
void upsample_bilinear_backward_reference(T* dx, const T* dy, const UpsampleGeometry& g) {
  const int64_t C = g.channels;
  // Step 1: double sums, zero: a pixel no output samples gets no gradient.
  std::vector<double> sums(static_cast<size_t>(g.batch * g.in_h * g.in_w * C), 0.0);
  auto sum_at = [&](int64_t n, int64_t iy, int64_t ix, int64_t c) -> double& {
    return sums[static_cast<size_t>(((n * g.in_h + iy) * g.in_w + ix) * C + c)];
  };
  // Step 2: the forward's loop nest, each dy spread over its four pixels.
  for (int64_t n = 0; n < g.batch; ++n)
    for (int64_t oy = 0; oy < g.out_h; ++oy) {
      const BilinearTap ty = bilinear_tap(oy, g.in_h, g.out_h);
      const double ly = ty.lambda;
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        const BilinearTap tx = bilinear_tap(ox, g.in_w, g.out_w);
        const double lx = tx.lambda;
        for (int64_t c = 0; c < C; ++c) {
          const double grad = dy[((n * g.out_h + oy) * g.out_w + ox) * C + c];
          sum_at(n, ty.i0, tx.i0, c) += (1 - ly) * (1 - lx) * grad;
          sum_at(n, ty.i0, tx.i1, c) += (1 - ly) * lx * grad;
          sum_at(n, ty.i1, tx.i0, c) += ly * (1 - lx) * grad;
          sum_at(n, ty.i1, tx.i1, c) += ly * lx * grad;
        }
      }
    }
  // Step 3: round once.
  for (size_t i = 0; i < sums.size(); ++i) dx[i] = static_cast<T>(sums[i]);
}

#define TL_INSTANTIATE(T)                                                                       \
  template void upsample_bilinear_forward_reference<T>(T*, const T*, const UpsampleGeometry&);  \
  template void upsample_bilinear_backward_reference<T>(T*, const T*, const UpsampleGeometry&);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
