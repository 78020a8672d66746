// Plain reference for batch normalisation over the channels of x (rows, C),
// with the optional fused ReLU (kernels/reference/batchnorm.h). Channel c:
//
//   training forward   mean = sum_r x / rows
//                      var  = sum_r (x - mean)^2 / rows      (biased, as Keras)
//                      invstd = 1 / sqrt(var + eps)
//                      y    = relu?(gamma * (x - mean) * invstd + beta)
//                      running = momentum * running + (1 - momentum) * batch statistic
//   inference forward  the same with running_mean and running_var, nothing updated
//   backward           g    = dy where the ReLU let the value through, else 0
//                      xhat = (x - mean) * invstd
//                      dbeta = sum_r g,   dgamma = sum_r g * xhat
//                      training:  dx = gamma * invstd * (g - mean_r(g) - xhat * mean_r(g * xhat))
//                      inference: dx = gamma * invstd * g
//
// The two training-dx terms after g are the paths through the batch mean and
// the batch variance; in inference the statistics are constants, so dx is
// just the affine map's slope.
//
// Each channel is one loop over the rows per step (the rows of a channel are
// C apart in memory: slow, and plain). Every statistic and sum is in double;
// the variance takes a second pass over (x - mean), which does not cancel.
#include "kernels/reference/batchnorm.h"

#include <cmath>
#include <cstddef>
#include <vector>

#include "kernels/elementwise.h"  // relu_value, relu_passes: tl's one ReLU rule

namespace tl {

namespace {

// gamma * (x - mean) * invstd + beta for one element, in double: the value
// before the ReLU. The forward and the backward both call this with the same
// operands, so the backward's ReLU mask is exactly the forward's.
template <typename T>
double preactivation(T x, T mean, double invstd, T gamma, T beta) {
  return static_cast<double>(gamma) * (static_cast<double>(x) - static_cast<double>(mean)) *
             invstd +
         static_cast<double>(beta);
}

// The gradient reaching the pre-activation: dy, or 0 where the ReLU clipped
// (NaN passes, as in PyTorch: relu_passes).
template <typename T>
double masked_grad(T dy, double preactivation, bool relu) {
  return relu && !relu_passes(preactivation) ? 0.0 : static_cast<double>(dy);
}

// 1 / sqrt(running_var + eps): inference normalises with the running variance.
template <typename T>
double infer_invstd(T running_var, T eps) {
  return 1.0 / std::sqrt(static_cast<double>(running_var) + static_cast<double>(eps));
}

// The backward shared by training and inference, channel by channel, given
// each channel's mean and 1/std (in training the saved batch statistics, in
// inference the running ones). With `through_statistics` (training), dx also
// flows through the batch mean and variance.
template <typename T>
void backward_by_channel(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const T* gamma,
                         const T* beta, const T* mean, const std::vector<double>& invstd,
                         const BatchNormGeometry& g, bool relu, bool through_statistics) {
  const int64_t rows = g.rows, C = g.channels;
  for (int64_t c = 0; c < C; ++c) {
    auto grad_at = [&](int64_t r) {  // g of row r
      const int64_t i = r * C + c;
      return masked_grad(dy[i], preactivation(x[i], mean[c], invstd[c], gamma[c], beta[c]), relu);
    };
    auto xhat_at = [&](int64_t r) {
      return (static_cast<double>(x[r * C + c]) - static_cast<double>(mean[c])) * invstd[c];
    };
    // Step 1: the two sums over the rows; they are dbeta and dgamma.
    double sum_g = 0, sum_gx = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double grad = grad_at(r);
      sum_g += grad;
      sum_gx += grad * xhat_at(r);
    }
    if (dbeta) dbeta[c] = static_cast<T>(sum_g);
    if (dgamma) dgamma[c] = static_cast<T>(sum_gx);
    if (!dx) continue;
    // Step 2: dx = slope * g, less (training only) the paths through the
    // batch mean and the batch variance.
    const double slope = static_cast<double>(gamma[c]) * invstd[c];
    const double mean_g = sum_g / static_cast<double>(rows);
    const double mean_gx = sum_gx / static_cast<double>(rows);
    for (int64_t r = 0; r < rows; ++r) {
      double grad = grad_at(r);
      if (through_statistics) grad = grad - mean_g - xhat_at(r) * mean_gx;
      dx[r * C + c] = static_cast<T>(slope * grad);
    }
  }
}

}  // namespace

