// Fast CPU path for batch normalisation over the channel axis of NHWC data
// seen as (rows, C), optionally fused with the ReLU that follows it (see
// batchnorm.h): training forward (batch statistics, running-statistics
// update), inference forward, and the backward of each.
//
// Reductions. Every per-channel sum (mean, variance, and the two sums of the
// backward) runs over a grid of tiles: kRowBlock rows x kChannelBlock
// channels. Each tile sums its rows into a private double accumulator with
// the channel loop innermost (contiguous in NHWC, so it vectorises); the
// tiles' partial sums are then added in a fixed order. The result therefore
// does not depend on the number of threads (runs are reproducible), and the
// grid gives parallel work both for a conv activation (many rows, C = 64)
// and for the BN after Flatten in the head (N rows, C = 100,352).
#include "kernels/batchnorm.h"
#include "kernels/elementwise.h"  // relu_value, relu_passes

#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/thread_pool.h"

namespace tl {

namespace {

constexpr int64_t kRowBlock = 512;      // rows per tile: amortises the partial-sum write-out
constexpr int64_t kChannelBlock = 256;  // channels per tile: its accumulators stay in L1
// Below this many elements a loop runs on one thread: starting a parallel
// region costs microseconds (milliseconds when the cores are oversubscribed),
// more than a small BN takes (the gradient checks call these thousands of times).
constexpr int64_t kParallelMin = 1 << 15;

// out[k*C + c] = sum over rows r of the k-th quantity of element (r, c),
// k < K, summed in double. add_row(r, c0, c1, acc) adds row r's
// contributions for channels [c0, c1) into acc[k * kChannelBlock + c - c0]:
// a plain loop over contiguous channels that the compiler vectorises.
template <int K, typename AddRow>
void reduce_rows(double* out, int64_t rows, int64_t channels, AddRow add_row) {
  const int64_t row_blocks = (rows + kRowBlock - 1) / kRowBlock;
  const int64_t channel_blocks = (channels + kChannelBlock - 1) / kChannelBlock;
  // partial[(rb * K + k) * C + c]: one row of K*C sums per row block.
  std::vector<double> partial(static_cast<size_t>(row_blocks * K * channels), 0.0);
  parallel_for(row_blocks * channel_blocks, rows * channels >= kParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t rb = item / channel_blocks, cb = item % channel_blocks;
      const int64_t r0 = rb * kRowBlock, r1 = std::min(rows, r0 + kRowBlock);
      const int64_t c0 = cb * kChannelBlock, c1 = std::min(channels, c0 + kChannelBlock);
      double acc[K * kChannelBlock] = {};
      for (int64_t r = r0; r < r1; ++r) add_row(r, c0, c1, acc);
      double* dst = partial.data() + rb * K * channels;
      for (int k = 0; k < K; ++k)
        for (int64_t c = c0; c < c1; ++c) dst[k * channels + c] = acc[k * kChannelBlock + c - c0];
    }
  });
  // Fixed order over the row blocks: the same answer on 1 thread or 16.
  parallel_for(channels, row_blocks * channels >= kParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c)
      for (int k = 0; k < K; ++k) {
        double s = 0;
        for (int64_t rb = 0; rb < row_blocks; ++rb) s += partial[(rb * K + k) * channels + c];
        out[k * channels + c] = s;
      }
  });
}

// The normalised, scaled and shifted value before the optional ReLU. The
// forward and the backward both call this, with the same T operands, so the
// ReLU mask the backward recomputes from x is the one the forward applied.
template <typename T>
inline T bn_affine(T x, T mean, T scale, T beta) {
  return (x - mean) * scale + beta;
}

// The ReLU is a template parameter so that each loop below compiles to a
// branch-free body the compiler vectorises (a runtime flag inside the loop
// would stop it).

// y = bn_affine(x) over (rows, C), then max(0, .) with Relu.
template <bool Relu, typename T>
void affine_rows(T* y, const T* x, const T* mean, const T* scale, const T* beta, int64_t rows,
                 int64_t C) {
  parallel_for(rows, rows * C >= kParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const T v = bn_affine(x[r * C + c], mean[c], scale[c], beta[c]);
        y[r * C + c] = Relu ? relu_value(v) : v;  // NaN kept, as PyTorch (kernels/elementwise.h)
      }
  });
}

// dL/d(pre-activation): dy, zeroed by the ReLU where the forward clipped
// (recomputed from x with the forward's own bn_affine); passed at a NaN
// pre-activation, as PyTorch's ReLU backward does.
template <bool Relu, typename T>
inline T masked_grad(T dy, T x, T mean, T scale, T beta) {
  if constexpr (Relu) return relu_passes(bn_affine(x, mean, scale, beta)) ? dy : T(0);
  return dy;
}

