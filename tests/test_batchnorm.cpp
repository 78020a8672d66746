// batchnorm (training and inference, with and without the fused ReLU):
// gradient checks of the plain reference kernels (double), PyTorch parity of
// ops::batchnorm on both CPU tiers (y, dx, dgamma, dbeta and the Keras
// running-statistics update), and the running statistics' contract
// (inference never writes them). The fast path's tiles against the
// reference: tests/test_cpu_fast_vs_reference.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/batchnorm.h"
#include "kernels/reference/batchnorm.h"
#include "tests/support/compare.h"
#include "tests/support/cpu_tiers.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace tl::test {
namespace {

// float32 normalisation vs float64 PyTorch: outputs up to ~5, measured max
// error 4.8e-7 (one float ulp); the bound leaves ~5x room across platforms.
constexpr Tolerance kBnForwardTol{2e-6, 2e-6};
// Gradients: dx subtracts two per-channel means from dy (cancellation) and
// dgamma sums up to 40 float products (|dgamma| ~ 6); measured max 1.4e-6.
constexpr Tolerance kBnGradTol{5e-6, 5e-6};
// Running statistics: one float32 rounding of m * old + (1 - m) * batch
// (measured 1.2e-7); an unbiased variance would be off by ~3e-4.
constexpr Tolerance kRunningTol{1e-6, 1e-6};
// Hand-computed float32 results of size ~1-4: a few ulps.
constexpr double kHandTol = 1e-6;

// ---- gradient checks (the reference kernels, in double) ------------------

constexpr BatchNormGeometry kGeom{12, 3};  // e.g. (N=2, H=3, W=2, C=3)
constexpr double kEps = 1e-3;

// Inputs away from the ReLU kink most of the time; gamma away from 0.
Buffers bn_inputs(uint64_t seed) {
  const auto n = static_cast<size_t>(kGeom.rows * kGeom.channels);
  const auto c = static_cast<size_t>(kGeom.channels);
  return {random_doubles(n, seed, -2.0, 2.0), random_doubles(c, seed + 1, 0.5, 1.5),
          random_doubles(c, seed + 2, -0.5, 0.5)};
}

void gradcheck_bn_train(bool relu) {
  const auto n = static_cast<size_t>(kGeom.rows * kGeom.channels);
  const auto c = static_cast<size_t>(kGeom.channels);
  ForwardFn f = [&](const Buffers& in) {
    std::vector<double> y(n), mean(c), invstd(c);
    batchnorm_forward_train_reference<double>(y.data(), mean.data(), invstd.data(), nullptr,
                                              nullptr, in[0].data(), in[1].data(), in[2].data(),
                                              kGeom, kEps, 0.99, relu);
    return y;
  };
  BackwardFn b = [&](const Buffers& in, const std::vector<double>& dy) {
    std::vector<double> y(n), mean(c), invstd(c), dx(n), dgamma(c), dbeta(c);
    batchnorm_forward_train_reference<double>(y.data(), mean.data(), invstd.data(), nullptr,
                                              nullptr, in[0].data(), in[1].data(), in[2].data(),
                                              kGeom, kEps, 0.99, relu);
    batchnorm_backward_train_reference<double>(dx.data(), dgamma.data(), dbeta.data(), dy.data(),
                                               in[0].data(), in[1].data(), in[2].data(),
                                               mean.data(), invstd.data(), kGeom, relu);
    return Buffers{dx, dgamma, dbeta};
  };
  EXPECT_TRUE(gradcheck(f, b, bn_inputs(relu ? 21 : 11)));
}

void gradcheck_bn_infer(bool relu) {
  const auto n = static_cast<size_t>(kGeom.rows * kGeom.channels);
  const auto c = static_cast<size_t>(kGeom.channels);
  const std::vector<double> rmean = random_doubles(c, 31, -0.5, 0.5);
  const std::vector<double> rvar = random_doubles(c, 32, 0.5, 2.0);
  ForwardFn f = [&](const Buffers& in) {
    std::vector<double> y(n);
    batchnorm_forward_infer_reference<double>(y.data(), in[0].data(), in[1].data(),
                                              in[2].data(), rmean.data(), rvar.data(), kGeom,
                                              kEps, relu);
    return y;
  };
  BackwardFn b = [&](const Buffers& in, const std::vector<double>& dy) {
    std::vector<double> dx(n), dgamma(c), dbeta(c);
    batchnorm_backward_infer_reference<double>(dx.data(), dgamma.data(), dbeta.data(), dy.data(),
                                               in[0].data(), in[1].data(), in[2].data(),
                                               rmean.data(), rvar.data(), kGeom, kEps, relu);
    return Buffers{dx, dgamma, dbeta};
  };
  EXPECT_TRUE(gradcheck(f, b, bn_inputs(relu ? 41 : 51)));
}

TEST(GradCheck, BatchNormTrain) { gradcheck_bn_train(false); }
TEST(GradCheck, BatchNormTrainRelu) { gradcheck_bn_train(true); }
TEST(GradCheck, BatchNormInfer) { gradcheck_bn_infer(false); }
TEST(GradCheck, BatchNormInferRelu) { gradcheck_bn_infer(true); }

// ---- kernel contracts, on both CPU tiers ---------------------------------

// The training kernels of one CPU tier.
template <typename T>
struct TrainKernels {
  decltype(&batchnorm_forward_train_cpu<T>) forward;
  decltype(&batchnorm_backward_train_cpu<T>) backward;
};
template <typename T>
TrainKernels<T> train_kernels(CpuKernels tier) {
  if (tier == CpuKernels::Reference)
    return {batchnorm_forward_train_reference<T>, batchnorm_backward_train_reference<T>};
  return {batchnorm_forward_train_cpu<T>, batchnorm_backward_train_cpu<T>};
}

// A null gradient pointer skips that gradient and leaves the others unchanged.
TEST(BatchNorm, BackwardComputesOnlyRequestedGradients) {
  const auto n = static_cast<size_t>(kGeom.rows * kGeom.channels);
  const auto c = static_cast<size_t>(kGeom.channels);
  const Buffers in = bn_inputs(61);
  const std::vector<double> dy = random_doubles(n, 62);
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    const TrainKernels<double> bn = train_kernels<double>(tier);
    std::vector<double> y(n), mean(c), invstd(c);
    bn.forward(y.data(), mean.data(), invstd.data(), nullptr, nullptr, in[0].data(), in[1].data(),
               in[2].data(), kGeom, kEps, 0.99, true);
    std::vector<double> dx(n), dgamma(c), dbeta(c);
    bn.backward(dx.data(), dgamma.data(), dbeta.data(), dy.data(), in[0].data(), in[1].data(),
                in[2].data(), mean.data(), invstd.data(), kGeom, true);
    std::vector<double> dx_only(n, -7.0), dgamma_only(c, -7.0);
    bn.backward(dx_only.data(), nullptr, nullptr, dy.data(), in[0].data(), in[1].data(),
                in[2].data(), mean.data(), invstd.data(), kGeom, true);
    bn.backward(nullptr, dgamma_only.data(), nullptr, dy.data(), in[0].data(), in[1].data(),
                in[2].data(), mean.data(), invstd.data(), kGeom, true);
    EXPECT_EQ(dx_only, dx);
    EXPECT_EQ(dgamma_only, dgamma);
  }
}

