// Fast CPU path for 2-D convolution (conv2d.h; the plain loops that define it
// are kernels/reference/conv2d.cpp): NHWC activations, OHWI
// weights, symmetric zero padding, one stride for both axes.
//
// float32 goes to oneDNN when the build has it (kernels/conv2d_onednn.h):
// its JIT-compiled direct convolutions run near the CPU's peak, where
// im2col + GEMM loses time to copying patches and re-packing them for the
// GEMM. Everything else (double, or a build without oneDNN) runs the path
// below, which is also the one to read.
//
// Algorithm: im2col + GEMM. Each output pixel's receptive field is copied
// into one row of a column matrix, ordered (ky, kx, c): exactly the order of
// a weight row in OHWI, so with M = N*OH*OW and K = KH*KW*C
//     forward:  y (M, O)     = cols (M, K) * w^T (K, O)   [+ bias per row]
//     backward: dw (O, K)    = dy^T (O, M) * cols (M, K)
//               dcols (M, K) = dy (M, O) * w (O, K)       then dx = col2im(dcols)
//               dbias (O)    = column sums of dy
// Variants:
//  * pointwise (1x1, stride 1, pad 0): in NHWC the input already is the
//    (N*H*W, C) column matrix, so there is no im2col and no buffer at all.
//  * everything else: the batch is processed in chunks of whole images so the
//    column buffer stays under a fixed budget (16 MB by default): a ResNet50
//    3x3 layer at batch 32 would otherwise need 230 MB of columns.
#include "kernels/conv2d.h"

#include <algorithm>
#include <memory>
#include <type_traits>
#include <vector>

#include "kernels/conv2d_onednn.h"
#include "kernels/gemm.h"
#include "runtime/thread_pool.h"

namespace tl {

namespace {

// 16 MB: each chunk's GEMM still has thousands of rows (BLAS at full speed),
// and the columns im2col just wrote are still in cache when the GEMM reads
// them. Measured on the ResNet50 3x3 64->64 layer at batch 32 (2 cores):
// 8-16 MB chunks run about twice as fast as 64 MB or the whole batch.
constexpr int64_t kDefaultColumnBudget = int64_t(16) << 20;
// Below this many elements touched, a parallel region costs more than it
// saves (the gradient checks run thousands of tiny convolutions).
constexpr int64_t kParallelWork = int64_t(1) << 15;
// Whether im2col / col2im / the bias loops use the thread pool. Not beside a
// BLAS: measured when OpenBLAS still ran its own threads, idle OpenMP
// workers spinning for milliseconds after each region took a core from the
// GEMM that followed (2.8x slower forward on 2 cores); and the packing is
// cheap next to the GEMM once the chunk is cache-sized, so one thread
// suffices. Without BLAS the blocked GEMM runs on the same pool.
#ifdef TL_HAVE_BLAS
constexpr bool kThreadedPacking = false;
#else
constexpr bool kThreadedPacking = true;
#endif
bool use_threads(int64_t elements) { return kThreadedPacking && elements > kParallelWork; }

bool is_pointwise(const Conv2dGeometry& g) {
  return g.kernel_h == 1 && g.kernel_w == 1 && g.stride == 1 && g.pad == 0;
}

// Whole images per chunk so the chunk's columns fit the budget (at least one).
template <typename T>
int64_t images_per_chunk(const Conv2dGeometry& g, int64_t budget_bytes) {
  const int64_t per_image =
      std::max<int64_t>(1, g.out_h() * g.out_w() * g.patch_size() * int64_t(sizeof(T)));
  return std::clamp<int64_t>(budget_bytes / per_image, 1, std::max<int64_t>(1, g.batch));
}

// Uninitialised on purpose: im2col writes every element, and zeroing a
// large std::vector would be one more full pass over memory per call.
template <typename T>
std::unique_ptr<T[]> column_buffer(int64_t elements) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(elements)]);
}