// The two per-channel sums every BN backward needs, in double:
//   sums[c] = sum_r g,   sums[C + c] = sum_r g * xhat,   xhat = (x - mean) * invstd,
// with g = masked_grad(dy). They are dbeta and dgamma.
template <bool Relu, typename T>
void grad_sums(double* sums, const T* dy, const T* x, const T* mean, const T* invstd,
               const T* scale, const T* beta, int64_t rows, int64_t C) {
  reduce_rows<2>(sums, rows, C, [&](int64_t r, int64_t c0, int64_t c1, double* acc) {
    const T* dy_r = dy + r * C;
    const T* x_r = x + r * C;
    // Two loops, not one: the masked gradient is a same-width select, which
    // vectorises; a select feeding a float -> double widening does not (GCC 12).
    T g[kChannelBlock];
    for (int64_t c = c0; c < c1; ++c)
      g[c - c0] = masked_grad<Relu>(dy_r[c], x_r[c], mean[c], scale[c], beta[c]);
    for (int64_t c = c0; c < c1; ++c) {
      const double gr = static_cast<double>(g[c - c0]);
      const double xhat = (static_cast<double>(x_r[c]) - static_cast<double>(mean[c])) *
                          static_cast<double>(invstd[c]);
      acc[c - c0] += gr;
      acc[kChannelBlock + c - c0] += gr * xhat;
    }
  });
}

// Training dx = scale * (g - mean_r(g) - xhat * mean_r(g * xhat)): the last
// two terms are the paths through the batch mean and the batch variance.
template <bool Relu, typename T>
void train_dx(T* dx, const T* dy, const T* x, const T* mean, const T* invstd, const T* scale,
              const T* beta, const double* sums, int64_t rows, int64_t C) {
  std::vector<T> mean_g(C), mean_gx(C);
  for (int64_t c = 0; c < C; ++c) {
    mean_g[c] = static_cast<T>(sums[c] / static_cast<double>(rows));
    mean_gx[c] = static_cast<T>(sums[C + c] / static_cast<double>(rows));
  }
  parallel_for(rows, rows * C >= kParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t i = r * C + c;
        const T gr = masked_grad<Relu>(dy[i], x[i], mean[c], scale[c], beta[c]);
        const T xhat = (x[i] - mean[c]) * invstd[c];
        dx[i] = scale[c] * (gr - mean_g[c] - xhat * mean_gx[c]);
      }
  });
}

// Inference dx = g * scale (the map is affine per channel).
template <bool Relu, typename T>
void infer_dx(T* dx, const T* dy, const T* x, const T* mean, const T* scale, const T* beta,
              int64_t rows, int64_t C) {
  parallel_for(rows, rows * C >= kParallelMin, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const int64_t i = r * C + c;
        dx[i] = masked_grad<Relu>(dy[i], x[i], mean[c], scale[c], beta[c]) * scale[c];
      }
  });
}

}  // namespace

template <typename T>
void batchnorm_forward_train_cpu(T* y, T* save_mean, T* save_invstd, T* running_mean,
                                 T* running_var, const T* x, const T* gamma, const T* beta,
                                 const BatchNormGeometry& g, T eps, T momentum, bool relu) {
  const int64_t rows = g.rows, C = g.channels;
  const double inv_rows = 1.0 / static_cast<double>(rows);

  // Two passes, both accumulated in double. One pass (E[x^2] - E[x]^2)
  // cancels catastrophically when |mean| >> std, which real activations do
  // (e.g. a channel at 50 +- 0.1 loses every digit of its variance in float).
  // Subtracting the mean first avoids the cancellation, and the double
  // accumulator keeps the rounding of a 400k-row sum (N*112*112) far below
  // float precision, where a float accumulator would lose ~19 bits.
  std::vector<double> mean(C), var(C);
  reduce_rows<1>(mean.data(), rows, C, [&](int64_t r, int64_t c0, int64_t c1, double* acc) {
    const T* x_r = x + r * C;
    for (int64_t c = c0; c < c1; ++c) acc[c - c0] += static_cast<double>(x_r[c]);
  });
  for (int64_t c = 0; c < C; ++c) mean[c] *= inv_rows;
  reduce_rows<1>(var.data(), rows, C, [&](int64_t r, int64_t c0, int64_t c1, double* acc) {
    const T* x_r = x + r * C;
    for (int64_t c = c0; c < c1; ++c) {
      const double d = static_cast<double>(x_r[c]) - mean[c];
      acc[c - c0] += d * d;
    }
  });

  std::vector<T> scale(C);
  const double m = static_cast<double>(momentum);
  for (int64_t c = 0; c < C; ++c) {
    var[c] *= inv_rows;  // biased, as Keras normalises and as it tracks
    save_mean[c] = static_cast<T>(mean[c]);
    save_invstd[c] = static_cast<T>(1.0 / std::sqrt(var[c] + static_cast<double>(eps)));
    scale[c] = gamma[c] * save_invstd[c];
    if (running_mean)
      running_mean[c] = static_cast<T>(m * running_mean[c] + (1.0 - m) * mean[c]);
    if (running_var) running_var[c] = static_cast<T>(m * running_var[c] + (1.0 - m) * var[c]);
  }
  (relu ? affine_rows<true, T> : affine_rows<false, T>)(y, x, save_mean, scale.data(), beta, rows,
                                                        C);
}