// The two-pass variance keeps its digits when the mean dwarfs the spread
// (a one-pass E[x^2] - E[x]^2 in float returns garbage here).
TEST(BatchNorm, VarianceOfLargeMeanChannel) {
  const int64_t rows = 4096;
  std::vector<float> x(rows), y(rows);
  for (int64_t r = 0; r < rows; ++r) x[r] = 1000.0f + ((r % 2) ? 0.25f : -0.25f);
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    const float gamma = 1, beta = 0;
    float mean = 0, invstd = 0, rmean = 0, rvar = 1;
    train_kernels<float>(tier).forward(y.data(), &mean, &invstd, &rmean, &rvar, x.data(), &gamma,
                                       &beta, BatchNormGeometry{rows, 1}, 1e-5f, 0.0f, false);
    // Float ulps: 6e-5 at 1000, 5e-7 at 4. A lost variance would be off by O(1).
    constexpr double kMeanTol = 1e-4, kTol = 2e-6;
    EXPECT_NEAR(rvar, 0.0625, kTol);  // momentum 0: the running var is the batch var
    EXPECT_NEAR(mean, 1000.0, kMeanTol);
    EXPECT_NEAR(invstd, 1.0 / std::sqrt(0.0625 + 1e-5), kTol);
    const double y1 = 0.25 / std::sqrt(0.0625 + 1e-5);  // xhat of x = 1000.25
    EXPECT_NEAR(y[0], -y1, kTol);
    EXPECT_NEAR(y[1], y1, kTol);
  }
}

