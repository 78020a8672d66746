// CPU reference for bilinear resampling, NHWC, half-pixel centres (see
// upsample.h). Forward: each output pixel mixes its 2x2 source neighbours.
// Backward: the transpose, each dy spread back onto the same 4 source pixels
// with the same weights. The taps depend only on the output row/column, so
// they are computed once per call rather than per element.
#include "kernels/upsample.h"

#include <cstddef>
#include <vector>

#include "runtime/thread_pool.h"

namespace tl {

BilinearTap bilinear_tap(int64_t o, int64_t in_size, int64_t out_size) {
  // PyTorch's area_pixel_compute_source_index with align_corners=False: the
  // centre of output pixel o, mapped into input coordinates, clamped at 0 on
  // the left (so the first outputs copy the edge); on the right i1 is clamped.
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  double src = (static_cast<double>(o) + 0.5) * scale - 0.5;
  if (src < 0) src = 0;
  int64_t i0 = static_cast<int64_t>(src);
  if (i0 > in_size - 1) i0 = in_size - 1;
  const int64_t i1 = i0 < in_size - 1 ? i0 + 1 : i0;
  return BilinearTap{static_cast<int32_t>(i0), static_cast<int32_t>(i1),
                     static_cast<float>(src - static_cast<double>(i0))};
}

namespace {

std::vector<BilinearTap> taps(int64_t in_size, int64_t out_size) {
  std::vector<BilinearTap> t(static_cast<size_t>(out_size));
  for (int64_t o = 0; o < out_size; ++o) t[static_cast<size_t>(o)] = bilinear_tap(o, in_size, out_size);
  return t;
}

}  // namespace

template <typename T>
void upsample_bilinear_forward_cpu(T* y, const T* x, const UpsampleGeometry& g) {
  const int64_t C = g.channels;
  const std::vector<BilinearTap> ty = taps(g.in_h, g.out_h), tx = taps(g.in_w, g.out_w);
  // Parallel over (image, output row): each iteration writes its own row of y.
  parallel_for(g.batch * g.out_h, g.batch * g.out_h * g.out_w * C >= kParallelWorkMin, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / g.out_h, oy = item % g.out_h;
      const BilinearTap& a = ty[static_cast<size_t>(oy)];
      const T ly = static_cast<T>(a.lambda), ly0 = T(1) - ly;
      const T* row0 = x + (n * g.in_h + a.i0) * g.in_w * C;
      const T* row1 = x + (n * g.in_h + a.i1) * g.in_w * C;
      T* out = y + (n * g.out_h + oy) * g.out_w * C;
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        const BilinearTap& b = tx[static_cast<size_t>(ox)];
        const T lx = static_cast<T>(b.lambda), lx0 = T(1) - lx;
        const T *p00 = row0 + b.i0 * C, *p01 = row0 + b.i1 * C;
        const T *p10 = row1 + b.i0 * C, *p11 = row1 + b.i1 * C;
        for (int64_t c = 0; c < C; ++c)
          out[ox * C + c] = ly0 * (lx0 * p00[c] + lx * p01[c]) + ly * (lx0 * p10[c] + lx * p11[c]);
      }
    }
  });
}

template <typename T>
void upsample_bilinear_backward_cpu(T* dx, const T* dy, const UpsampleGeometry& g) {
  const int64_t C = g.channels;
  const std::vector<BilinearTap> ty = taps(g.in_h, g.out_h), tx = taps(g.in_w, g.out_w);
  // Parallel over images only: output rows of one image scatter into shared
  // input rows, so splitting them across threads would race.
  parallel_for(g.batch, g.batch * g.out_h * g.out_w * C >= kParallelWorkMin, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      T* img = dx + n * g.in_h * g.in_w * C;
      for (int64_t i = 0; i < g.in_h * g.in_w * C; ++i) img[i] = T(0);
      for (int64_t oy = 0; oy < g.out_h; ++oy) {
        const BilinearTap& a = ty[static_cast<size_t>(oy)];
        const T ly = static_cast<T>(a.lambda), ly0 = T(1) - ly;
        T* row0 = img + a.i0 * g.in_w * C;
        T* row1 = img + a.i1 * g.in_w * C;
        const T* d = dy + (n * g.out_h + oy) * g.out_w * C;
        for (int64_t ox = 0; ox < g.out_w; ++ox) {
          const BilinearTap& b = tx[static_cast<size_t>(ox)];
          const T lx = static_cast<T>(b.lambda), lx0 = T(1) - lx;
          for (int64_t c = 0; c < C; ++c) {
            const T v = d[ox * C + c];
            // At an edge i0 == i1: both weights land on the same pixel and sum.
            row0[b.i0 * C + c] += ly0 * lx0 * v;
            row0[b.i1 * C + c] += ly0 * lx * v;
            row1[b.i0 * C + c] += ly * lx0 * v;
            row1[b.i1 * C + c] += ly * lx * v;
          }
        }
      }
    }
  });
}

#define TL_INSTANTIATE(T)                                                                    \
  template void upsample_bilinear_forward_cpu<T>(T*, const T*, const UpsampleGeometry&);    \
  template void upsample_bilinear_backward_cpu<T>(T*, const T*, const UpsampleGeometry&);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