// The kernel columns kx in [begin, end) whose input column ox*S - P + kx lies
// inside the image; the others read padding. In NHWC those in-bounds pixels
// are one contiguous run of (end - begin) * C values of an image row, so
// im2col and col2im move whole runs instead of C values at a time (the
// stem's C = 3 would otherwise mean 12-byte copies).
struct KernelColumns {
  int64_t begin, end;
};
KernelColumns in_bounds_columns(int64_t ox, const Conv2dGeometry& g) {
  const int64_t x0 = ox * g.stride - g.pad;  // input column under kx = 0
  const int64_t begin = std::clamp<int64_t>(-x0, 0, g.kernel_w);
  return {begin, std::clamp<int64_t>(g.in_w - x0, begin, g.kernel_w)};
}

// cols: (count*OH*OW, KH*KW*C) from x: (count, H, W, C). Padding becomes zeros.
template <typename T>
void im2col(T* cols, const T* x, int64_t count, const Conv2dGeometry& g) {
  const int64_t H = g.in_h, W = g.in_w, C = g.in_c, OH = g.out_h(), OW = g.out_w();
  const int64_t KH = g.kernel_h, KW = g.kernel_w, S = g.stride, P = g.pad, K = g.patch_size();
  // Every (image, output row) writes its own rows of cols: no sharing.
  parallel_for(count * OH, use_threads(count * OH * OW * K), [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t n = item / OH, oy = item % OH;
      const T* image = x + n * H * W * C;
      T* dst = cols + (n * OH + oy) * OW * K;
      for (int64_t ox = 0; ox < OW; ++ox) {
        const auto [kx0, kx1] = in_bounds_columns(ox, g);
        for (int64_t ky = 0; ky < KH; ++ky) {
          const int64_t iy = oy * S - P + ky;
          if (iy < 0 || iy >= H) {  // a whole padded row of the patch
            dst = std::fill_n(dst, KW * C, T(0));
            continue;
          }
          dst = std::fill_n(dst, kx0 * C, T(0));
          dst = std::copy_n(image + (iy * W + ox * S - P + kx0) * C, (kx1 - kx0) * C, dst);
          dst = std::fill_n(dst, (KW - kx1) * C, T(0));
        }
      }
    }
  });
}

// dx: (count, H, W, C) = the sum of every patch row of dcols back onto the
// pixels it was copied from (the adjoint of im2col). dx is overwritten.
template <typename T>
void col2im(T* dx, const T* dcols, int64_t count, const Conv2dGeometry& g) {
  const int64_t H = g.in_h, W = g.in_w, C = g.in_c, OH = g.out_h(), OW = g.out_w();
  const int64_t KH = g.kernel_h, KW = g.kernel_w, S = g.stride, P = g.pad, K = g.patch_size();
  // Patches overlap inside an image (kernel > stride), so threads split the
  // images, never the pixels: no two threads add into the same element.
  parallel_for(count, use_threads(count * OH * OW * K), [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      T* image = dx + n * H * W * C;
      std::fill_n(image, H * W * C, T(0));
      const T* src = dcols + n * OH * OW * K;
      for (int64_t oy = 0; oy < OH; ++oy) {
        for (int64_t ox = 0; ox < OW; ++ox, src += K) {
          const auto [kx0, kx1] = in_bounds_columns(ox, g);
          for (int64_t ky = 0; ky < KH; ++ky) {
            const int64_t iy = oy * S - P + ky;
            if (iy < 0 || iy >= H) continue;  // gradient of padding: dropped
            const T* run = src + (ky * KW + kx0) * C;
            T* pixels = image + (iy * W + ox * S - P + kx0) * C;
            for (int64_t i = 0; i < (kx1 - kx0) * C; ++i) pixels[i] += run[i];
          }
        }
      }
    }
  });
}

// Fills `rows` rows of y (rows, O) with the bias and returns the GEMM beta
// that adds onto them; without a bias the GEMM simply overwrites (beta 0).
template <typename T>
T start_with_bias(T* y, const T* bias, int64_t rows, int64_t out_c) {
  if (!bias) return T(0);
  parallel_for(rows, use_threads(rows * out_c), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) std::copy_n(bias, out_c, y + r * out_c);
  });
  return T(1);
}