// ---- parity with PyTorch (float32 ops vs float64 torch) -------------------

Tensor param(const Tensor& t) {
  Tensor p = t;
  p.set_requires_grad(true);
  return p;
}

float scalar(const std::string& name, const char* what) {
  return load_reference(name, what).to_vector().at(0);
}

void check_bn_case_on(CpuKernels tier, const std::string& name, bool training) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU);
  ctx.set_cpu_kernels(tier);
  ctx.set_poison_allocations(true);
  Tensor x = param(load_reference(name, "x"));
  Tensor gamma = param(load_reference(name, "gamma"));
  Tensor beta = param(load_reference(name, "beta"));
  Tensor running_mean = load_reference(name, "running_mean");
  Tensor running_var = load_reference(name, "running_var");
  ops::BatchNormOptions options;
  options.training = training;
  options.eps = scalar(name, "eps");
  options.momentum = scalar(name, "momentum");
  options.relu = scalar(name, "relu") != 0.0f;

  Tensor y = ops::batchnorm(ctx, x, gamma, beta, running_mean, running_var, options);
  EXPECT_TRUE(all_close(y, load_reference(name, "y"), kBnForwardTol, name + " y"));
  EXPECT_TRUE(all_close(running_mean, load_reference(name, "new_running_mean"), kRunningTol,
                        name + " running_mean"));
  EXPECT_TRUE(all_close(running_var, load_reference(name, "new_running_var"), kRunningTol,
                        name + " running_var"));
  backward(ctx, y, load_reference(name, "dy"));
  EXPECT_TRUE(all_close(x.grad(), load_reference(name, "dx"), kBnGradTol, name + " dx"));
  EXPECT_TRUE(
      all_close(gamma.grad(), load_reference(name, "dgamma"), kBnGradTol, name + " dgamma"));
  EXPECT_TRUE(all_close(beta.grad(), load_reference(name, "dbeta"), kBnGradTol, name + " dbeta"));
}

void check_bn_case(const std::string& name, bool training) {
  for (CpuKernels tier : kCpuTiers) check_bn_case_on(tier, name, training);
}

TEST(Parity, BatchNormTrain4dReluResNetEps) { check_bn_case("bn_train_4d_relu", true); }
TEST(Parity, BatchNormTrain4dKerasEps) { check_bn_case("bn_train_4d", true); }
TEST(Parity, BatchNormTrain2dReluKerasEps) { check_bn_case("bn_train_2d_relu", true); }
TEST(Parity, BatchNormTrain2dResNetEps) { check_bn_case("bn_train_2d", true); }
TEST(Parity, BatchNormInfer4dRelu) { check_bn_case("bn_infer_4d_relu", false); }
TEST(Parity, BatchNormInfer2d) { check_bn_case("bn_infer_2d", false); }

// ---- the running statistics' contract ------------------------------------

// x: (N=4, C=2); channel 0 = {1, 2, 3, 6}, channel 1 = {-1, -1, 1, 5}.
const std::vector<float> kX = {1, -1, 2, -1, 3, 1, 6, 5};