template <typename T>
void batchnorm_forward_infer_cpu(T* y, const T* x, const T* gamma, const T* beta,
                                 const T* running_mean, const T* running_var,
                                 const BatchNormGeometry& g, T eps, bool relu) {
  const int64_t C = g.channels;
  std::vector<T> scale(C);
  for (int64_t c = 0; c < C; ++c)
    scale[c] = gamma[c] * batchnorm_inference_invstd(running_var[c], eps);
  (relu ? affine_rows<true, T> : affine_rows<false, T>)(y, x, running_mean, scale.data(), beta,
                                                        g.rows, C);
}

template <typename T>
void batchnorm_backward_train_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                  const T* gamma, const T* beta, const T* mean, const T* invstd,
                                  const BatchNormGeometry& g, bool relu) {
  if (!dx && !dgamma && !dbeta) return;
  const int64_t rows = g.rows, C = g.channels;
  std::vector<T> scale(C);
  for (int64_t c = 0; c < C; ++c) scale[c] = gamma[c] * invstd[c];
  // dx needs both sums too, so they are computed whatever is requested.
  std::vector<double> sums(2 * C);
  (relu ? grad_sums<true, T> : grad_sums<false, T>)(sums.data(), dy, x, mean, invstd,
                                                    scale.data(), beta, rows, C);
  for (int64_t c = 0; c < C; ++c) {
    if (dbeta) dbeta[c] = static_cast<T>(sums[c]);
    if (dgamma) dgamma[c] = static_cast<T>(sums[C + c]);
  }
  if (dx)
    (relu ? train_dx<true, T> : train_dx<false, T>)(dx, dy, x, mean, invstd, scale.data(), beta,
                                                    sums.data(), rows, C);
}

template <typename T>
void batchnorm_backward_infer_cpu(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                  const T* gamma, const T* beta, const T* running_mean,
                                  const T* running_var, const BatchNormGeometry& g, T eps,
                                  bool relu) {
  const int64_t rows = g.rows, C = g.channels;
  std::vector<T> invstd(C), scale(C);
  for (int64_t c = 0; c < C; ++c) {
    invstd[c] = batchnorm_inference_invstd(running_var[c], eps);
    scale[c] = gamma[c] * invstd[c];
  }
  // dgamma = sum g * (x - running_mean) * invstd, dbeta = sum g: the same
  // sums as training; dx needs neither (no path through batch statistics).
  if (dgamma || dbeta) {
    std::vector<double> sums(2 * C);
    (relu ? grad_sums<true, T> : grad_sums<false, T>)(sums.data(), dy, x, running_mean,
                                                      invstd.data(), scale.data(), beta, rows, C);
    for (int64_t c = 0; c < C; ++c) {
      if (dbeta) dbeta[c] = static_cast<T>(sums[c]);
      if (dgamma) dgamma[c] = static_cast<T>(sums[C + c]);
    }
  }
  if (dx)
    (relu ? infer_dx<true, T> : infer_dx<false, T>)(dx, dy, x, running_mean, scale.data(), beta,
                                                    rows, C);
}

template <typename T>
void batchnorm_shift_running_mean_cpu(T* running_mean, const T* shift, int64_t channels,
                                      T momentum) {
  // In double and rounded once, like the running update itself.
  const double keep = 1.0 - static_cast<double>(momentum);
  for (int64_t c = 0; c < channels; ++c)
    running_mean[c] = static_cast<T>(static_cast<double>(running_mean[c]) +
                                     keep * static_cast<double>(shift[c]));
}

#define TL_INSTANTIATE(T)                                                                     \
  template void batchnorm_shift_running_mean_cpu<T>(T*, const T*, int64_t, T);                \
  template void batchnorm_forward_train_cpu<T>(T*, T*, T*, T*, T*, const T*, const T*,        \
                                               const T*, const BatchNormGeometry&, T, T, bool); \
  template void batchnorm_forward_infer_cpu<T>(T*, const T*, const T*, const T*, const T*,    \
                                               const T*, const BatchNormGeometry&, T, bool);  \
  template void batchnorm_backward_train_cpu<T>(T*, T*, T*, const T*, const T*, const T*,     \
                                                const T*, const T*, const T*,                 \
                                                const BatchNormGeometry&, bool);              \
  template void batchnorm_backward_infer_cpu<T>(T*, T*, T*, const T*, const T*, const T*,     \
                                                const T*, const T*, const T*,                 \
                                                const BatchNormGeometry&, T, bool);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