// dbias (O) = sum over rows of dy (rows, O). Accumulated in double: a
// ResNet50 layer sums 100,000 rows, where float would lose ~3 digits.
template <typename T>
void column_sums(T* dbias, const T* dy, int64_t rows, int64_t out_c) {
  // Each part sums a range of rows into its own copy; the copies are then
  // added in part order, so the result depends on the thread count only.
  const int64_t parts = use_threads(rows * out_c) ? std::min<int64_t>(rows, cpu_threads()) : 1;
  std::vector<double> acc(static_cast<size_t>(parts * out_c), 0.0);
  parallel_parts(parts, [&](int64_t part) {
    double* sum = acc.data() + part * out_c;
    for (int64_t r = rows * part / parts; r < rows * (part + 1) / parts; ++r) {
      const T* row = dy + r * out_c;
      for (int64_t o = 0; o < out_c; ++o) sum[o] += row[o];
    }
  });
  for (int64_t o = 0; o < out_c; ++o) {
    double total = 0;
    for (int64_t part = 0; part < parts; ++part) total += acc[part * out_c + o];
    dbias[o] = static_cast<T>(total);
  }
}

// Where oneDNN beats im2col + OpenBLAS. Timed layer by layer on ResNet50's
// convolutions (2 cores, AVX-512; bench/RESULTS.md "oneDNN or im2col"):
// oneDNN is 1.2-6x faster once the output has at least ~1,000 pixels across
// the batch (N*OH*OW), and up to 7x slower below: with few pixels the work
// is one skinny GEMM whose cost is the weights, which oneDNN re-lays out on
// every call and splits across threads by pixels. The stem's weight gradient
// (3 input channels) is the one large layer where it loses (1.7x).
constexpr int64_t kOneDnnMinOutputPixels = 1024;
bool onednn_is_faster(const Conv2dGeometry& g, bool backward) {
  if (g.batch <= 0 || g.out_h() <= 0 || g.out_w() <= 0 || g.out_c <= 0) return false;
  if (backward && g.in_c < 8) return false;
  return g.batch * g.out_h() * g.out_w() >= kOneDnnMinOutputPixels;
}

}  // namespace

template <typename T>
void conv2d_forward_im2col_cpu(T* y, const T* x, const T* w, const T* bias,
                               const Conv2dGeometry& g, int64_t column_budget_bytes) {
  const int64_t O = g.out_c, K = g.patch_size(), pixels = g.out_h() * g.out_w();
  if (g.batch <= 0 || pixels <= 0 || O <= 0) return;
  if (is_pointwise(g)) {  // x is already cols
    const int64_t M = g.batch * pixels;
    // With a bias, y is written twice (the bias, then the GEMM adding onto
    // it); row blocks of the budget keep the first pass in cache for the second.
    const int64_t block =
        bias ? std::max<int64_t>(1, column_budget_bytes / (O * int64_t(sizeof(T)))) : M;
    for (int64_t r0 = 0; r0 < M; r0 += block) {
      const int64_t rows = std::min(block, M - r0);
      const T beta = start_with_bias(y + r0 * O, bias, rows, O);
      gemm_cpu<T>(false, true, rows, O, K, T(1), x + r0 * K, K, w, K, beta, y + r0 * O, O);
    }
    return;
  }
  const int64_t chunk = images_per_chunk<T>(g, column_budget_bytes);
  const std::unique_ptr<T[]> cols = column_buffer<T>(chunk * pixels * K);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t count = std::min(chunk, g.batch - n0), M = count * pixels;
    im2col(cols.get(), x + n0 * g.in_h * g.in_w * g.in_c, count, g);
    T* y_chunk = y + n0 * pixels * O;
    const T beta = start_with_bias(y_chunk, bias, M, O);
    // w is (O, K) row-major, so w^T is the transposed operand.
    gemm_cpu<T>(false, true, M, O, K, T(1), cols.get(), K, w, K, beta, y_chunk, O);
  }
}