void inference_leaves_running_statistics_untouched(CpuKernels tier) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU);
  ctx.set_cpu_kernels(tier);
  Tensor x = param(Tensor::from_vector({4, 2}, kX));
  Tensor gamma = param(Tensor::from_vector({2}, {1.5f, 0.5f}));
  Tensor beta = param(Tensor::from_vector({2}, {0.1f, -0.2f}));
  const std::vector<float> mean0 = {0.3f, -0.7f}, var0 = {2.0f, 0.25f};
  Tensor running_mean = Tensor::from_vector({2}, mean0);
  Tensor running_var = Tensor::from_vector({2}, var0);
  ops::BatchNormOptions options;
  options.training = false;
  options.relu = true;
  Tensor y = ops::batchnorm(ctx, x, gamma, beta, running_mean, running_var, options);
  backward(ctx, y, Tensor::full({4, 2}, 1.0f));
  EXPECT_EQ(running_mean.to_vector(), mean0);  // bit for bit
  EXPECT_EQ(running_var.to_vector(), var0);
  EXPECT_TRUE(x.grad().defined());  // gradients still flow in inference mode
  EXPECT_TRUE(gamma.grad().defined());
  // y = relu(gamma * (x - rm) / sqrt(rv + eps) + beta), element (0, 0).
  const double y00 = 1.5 * (1.0 - 0.3) / std::sqrt(2.0 + 1e-3) + 0.1;
  EXPECT_NEAR(y.to_vector()[0], y00, kHandTol);
}

TEST(BatchNorm, InferenceLeavesRunningStatisticsUntouched) {
  for (CpuKernels tier : kCpuTiers) inference_leaves_running_statistics_untouched(tier);
}

void training_updates_running_statistics_keras_style(CpuKernels tier) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU);
  ctx.set_cpu_kernels(tier);
  Tensor x = Tensor::from_vector({4, 2}, kX);
  Tensor gamma = Tensor::from_vector({2}, {1.0f, 1.0f});
  Tensor beta = Tensor::from_vector({2}, {0.0f, 0.0f});
  Tensor running_mean = Tensor::from_vector({2}, {0.3f, -0.7f});
  Tensor running_var = Tensor::from_vector({2}, {2.0f, 0.25f});
  ops::BatchNormOptions options;  // training, momentum 0.99
  options.momentum = 0.9f;
  // Batch: channel 0 mean 3, biased var (4+1+0+9)/4 = 3.5 (unbiased would be 14/3);
  // channel 1 mean 1, biased var (4+4+0+16)/4 = 6.
  const double m = 0.9f;  // the float the op was given
  const std::vector<double> mean1 = {m * 0.3f + (1 - m) * 3.0, m * -0.7f + (1 - m) * 1.0};
  const std::vector<double> var1 = {m * 2.0 + (1 - m) * 3.5, m * 0.25 + (1 - m) * 6.0};
  {
    // Not recording gradients changes nothing: training mode still updates.
    NoGradGuard no_grad(ctx);
    ops::batchnorm(ctx, x, gamma, beta, running_mean, running_var, options);
  }
  for (int c = 0; c < 2; ++c) {
    EXPECT_NEAR(running_mean.to_vector()[c], mean1[c], kHandTol) << "channel " << c;
    EXPECT_NEAR(running_var.to_vector()[c], var1[c], kHandTol) << "channel " << c;
  }
  // A second step compounds from the updated values.
  ops::batchnorm(ctx, x, gamma, beta, running_mean, running_var, options);
  for (int c = 0; c < 2; ++c) {
    const double mean2 = m * mean1[c] + (1 - m) * (c == 0 ? 3.0 : 1.0);
    const double var2 = m * var1[c] + (1 - m) * (c == 0 ? 3.5 : 6.0);
    EXPECT_NEAR(running_mean.to_vector()[c], mean2, kHandTol) << "channel " << c;
    EXPECT_NEAR(running_var.to_vector()[c], var2, kHandTol) << "channel " << c;
  }
}

TEST(BatchNorm, TrainingUpdatesRunningStatisticsKerasStyle) {
  for (CpuKernels tier : kCpuTiers) training_updates_running_statistics_keras_style(tier);
}

// Frozen gamma and beta get no gradient; x still does.
void frozen_affine_gets_no_gradient(CpuKernels tier) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU);
  ctx.set_cpu_kernels(tier);
  Tensor x = param(Tensor::from_vector({4, 2}, kX));
  Tensor gamma = Tensor::from_vector({2}, {1.0f, 2.0f});
  Tensor beta = Tensor::from_vector({2}, {0.0f, 0.5f});
  Tensor running_mean = Tensor::zeros({2}), running_var = Tensor::full({2}, 1.0f);
  Tensor y = ops::batchnorm(ctx, x, gamma, beta, running_mean, running_var, {});
  backward(ctx, y, Tensor::from_vector({4, 2}, {1, 0, 0, 1, 2, 0, 0, -1}));
  EXPECT_TRUE(x.grad().defined());
  EXPECT_FALSE(gamma.grad().defined());
  EXPECT_FALSE(beta.grad().defined());
}

