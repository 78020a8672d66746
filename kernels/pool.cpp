// Fast CPU path for pooling over NHWC data (see pool.h; the plain loops are
// kernels/reference/pool.cpp): k x k max pooling
// with stride and symmetric padding (padding never wins; the gradient goes
// to the first maximum of each window in (ky, kx) order, recomputed from x),
// and global average pooling (N, H, W, C) -> (N, C).
//
// NHWC puts the channels innermost, so every loop here walks a window
// position by position and, at each position, a contiguous run of channels:
// the channel loop vectorises and each input pixel is read as one cache line run.
#include "kernels/pool.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "runtime/thread_pool.h"

namespace tl {

namespace {
// Channels handled together by one maxpool backward task: its running
// maxima and their positions stay in L1.
constexpr int64_t kPoolChannelBlock = 64;
// Below this many input elements a loop runs on one thread: a parallel region
// costs more than a small pool (the gradient checks call these thousands of times).
constexpr int64_t kParallelMin = 1 << 15;

// The valid input range [lo, hi) of window offsets along one axis for output
// position o: offsets whose input coordinate falls in the padding are skipped.
inline void window_range(int64_t o, int64_t stride, int64_t pad, int64_t kernel, int64_t in,
                         int64_t& k_lo, int64_t& k_hi) {
  const int64_t start = o * stride - pad;
  k_lo = std::max<int64_t>(0, -start);
  k_hi = std::min<int64_t>(kernel, in - start);
}
}  // namespace

// Whether `v` replaces the window's running maximum `best`: when greater,
// or when it is NaN (v != v), as PyTorch's max pooling decides, so a NaN
// anywhere in a window makes the output NaN (and takes the gradient: the last
// NaN of the window, in scan order) instead of being silently dropped.
template <typename T>
inline bool takes_max(T v, T best) {
  return v > best || v != v;
}

template <typename T>
void maxpool2d_forward_cpu(T* y, const T* x, const PoolGeometry& g) {
  const int64_t H = g.in_h, W = g.in_w, C = g.channels, OH = g.out_h(), OW = g.out_w();
  parallel_for(g.batch * OH, g.batch * H * W * C >= kParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / OH, oy = item % OH;
      int64_t ky0, ky1;
      window_range(oy, g.stride, g.pad, g.kernel, H, ky0, ky1);
      for (int64_t ox = 0; ox < OW; ++ox) {
        int64_t kx0, kx1;
        window_range(ox, g.stride, g.pad, g.kernel, W, kx0, kx1);
        T* out = y + ((n * OH + oy) * OW + ox) * C;
        // Padding acts as -inf: it never enters the max.
        for (int64_t c = 0; c < C; ++c) out[c] = -std::numeric_limits<T>::infinity();
        for (int64_t ky = ky0; ky < ky1; ++ky)
          for (int64_t kx = kx0; kx < kx1; ++kx) {
            const int64_t iy = oy * g.stride - g.pad + ky, ix = ox * g.stride - g.pad + kx;
            const T* in = x + ((n * H + iy) * W + ix) * C;
            for (int64_t c = 0; c < C; ++c) out[c] = takes_max(in[c], out[c]) ? in[c] : out[c];
          }
      }
    }
  });
}

