// Fast CPU path for the fused input pipeline (see preprocess.h; the plain
// loops are kernels/reference/preprocess.cpp): uint8 RGB
// (N, H, W, 3) -> bilinear resize with half-pixel centres (the taps of
// upsample.h) -> BGR minus the ImageNet means, float (N, OH, OW, 3).
// Resize and mean subtraction are both linear, so they happen in one pass
// that reads each source image once; the channel flip is just the order in
// which the three outputs are written.
#include "kernels/preprocess.h"

#include <cstddef>
#include <vector>

#include "kernels/upsample.h"
#include "runtime/thread_pool.h"

namespace tl {

void preprocess_caffe_cpu(float* y, const uint8_t* x, int64_t batch, int64_t in_h, int64_t in_w,
                          int64_t out_h, int64_t out_w) {
  std::vector<BilinearTap> ty(static_cast<size_t>(out_h)), tx(static_cast<size_t>(out_w));
  for (int64_t o = 0; o < out_h; ++o) ty[static_cast<size_t>(o)] = bilinear_tap(o, in_h, out_h);
  for (int64_t o = 0; o < out_w; ++o) tx[static_cast<size_t>(o)] = bilinear_tap(o, in_w, out_w);
  parallel_for(batch * out_h, batch * out_h * out_w * 3 >= kParallelWorkMin, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / out_h, oy = item % out_h;
      const BilinearTap& a = ty[static_cast<size_t>(oy)];
      const float ly = a.lambda, ly0 = 1.0f - ly;
      const uint8_t* row0 = x + (n * in_h + a.i0) * in_w * 3;
      const uint8_t* row1 = x + (n * in_h + a.i1) * in_w * 3;
      float* out = y + (n * out_h + oy) * out_w * 3;
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const BilinearTap& b = tx[static_cast<size_t>(ox)];
        const float lx = b.lambda, lx0 = 1.0f - lx;
        const uint8_t *p00 = row0 + b.i0 * 3, *p01 = row0 + b.i1 * 3;
        const uint8_t *p10 = row1 + b.i0 * 3, *p11 = row1 + b.i1 * 3;
        for (int k = 0; k < 3; ++k) {
          const int c = 2 - k;  // output B, G, R reads input channel 2, 1, 0
          const float v = ly0 * (lx0 * p00[c] + lx * p01[c]) + ly * (lx0 * p10[c] + lx * p11[c]);
          out[ox * 3 + k] = v - kCaffeMeanBGR[k];
        }
      }
    }
  });
}

}  // namespace tl