TEST(BatchNorm, FrozenAffineGetsNoGradient) {
  for (CpuKernels tier : kCpuTiers) frozen_affine_gets_no_gradient(tier);
}

TEST(BatchNorm, RejectsBadShapes) {
  Context ctx(Device::CPU);
  Tensor rm = Tensor::zeros({2}), rv = Tensor::full({2}, 1.0f);
  Tensor g2 = Tensor::full({2}, 1.0f), b2 = Tensor::zeros({2}), g3 = Tensor::full({3}, 1.0f);
  EXPECT_THROW(ops::batchnorm(ctx, Tensor::zeros({4, 2}), g3, b2, rm, rv, {}), Error);
  EXPECT_THROW(ops::batchnorm(ctx, Tensor::zeros({2, 3, 2}), g2, b2, rm, rv, {}), Error);
  EXPECT_THROW(ops::batchnorm(ctx, Tensor::zeros({0, 2}), g2, b2, rm, rv, {}), Error);
}

// ---- NaN propagation through the fused ReLU ---------------------------------
// BN + ReLU must pass NaN on as PyTorch's relu(batch_norm(x)) does (see
// test_elementwise.cpp for why). Expected values from PyTorch 1.13,
// BatchNorm1d(2), gamma 1, beta 0, eps 1e-5, x = [[nan, 2], [1, -3]],
// dy = [[2, 3], [5, 7]]:
//   eval:  y = [[nan, 2], [1, 0]] / sqrt(1 + eps),  dx = [[2, 3], [5, 0]] / sqrt(1 + eps)
//   train: y[:, 0] = nan (the batch mean of channel 0 is NaN), dx[:, 0] = nan.
// all_close refuses NaN by design, so the NaN elements are checked one by one.
struct NanCase {
  Tensor x, gamma, beta, running_mean, running_var, y;
};

NanCase run_nan_case(Context& ctx, bool training) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  NanCase c;
  c.x = param(Tensor::from_vector({2, 2}, {nan, 2.0f, 1.0f, -3.0f}));
  c.gamma = param(Tensor::full({2}, 1.0f));
  c.beta = param(Tensor::zeros({2}));
  c.running_mean = Tensor::zeros({2});
  c.running_var = Tensor::full({2}, 1.0f);
  ops::BatchNormOptions options;
  options.training = training;
  options.eps = 1e-5f;
  options.relu = true;
  c.y = ops::batchnorm(ctx, c.x, c.gamma, c.beta, c.running_mean, c.running_var, options);
  backward(ctx, c.y, Tensor::from_vector({2, 2}, {2.0f, 3.0f, 5.0f, 7.0f}));
  return c;
}

void fused_relu_propagates_nan_in_inference(CpuKernels tier) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU);
  ctx.set_cpu_kernels(tier);
  const NanCase c = run_nan_case(ctx, /*training=*/false);
  const std::vector<float> y = c.y.to_vector(), dx = c.x.grad().to_vector();
  const double s = 1.0 / std::sqrt(1.0 + 1e-5);
  EXPECT_TRUE(std::isnan(y[0])) << y[0];
  EXPECT_NEAR(y[1], 2 * s, kHandTol);
  EXPECT_NEAR(y[2], 1 * s, kHandTol);
  EXPECT_EQ(y[3], 0.0f);
  // The ReLU's gradient passes at a NaN activation (PyTorch: not <= 0).
  EXPECT_NEAR(dx[0], 2 * s, kHandTol);
  EXPECT_NEAR(dx[1], 3 * s, kHandTol);
  EXPECT_NEAR(dx[2], 5 * s, kHandTol);
  EXPECT_EQ(dx[3], 0.0f);
}

TEST(BatchNorm, FusedReluPropagatesNaNInInference) {
  for (CpuKernels tier : kCpuTiers) fused_relu_propagates_nan_in_inference(tier);
}

