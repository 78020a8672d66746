// Plain reference for Keras's 'caffe' preprocessing of resized images
// (kernels/reference/preprocess.h). For output pixel (oy, ox) and output
// channel k in B, G, R order:
//
//   v = the bilinear mix of input channel 2 - k (R, G, B -> B, G, R) over the
//       2x2 source pixels of bilinear_tap (as kernels/reference/upsample.cpp)
//   y[n, oy, ox, k] = v - kCaffeMeanBGR[k]
#include "kernels/reference/preprocess.h"

#include "kernels/preprocess.h"  // kCaffeMeanBGR
#include "kernels/upsample.h"    // bilinear_tap

namespace tl {

void preprocess_caffe_reference(float* y, const uint8_t* x, int64_t batch, int64_t in_h,
                                int64_t in_w, int64_t out_h, int64_t out_w) {
  auto x_at = [&](int64_t n, int64_t iy, int64_t ix, int64_t c) {
    return static_cast<double>(x[((n * in_h + iy) * in_w + ix) * 3 + c]);
  };
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t oy = 0; oy < out_h; ++oy) {
      const BilinearTap ty = bilinear_tap(oy, in_h, out_h);
      const double ly = ty.lambda;
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const BilinearTap tx = bilinear_tap(ox, in_w, out_w);
        const double lx = tx.lambda;
        for (int64_t k = 0; k < 3; ++k) {
          const int64_t c = 2 - k;  // output B, G, R reads input channel 2, 1, 0
          const double v = (1 - ly) * (1 - lx) * x_at(n, ty.i0, tx.i0, c) +
                           (1 - ly) * lx * x_at(n, ty.i0, tx.i1, c) +
                           ly * (1 - lx) * x_at(n, ty.i1, tx.i0, c) +
                           ly * lx * x_at(n, ty.i1, tx.i1, c);
          y[((n * out_h + oy) * out_w + ox) * 3 + k] =
              static_cast<float>(v - static_cast<double>(kCaffeMeanBGR[k]));
        }
      }
    }
}

}  // namespace tl