template <typename T>
void conv2d_backward_im2col_cpu(T* dx, T* dw, T* dbias, const T* dy, const T* x, const T* w,
                                const Conv2dGeometry& g, int64_t column_budget_bytes) {
  const int64_t O = g.out_c, K = g.patch_size(), pixels = g.out_h() * g.out_w();
  if (g.batch <= 0 || pixels <= 0 || O <= 0) {  // empty sums: zero gradients
    if (dx) std::fill_n(dx, std::max<int64_t>(0, g.batch * g.in_h * g.in_w * g.in_c), T(0));
    if (dw) std::fill_n(dw, std::max<int64_t>(0, O * K), T(0));
    if (dbias) std::fill_n(dbias, std::max<int64_t>(0, O), T(0));
    return;
  }
  if (dbias) column_sums(dbias, dy, g.batch * pixels, O);
  if (!dx && !dw) return;
  if (is_pointwise(g)) {
    const int64_t M = g.batch * pixels;
    if (dw) gemm_cpu<T>(true, false, O, K, M, T(1), dy, O, x, K, T(0), dw, K);
    if (dx) gemm_cpu<T>(false, false, M, K, O, T(1), dy, O, w, K, T(0), dx, K);
    return;
  }
  const int64_t chunk = images_per_chunk<T>(g, column_budget_bytes);
  // One buffer serves both: cols of x for dw, then (overwriting) dcols for dx.
  const std::unique_ptr<T[]> cols = column_buffer<T>(chunk * pixels * K);
  for (int64_t n0 = 0; n0 < g.batch; n0 += chunk) {
    const int64_t count = std::min(chunk, g.batch - n0), M = count * pixels;
    const T* dy_chunk = dy + n0 * pixels * O;
    const int64_t image_offset = n0 * g.in_h * g.in_w * g.in_c;
    if (dw) {
      im2col(cols.get(), x + image_offset, count, g);
      // The first chunk overwrites dw, the others accumulate into it.
      gemm_cpu<T>(true, false, O, K, M, T(1), dy_chunk, O, cols.get(), K,
                  n0 == 0 ? T(0) : T(1), dw, K);
    }
    if (dx) {
      gemm_cpu<T>(false, false, M, K, O, T(1), dy_chunk, O, w, K, T(0), cols.get(), K);
      col2im(dx + image_offset, cols.get(), count, g);
    }
  }
}

template <typename T>
void conv2d_forward_cpu(T* y, const T* x, const T* w, const T* bias, const Conv2dGeometry& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (onednn_is_faster(g, false) && conv2d_forward_onednn(y, x, w, bias, g)) return;
  }
  conv2d_forward_im2col_cpu(y, x, w, bias, g, kDefaultColumnBudget);
}

template <typename T>
void conv2d_backward_cpu(T* dx, T* dw, T* dbias, const T* dy, const T* x, const T* w,
                         const Conv2dGeometry& g) {
  if constexpr (std::is_same_v<T, float>) {
    if (onednn_is_faster(g, true) && onednn_available()) {
      // The bias gradient in double, as on the im2col path; oneDNN the rest.
      if (dbias) column_sums(dbias, dy, g.batch * g.out_h() * g.out_w(), g.out_c);
      if (dx || dw) conv2d_backward_onednn(dx, dw, dy, x, w, g);
      return;
    }
  }
  conv2d_backward_im2col_cpu(dx, dw, dbias, dy, x, w, g, kDefaultColumnBudget);
}

bool conv2d_forward_folded_cpu(float* y, const float* x, const float* w, const float* bias,
                               const Conv2dGeometry& g, const ConvFold& fold) {
  return onednn_is_faster(g, false) && conv2d_forward_onednn(y, x, w, bias, g, fold);
}

#define TL_INSTANTIATE(T)                                                                       \
  template void conv2d_forward_cpu<T>(T*, const T*, const T*, const T*, const Conv2dGeometry&); \
  template void conv2d_forward_im2col_cpu<T>(T*, const T*, const T*, const T*,                 \
                                             const Conv2dGeometry&, int64_t);                   \
  template void conv2d_backward_cpu<T>(T*, T*, T*, const T*, const T*, const T*,                \
                                       const Conv2dGeometry&);                                  \
  template void conv2d_backward_im2col_cpu<T>(T*, T*, T*, const T*, const T*, const T*,         \
                                              const Conv2dGeometry&, int64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