void fused_relu_propagates_nan_in_training(CpuKernels tier) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU);
  ctx.set_cpu_kernels(tier);
  const NanCase c = run_nan_case(ctx, /*training=*/true);
  const std::vector<float> y = c.y.to_vector(), dx = c.x.grad().to_vector();
  EXPECT_TRUE(std::isnan(y[0]) && std::isnan(y[2])) << y[0] << " " << y[2];
  EXPECT_TRUE(std::isnan(dx[0]) && std::isnan(dx[2])) << dx[0] << " " << dx[2];
  EXPECT_TRUE(std::isnan(c.running_mean.to_vector()[0]));
  // Channel 1 ({2, -3}) is untouched by channel 0's NaN: y = [1, 0] (to eps).
  EXPECT_NEAR(y[1], 1.0, 1e-5);
  EXPECT_EQ(y[3], 0.0f);
}

TEST(BatchNorm, FusedReluPropagatesNaNInTraining) {
  for (CpuKernels tier : kCpuTiers) fused_relu_propagates_nan_in_training(tier);
}

}  // namespace
}  // namespace tl::test

// ---- the shift (a conv bias before a training-mode BN, never added) ------

namespace tl::test {
namespace {

// BN of (x, shift) against BN of x + shift added by hand: the same output
// and running variance up to rounding, the running mean moved by the shift,
// the same gradients for x, gamma, beta; the shift's gradient exactly zero.
// Tolerances: kBnForwardTol / kBnGradTol / kRunningTol above (the two sides
// differ only in that one of them rounded x + shift before normalising).
void shift_cancels_in_training(CpuKernels tier) {
  SCOPED_TRACE(tier_name(tier));
  const int64_t N = 3, H = 4, W = 2, C = 5;
  const std::vector<float> xv = random_floats(size_t(N * H * W * C), 41, -2.0f, 2.0f);
  const std::vector<float> sv = random_floats(size_t(C), 42, -1.5f, 1.5f);
  std::vector<float> shifted(xv.size());
  for (size_t i = 0; i < xv.size(); ++i) shifted[i] = xv[i] + sv[i % size_t(C)];
  const std::vector<float> dyv = random_floats(xv.size(), 43, -1.0f, 1.0f);

  struct Run {
    Tensor y, dx, dgamma, dbeta, dshift, running_mean, running_var;
  };
  auto run = [&](const std::vector<float>& input, bool pass_shift) {
    Context ctx(Device::CPU);
    ctx.set_cpu_kernels(tier);
    Tensor x = Tensor::from_vector({N, H, W, C}, input);
    Tensor gamma = Tensor::from_vector({C}, random_floats(size_t(C), 44, 0.5f, 1.5f));
    Tensor beta = Tensor::from_vector({C}, random_floats(size_t(C), 45, -0.5f, 0.5f));
    Tensor shift = Tensor::from_vector({C}, sv);
    x.set_requires_grad(true);
    gamma.set_requires_grad(true);
    beta.set_requires_grad(true);
    shift.set_requires_grad(true);
    Run r;
    r.running_mean = Tensor::from_vector({C}, random_floats(size_t(C), 46, -0.3f, 0.3f));
    r.running_var = Tensor::from_vector({C}, random_floats(size_t(C), 47, 0.5f, 2.0f));
    ops::BatchNormOptions options;
    options.eps = 1.001e-5f;
    options.relu = true;
    if (pass_shift) options.shift = shift;
    r.y = ops::batchnorm(ctx, x, gamma, beta, r.running_mean, r.running_var, options);
    backward(ctx, r.y, Tensor::from_vector(r.y.shape(), dyv));
    r.dx = x.grad(), r.dgamma = gamma.grad(), r.dbeta = beta.grad(), r.dshift = shift.grad();
    return r;
  };
  const Run by_hand = run(shifted, false), with_shift = run(xv, true);
  EXPECT_TRUE(all_close(with_shift.y, by_hand.y, kBnForwardTol, "y"));
  EXPECT_TRUE(
      all_close(with_shift.running_mean, by_hand.running_mean, kRunningTol, "running mean"));
  EXPECT_TRUE(all_close(with_shift.running_var, by_hand.running_var, kRunningTol, "running var"));
  EXPECT_TRUE(all_close(with_shift.dx, by_hand.dx, kBnGradTol, "dx"));
  EXPECT_TRUE(all_close(with_shift.dgamma, by_hand.dgamma, kBnGradTol, "dgamma"));
  EXPECT_TRUE(all_close(with_shift.dbeta, by_hand.dbeta, kBnGradTol, "dbeta"));
  ASSERT_TRUE(with_shift.dshift.defined());
  for (float v : with_shift.dshift.to_vector()) EXPECT_EQ(v, 0.0f);
}

TEST(BatchNorm, ShiftCancelsInTrainingAndOnlyMovesTheRunningMean) {
  for (CpuKernels tier : kCpuTiers) shift_cancels_in_training(tier);
}

TEST(BatchNorm, ShiftInInferenceIsAnErrorThatSaysWhy) {
  Context ctx(Device::CPU);
  const int64_t C = 3;
  Tensor x = Tensor::full({2, C}, 1.0f);
  ops::BatchNormOptions options;
  options.training = false;
  options.shift = Tensor::full({C}, 0.5f);
  try {
    ops::batchnorm(ctx, x, Tensor::full({C}, 1.0f), Tensor::full({C}, 0.0f),
                   Tensor::full({C}, 0.0f), Tensor::full({C}, 1.0f), options);
    FAIL() << "a shift in inference mode was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("shift only cancels in training mode"), std::string::npos)
        << e.what();
  }
}

// batchnorm_add_relu is relu(residual + batchnorm(x)) with the gradient of
// every input: on the CPU the composition of the two ops (each gradient-
// checked on its own), so bit for bit, in both modes, the shift included.
// The GPU's one-pass kernel is held to this in tests/gpu. Its argument
// errors name the op.
TEST(BatchNorm, AddReluIsTheCompositionWithEveryGradient) {
  Context ctx(Device::CPU);
  const Shape shape{2, 3, 2, 4};
  for (bool training : {true, false}) {
    SCOPED_TRACE(training ? "training" : "inference");
    const auto run = [&](bool fused) {
      Tensor x = Tensor::from_vector(shape, random_floats(48, 31, -2.0f, 2.0f));
      Tensor r = Tensor::from_vector(shape, random_floats(48, 32, -1.0f, 1.0f));
      Tensor gamma = Tensor::from_vector({4}, random_floats(4, 33, 0.5f, 1.5f));
      Tensor beta = Tensor::from_vector({4}, random_floats(4, 34, -0.5f, 0.5f));
      Tensor shift = Tensor::from_vector({4}, random_floats(4, 35));
      for (Tensor* t : {&x, &r, &gamma, &beta}) t->set_requires_grad(true);
      if (training) shift.set_requires_grad(true);
      Tensor mean = Tensor::from_vector({4}, random_floats(4, 36)), var = Tensor::full({4}, 1.5f);
      ops::BatchNormOptions options;
      options.training = training;
      options.eps = 1.001e-5f;
      if (training) options.shift = shift;
      const Tensor y = fused ? ops::batchnorm_add_relu(ctx, x, r, gamma, beta, mean, var, options)
                             : ops::add_relu(ctx, r, ops::batchnorm(ctx, x, gamma, beta, mean,
                                                                    var, options));
      backward(ctx, y, Tensor::from_vector(shape, random_floats(48, 37)));
      std::vector<Tensor> out{y, x.grad(), r.grad(), gamma.grad(), beta.grad(), mean, var};
      if (training) out.push_back(shift.grad());
      return out;
    };
    const std::vector<Tensor> fused = run(true), composed = run(false);
    const char* names[] = {"y", "dx", "dresidual", "dgamma", "dbeta", "running mean",
                           "running var", "dshift"};
    for (size_t i = 0; i < fused.size(); ++i)
      EXPECT_TRUE(all_close(fused[i], composed[i], {0.0, 0.0}, names[i]));
  }

  try {
    ops::batchnorm_add_relu(ctx, Tensor::zeros({2, 3}), Tensor::zeros({3, 2}),
                            Tensor::full({3}, 1.0f), Tensor::zeros({3}), Tensor::zeros({3}),
                            Tensor::full({3}, 1.0f), ops::BatchNormOptions());
    FAIL() << "a residual of another shape was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("batchnorm_add_relu: residual has shape (3, 2), x (2, 3)"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace tl::test