template <typename T>
void batchnorm_forward_train_reference(T* y, T* save_mean, T* save_invstd, T* running_mean,
                                       T* running_var, const T* x, const T* gamma, const T* beta,
                                       const BatchNormGeometry& g, T eps, T momentum, bool relu) {
  const int64_t rows = g.rows, C = g.channels;
  const double m = static_cast<double>(momentum);
  for (int64_t c = 0; c < C; ++c) {
    // Step 1: the batch mean.
    double sum = 0;
    for (int64_t r = 0; r < rows; ++r) sum += static_cast<double>(x[r * C + c]);
    const double mean = sum / static_cast<double>(rows);
    // Step 2: the biased batch variance, from the deviations.
    double squares = 0;
    for (int64_t r = 0; r < rows; ++r) {
      const double d = static_cast<double>(x[r * C + c]) - mean;
      squares += d * d;
    }
    const double var = squares / static_cast<double>(rows);
    // Step 3: what the backward gets, rounded to T (that is all it will see).
    save_mean[c] = static_cast<T>(mean);
    save_invstd[c] = static_cast<T>(1.0 / std::sqrt(var + static_cast<double>(eps)));
    // Step 4: the running statistics, Keras's way (momentum keeps the old value).
    if (running_mean) running_mean[c] = static_cast<T>(m * running_mean[c] + (1.0 - m) * mean);
    if (running_var) running_var[c] = static_cast<T>(m * running_var[c] + (1.0 - m) * var);
    // Step 5: normalise, scale, shift, ReLU, from the saved statistics so
    // that the backward recomputes the same ReLU mask.
    for (int64_t r = 0; r < rows; ++r) {
      const double v = preactivation(x[r * C + c], save_mean[c],
                                     static_cast<double>(save_invstd[c]), gamma[c], beta[c]);
      y[r * C + c] = static_cast<T>(relu ? relu_value(v) : v);
    }
  }
}

template <typename T>
void batchnorm_forward_infer_reference(T* y, const T* x, const T* gamma, const T* beta,
                                       const T* running_mean, const T* running_var,
                                       const BatchNormGeometry& g, T eps, bool relu) {
  const int64_t rows = g.rows, C = g.channels;
  for (int64_t c = 0; c < C; ++c) {
    const double invstd = infer_invstd(running_var[c], eps);
    for (int64_t r = 0; r < rows; ++r) {
      const double v = preactivation(x[r * C + c], running_mean[c], invstd, gamma[c], beta[c]);
      y[r * C + c] = static_cast<T>(relu ? relu_value(v) : v);
    }
  }
}

template <typename T>
void batchnorm_backward_train_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                        const T* gamma, const T* beta, const T* mean,
                                        const T* invstd, const BatchNormGeometry& g, bool relu) {
  const std::vector<double> inv(invstd, invstd + g.channels);  // the saved 1/std
  backward_by_channel(dx, dgamma, dbeta, dy, x, gamma, beta, mean, inv, g, relu,
                      /*through_statistics=*/true);
}

template <typename T>
void batchnorm_backward_infer_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x,
                                        const T* gamma, const T* beta, const T* running_mean,
                                        const T* running_var, const BatchNormGeometry& g, T eps,
                                        bool relu) {
  std::vector<double> inv(static_cast<size_t>(g.channels));
  for (int64_t c = 0; c < g.channels; ++c) inv[c] = infer_invstd(running_var[c], eps);
  backward_by_channel(dx, dgamma, dbeta, dy, x, gamma, beta, running_mean, inv, g, relu,
                      /*through_statistics=*/false);
}

#define TL_INSTANTIATE(T)                                                                      \
  template void batchnorm_forward_train_reference<T>(T*, T*, T*, T*, T*, const T*, const T*,   \
                                                     const T*, const BatchNormGeometry&, T, T, \
                                                     bool);                                    \
  template void batchnorm_forward_infer_reference<T>(T*, const T*, const T*, const T*,         \
                                                     const T*, const T*,                       \
                                                     const BatchNormGeometry&, T, bool);       \
  template void batchnorm_backward_train_reference<T>(T*, T*, T*, const T*, const T*,          \
                                                      const T*, const T*, const T*, const T*,  \
                                                      const BatchNormGeometry&, bool);         \
  template void batchnorm_backward_infer_reference<T>(T*, T*, T*, const T*, const T*,          \
                                                      const T*, const T*, const T*, const T*,  \
                                                      const BatchNormGeometry&, T, bool);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