template <typename T>
void maxpool2d_backward_cpu(T* dx, const T* dy, const T* x, const PoolGeometry& g) {
  const int64_t H = g.in_h, W = g.in_w, C = g.channels, OH = g.out_h(), OW = g.out_w();
  const int64_t channel_blocks = (C + kPoolChannelBlock - 1) / kPoolChannelBlock;
  // Overlapping windows (stride < kernel) send gradient to the same input
  // from several outputs, so the parallel tasks split images and channel
  // blocks, never space: no two tasks write the same dx element.
  parallel_for(g.batch * channel_blocks, g.batch * H * W * C >= kParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / channel_blocks, cb = item % channel_blocks;
      const int64_t c0 = cb * kPoolChannelBlock, nc = std::min(C, c0 + kPoolChannelBlock) - c0;
      for (int64_t i = 0; i < H * W; ++i)
        std::fill_n(dx + (n * H * W + i) * C + c0, nc, T(0));
      T best[kPoolChannelBlock];
      // The winning pixel iy * W + ix per channel; int32 (H*W is far below
      // 2^31) so that for float it shares the lane width of best.
      int32_t arg[kPoolChannelBlock];
      const T* x_n = x + n * H * W * C + c0;
      T* dx_n = dx + n * H * W * C + c0;
      for (int64_t oy = 0; oy < OH; ++oy) {
        int64_t ky0, ky1;
        window_range(oy, g.stride, g.pad, g.kernel, H, ky0, ky1);
        for (int64_t ox = 0; ox < OW; ++ox) {
          int64_t kx0, kx1;
          window_range(ox, g.stride, g.pad, g.kernel, W, kx0, kx1);
          const int64_t y0 = oy * g.stride - g.pad, x0 = ox * g.stride - g.pad;
          // Start from the first real pixel of the window (one always
          // exists: pad <= kernel / 2), then take only strictly greater
          // values, so a later equal value never displaces the first maximum.
          const auto first = static_cast<int32_t>((y0 + ky0) * W + (x0 + kx0));
          for (int64_t c = 0; c < nc; ++c) {
            best[c] = x_n[first * C + c];
            arg[c] = first;
          }
          for (int64_t ky = ky0; ky < ky1; ++ky)
            for (int64_t kx = kx0; kx < kx1; ++kx) {
              const auto pixel = static_cast<int32_t>((y0 + ky) * W + (x0 + kx));
              const T* in = x_n + pixel * C;
              // The index update is written with a bit mask (all ones where
              // it takes over): GCC 12 vectorises that, but not a float-compare
              // select of an int32, which leaves a mispredicting branch.
              for (int64_t c = 0; c < nc; ++c) {
                const int32_t greater = -static_cast<int32_t>(takes_max(in[c], best[c]));
                best[c] = greater ? in[c] : best[c];
                arg[c] = (pixel & greater) | (arg[c] & ~greater);
              }
            }
          const T* g_out = dy + ((n * OH + oy) * OW + ox) * C + c0;
          for (int64_t c = 0; c < nc; ++c) dx_n[arg[c] * C + c] += g_out[c];
        }
      }
    }
  });
}

template <typename T>
void global_avgpool_forward_cpu(T* y, const T* x, int64_t batch, int64_t spatial,
                                int64_t channels) {
  const double inv = 1.0 / static_cast<double>(spatial);
  parallel_for(batch, batch * spatial * channels >= kParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      // A double accumulator per channel: the sum over 7x7 (or 56x56) is exact
      // to float precision whatever the order.
      std::vector<double> acc(static_cast<size_t>(channels), 0.0);
      for (int64_t i = 0; i < spatial; ++i) {
        const T* in = x + (n * spatial + i) * channels;
        for (int64_t c = 0; c < channels; ++c) acc[c] += static_cast<double>(in[c]);
      }
      for (int64_t c = 0; c < channels; ++c) y[n * channels + c] = static_cast<T>(acc[c] * inv);
    }
  });
}

template <typename T>
void global_avgpool_backward_cpu(T* dx, const T* dy, int64_t batch, int64_t spatial,
                                 int64_t channels) {
  const T count = static_cast<T>(spatial);  // divide, not multiply by 1/spatial: one rounding
  parallel_for(batch * spatial, batch * spatial * channels >= kParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / spatial, i = item % spatial;
      T* out = dx + (n * spatial + i) * channels;
      const T* g_in = dy + n * channels;
      for (int64_t c = 0; c < channels; ++c) out[c] = g_in[c] / count;
    }
  });
}

#define TL_INSTANTIATE(T)                                                                   \
  template void maxpool2d_forward_cpu<T>(T*, const T*, const PoolGeometry&);                \
  template void maxpool2d_backward_cpu<T>(T*, const T*, const T*, const PoolGeometry&);     \
  template void global_avgpool_forward_cpu<T>(T*, const T*, int64_t, int64_t, int64_t);     \
  template void global_avgpool_backward_cpu<T>(T*, const T*, int64_t, int64_t, int64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
