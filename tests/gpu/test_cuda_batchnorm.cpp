// CUDA batch norm vs the CPU reference on the same random inputs: training
// forward (y, the Keras running-statistics update) and backward (dx, dgamma,
// dbeta), inference forward and backward, with and without the fused ReLU,
// over shapes that exercise each launch path (float4 and scalar lanes, one
// and many row blocks, many channel tiles as in the head), a channel with a
// large mean and a tiny spread, and run-to-run reproducibility.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/gpu/cuda_parity.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/batches.h"

namespace tl::test {
namespace {

// Both devices reduce in double, so the batch mean and invstd round to the
// same float except when a double result lies within ~1e-16 of a float
// rounding boundary (probability ~1e-8 per channel); given equal statistics
// y is bit-identical (same float expression). The bound allows one ulp of
// invstd on |y| <= ~6: 6 * 1.2e-7 < 1e-6.
constexpr Tolerance kForwardTol{1e-6, 1e-6};
// Running statistics: m * old + (1 - m) * batch in double, one rounding.
constexpr Tolerance kRunningTol{1e-7, 2.5e-7};
// dgamma / dbeta: double sums (different order on each device) rounded to
// float once: within 1 ulp (|value| up to ~200 for 32k rows).
constexpr Tolerance kParamGradTol{1e-6, 2.5e-7};
// dx = scale * (g - mean(g) - xhat * mean(g xhat)): equal bits given equal
// statistics; one ulp of a mean moves dx by scale * ulp(mean) < 1e-7.
constexpr Tolerance kDxTol{1e-6, 1e-6};

struct BnRun {
  Tensor y, running_mean, running_var, dx, dgamma, dbeta;
};

struct BnInputs {
  Tensor x, gamma, beta, running_mean, running_var, dy;
};

BnInputs make_inputs(const Shape& shape, uint64_t seed, float offset, float spread) {
  const int64_t C = shape.back();
  BnInputs in;
  Tensor u = random_tensor(shape, seed, -spread, spread);
  std::vector<float> xv = u.to_vector();
  for (float& v : xv) v += offset;
  in.x = Tensor::from_vector(shape, xv);
  in.gamma = random_tensor({C}, seed + 1, 0.5f, 1.5f);
  in.beta = random_tensor({C}, seed + 2, -0.5f, 0.5f);
  in.running_mean = random_tensor({C}, seed + 3, -0.5f, 0.5f);
  in.running_var = random_tensor({C}, seed + 4, 0.5f, 2.0f);
  in.dy = random_tensor(shape, seed + 5);
  return in;
}

// A private copy on ctx's device (the op updates running statistics in place).
Tensor copy_on(Context& ctx, const Tensor& host) {
  return ctx.to_device(Tensor::from_vector(host.shape(), host.to_vector()));
}

// bf16: x and dy cast to bfloat16 on ctx (the op then returns bf16 y and dx).
BnRun run_bn(Context& ctx, const BnInputs& in, ops::BatchNormOptions options, bool bf16 = false) {
  Tensor x = copy_on(ctx, in.x);
  if (bf16) x = ops::cast(ctx, x, DType::BF16);
  Tensor gamma = copy_on(ctx, in.gamma), beta = copy_on(ctx, in.beta);
  if (options.shift.defined()) options.shift = copy_on(ctx, options.shift);
  x.set_requires_grad(true);
  gamma.set_requires_grad(true);
  beta.set_requires_grad(true);
  BnRun r;
  Tensor rm = copy_on(ctx, in.running_mean), rv = copy_on(ctx, in.running_var);
  Tensor y = ops::batchnorm(ctx, x, gamma, beta, rm, rv, options);
  EXPECT_EQ(y.dtype(), x.dtype());
  const Tensor dy = ctx.to_device(in.dy);
  backward(ctx, y, bf16 ? ops::cast(ctx, dy, DType::BF16) : dy);
  EXPECT_EQ(x.grad().dtype(), x.dtype());
  r.y = host_float32(y);  // bf16 widened
  r.dx = host_float32(x.grad());
  r.running_mean = ctx.to_host(rm);
  r.running_var = ctx.to_host(rv);
  r.dgamma = ctx.to_host(gamma.grad());
  r.dbeta = ctx.to_host(beta.grad());
  return r;
}

// bf16 (x, y, dy, dx in bfloat16): the GPU's bf16 kernels against the CPU's
// bf16 reference (the float32 op between casts). Statistics and parameter
// gradients come from the same bf16 values on both, so they keep the float32
// bounds; y and dx are then rounded to bf16, and a float value a hair either
// side of a rounding boundary rounds one bf16 ulp apart (2^-7 of the value
// at most), on top of the float32 bound.
constexpr Tolerance kBf16ActivationTol{1e-6, 1.0 / 128 + 1e-6};

void compare_bn(Context& gpu, const Shape& shape, bool training, bool relu, uint64_t seed,
                float offset = 0.0f, float spread = 2.0f, bool shifted = false, bool bf16 = false) {
  const std::string what = std::string(bf16 ? "bf16 " : "") + (training ? "train" : "infer") +
                           (relu ? "+relu " : " ") + shape_str(shape) + " ";
  Context cpu(Device::CPU);
  cpu.set_poison_allocations(true);
  const BnInputs in = make_inputs(shape, seed, offset, spread);
  ops::BatchNormOptions options;
  options.training = training;
  options.relu = relu;
  options.eps = 1.001e-5f;
  options.momentum = 0.99f;
  // A conv bias the BN takes as a shift (ops::BatchNormOptions::shift): the
  // running mean update gains (1 - m) * shift, in double, as on the CPU.
  if (shifted) options.shift = random_tensor({shape.back()}, seed + 6, -1.0f, 1.0f);
  const BnRun c = run_bn(cpu, in, options, bf16);
  const BnRun g = run_bn(gpu, in, options, bf16);
  EXPECT_TRUE(all_close(g.y, c.y, bf16 ? kBf16ActivationTol : kForwardTol, what + "y"));
  EXPECT_TRUE(all_close(g.running_mean, c.running_mean, kRunningTol, what + "running_mean"));
  EXPECT_TRUE(all_close(g.running_var, c.running_var, kRunningTol, what + "running_var"));
  EXPECT_TRUE(all_close(g.dx, c.dx, bf16 ? kBf16ActivationTol : kDxTol, what + "dx"));
  EXPECT_TRUE(all_close(g.dgamma, c.dgamma, kParamGradTol, what + "dgamma"));
  EXPECT_TRUE(all_close(g.dbeta, c.dbeta, kParamGradTol, what + "dbeta"));
  if (!training) {  // inference never writes the running statistics
    EXPECT_TRUE(bit_identical(g.running_mean, in.running_mean, what + "running_mean untouched"));
    EXPECT_TRUE(bit_identical(g.running_var, in.running_var, what + "running_var untouched"));
  }
}

// (2,5,7,64): C % 4 == 0, float4 lanes, one row block.
TEST(CudaParity, BatchNormTrainConvShape) {
  TL_REQUIRE_GPU(gpu);
  compare_bn(*gpu, {2, 5, 7, 64}, true, false, 1);
  compare_bn(*gpu, {2, 5, 7, 64}, true, true, 2);
}

// The conv bias as a shift: the running mean moved on the device as on the CPU.
TEST(CudaParity, BatchNormTrainWithShift) {
  TL_REQUIRE_GPU(gpu);
  compare_bn(*gpu, {2, 5, 7, 64}, true, true, 3, 0.0f, 2.0f, /*shifted=*/true);
  compare_bn(*gpu, {6, 37}, true, false, 4, 0.0f, 2.0f, /*shifted=*/true);
}

// (6, 37): a 1-D BN after Dense with an odd channel count: scalar lanes.
TEST(CudaParity, BatchNormTrainOddChannels) {
  TL_REQUIRE_GPU(gpu);
  compare_bn(*gpu, {6, 37}, true, false, 3);
  compare_bn(*gpu, {6, 37}, true, true, 4);
}

// Many rows, few channels: the reduction splits the rows over many blocks
// (64 row blocks for 32,768 rows x 32 channels) and the finalize kernel
// adds them in its tree.
TEST(CudaParity, BatchNormTrainManyRowBlocks) {
  TL_REQUIRE_GPU(gpu);
  compare_bn(*gpu, {8, 64, 64, 32}, true, true, 5);
  compare_bn(*gpu, {4, 33, 33, 8}, true, false, 6);
}

// The head's shape: few rows, very many channels (many channel tiles).
TEST(CudaParity, BatchNormTrainHeadShape) {
  TL_REQUIRE_GPU(gpu);
  compare_bn(*gpu, {3, 6000}, true, false, 7);
  compare_bn(*gpu, {4, 2, 2, 1003}, true, true, 8);
}

// Channels at 50 +- 0.1: the naive E[x^2] - E[x]^2 in float would lose the
// variance; the shifted double sums must agree with the CPU's two passes.
TEST(CudaParity, BatchNormTrainLargeMean) {
  TL_REQUIRE_GPU(gpu);
  compare_bn(*gpu, {2, 9, 9, 16}, true, false, 9, 50.0f, 0.1f);
}

// The bf16 kernels (--precision bf16): float4-style lanes (4 bf16 in 8
// bytes) and scalar ones, many row blocks, the shift, inference.
TEST(CudaParity, BatchNormBf16) {
  TL_REQUIRE_GPU(gpu);
  compare_bn(*gpu, {2, 5, 7, 64}, true, true, 21, 0.0f, 2.0f, false, /*bf16=*/true);
  compare_bn(*gpu, {2, 5, 7, 64}, true, true, 22, 0.0f, 2.0f, /*shifted=*/true, true);
  compare_bn(*gpu, {6, 37}, true, false, 23, 0.0f, 2.0f, false, true);
  compare_bn(*gpu, {8, 64, 64, 32}, true, true, 24, 0.0f, 2.0f, false, true);
  compare_bn(*gpu, {2, 5, 7, 64}, false, true, 25, 0.0f, 2.0f, false, true);
  compare_bn(*gpu, {6, 37}, false, false, 26, 0.0f, 2.0f, false, true);
}

// batchnorm_add_relu: the GPU normalises, adds the residual and clips in one
// pass; the CPU is the composition add_relu(residual, batchnorm(x)). Same
// bounds as the BN alone: given equal statistics the float32 values are
// the same expressions (the add rounded once, as add_relu's), and the
// gradients are the BN's backward of the ReLU-masked dy. bf16 rounds once
// at the end on both.
void compare_bn_add_relu(Context& gpu, const Shape& shape, bool training, bool bf16,
                         uint64_t seed) {
  const std::string what = std::string("add_relu ") + (bf16 ? "bf16 " : "") +
                           (training ? "train " : "infer ") + shape_str(shape) + " ";
  Context cpu(Device::CPU);
  const BnInputs in = make_inputs(shape, seed, 0.0f, 2.0f);
  const Tensor residual = random_tensor(shape, seed + 7);
  ops::BatchNormOptions options;
  options.training = training;
  options.eps = 1.001e-5f;
  if (training) options.shift = random_tensor({shape.back()}, seed + 8);
  const auto run = [&](Context& ctx) {
    Tensor x = copy_on(ctx, in.x), r = copy_on(ctx, residual);
    if (bf16) {
      x = ops::cast(ctx, x, DType::BF16);
      r = ops::cast(ctx, r, DType::BF16);
    }
    Tensor gamma = copy_on(ctx, in.gamma), beta = copy_on(ctx, in.beta);
    Tensor rm = copy_on(ctx, in.running_mean), rv = copy_on(ctx, in.running_var);
    for (Tensor* t : {&x, &r, &gamma, &beta}) t->set_requires_grad(true);
    ops::BatchNormOptions o = options;
    if (o.shift.defined()) o.shift = copy_on(ctx, o.shift);
    const Tensor y = ops::batchnorm_add_relu(ctx, x, r, gamma, beta, rm, rv, o);
    const Tensor dy = ctx.to_device(in.dy);
    backward(ctx, y, bf16 ? ops::cast(ctx, dy, DType::BF16) : dy);
    return std::vector<Tensor>{host_float32(y), host_float32(x.grad()), host_float32(r.grad()),
                               host_float32(gamma.grad()), host_float32(beta.grad()),
                               host_float32(rm), host_float32(rv)};
  };
  const std::vector<Tensor> c = run(cpu), g = run(gpu);
  const Tolerance activation = bf16 ? kBf16ActivationTol : kForwardTol;
  EXPECT_TRUE(all_close(g[0], c[0], activation, what + "y"));
  EXPECT_TRUE(all_close(g[1], c[1], bf16 ? kBf16ActivationTol : kDxTol, what + "dx"));
  EXPECT_TRUE(all_close(g[2], c[2], {0.0, 0.0}, what + "dresidual"));  // masked dy: exact
  EXPECT_TRUE(all_close(g[3], c[3], kParamGradTol, what + "dgamma"));
  EXPECT_TRUE(all_close(g[4], c[4], kParamGradTol, what + "dbeta"));
  EXPECT_TRUE(all_close(g[5], c[5], kRunningTol, what + "running_mean"));
  EXPECT_TRUE(all_close(g[6], c[6], kRunningTol, what + "running_var"));
}

TEST(CudaParity, BatchNormAddRelu) {
  TL_REQUIRE_GPU(gpu);
  compare_bn_add_relu(*gpu, {2, 5, 7, 64}, true, false, 31);
  compare_bn_add_relu(*gpu, {4, 33, 33, 8}, true, false, 32);
  compare_bn_add_relu(*gpu, {2, 5, 7, 64}, false, false, 33);
  compare_bn_add_relu(*gpu, {2, 5, 7, 64}, true, true, 34);
  compare_bn_add_relu(*gpu, {6, 37}, false, true, 35);
}

TEST(CudaParity, BatchNormInference) {
  TL_REQUIRE_GPU(gpu);
  compare_bn(*gpu, {2, 5, 7, 64}, false, false, 10);
  compare_bn(*gpu, {2, 5, 7, 64}, false, true, 11);
  compare_bn(*gpu, {6, 37}, false, true, 12);
  compare_bn(*gpu, {4, 33, 33, 8}, false, true, 13);
}

// The reductions use a fixed partition and fixed combination order: two
// runs give the same bits.
TEST(CudaParity, BatchNormReproducible) {
  TL_REQUIRE_GPU(gpu);
  const BnInputs in = make_inputs({8, 64, 64, 32}, 14, 0.0f, 2.0f);
  ops::BatchNormOptions options;
  options.relu = true;
  const BnRun a = run_bn(*gpu, in, options);
  const BnRun b = run_bn(*gpu, in, options);
  EXPECT_TRUE(bit_identical(a.y, b.y, "y"));
  EXPECT_TRUE(bit_identical(a.running_var, b.running_var, "running_var"));
  EXPECT_TRUE(bit_identical(a.dx, b.dx, "dx"));
  EXPECT_TRUE(bit_identical(a.dgamma, b.dgamma, "dgamma"));
}

// NaN through BN + fused ReLU, GPU against CPU: one NaN in channel 3 of x.
// Training: the whole channel's statistics, y, dx, dgamma and dbeta become
// NaN (the batch mean is NaN), the other channels are untouched.
// Inference: only that element's y is NaN, and its gradient passes (the
// ReLU's gradient at NaN is dy, as PyTorch). NaNs compare as "both NaN"
// (CUDA's NaN is canonical; the CPU keeps the input's payload).
::testing::AssertionResult close_or_both_nan(const Tensor& actual, const Tensor& expected, Tolerance tol,
                                             const std::string& what) {
  const std::vector<float> a = actual.to_vector(), e = expected.to_vector();
  if (a.size() != e.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(e[i])) continue;
    if (!(std::fabs(double(a[i]) - double(e[i])) <= tol.atol + tol.rtol * std::fabs(double(e[i]))))
      return ::testing::AssertionFailure() << what << "[" << i << "]: " << a[i] << ", expected " << e[i];
  }
  return ::testing::AssertionSuccess();
}

TEST(CudaParity, BatchNormFusedReluPropagatesNaN) {
  TL_REQUIRE_GPU(gpu);
  const Shape shape{2, 3, 3, 8};  // 18 rows x 8 channels
  constexpr int64_t kC = 8, kChannel = 3, kRow = 4;
  for (bool training : {true, false}) {
    const std::string what = std::string(training ? "train" : "infer") + "+relu nan ";
    BnInputs in = make_inputs(shape, 31, 0.0f, 2.0f);
    std::vector<float> xv = in.x.to_vector();
    xv[kRow * kC + kChannel] = std::numeric_limits<float>::quiet_NaN();
    in.x = Tensor::from_vector(shape, xv);
    ops::BatchNormOptions options;
    options.training = training;
    options.relu = true;
    options.eps = 1.001e-5f;
    Context cpu(Device::CPU);
    const BnRun c = run_bn(cpu, in, options);
    // The reference must show the NaN, or this test proves nothing.
    const std::vector<float> yc = c.y.to_vector();
    ASSERT_TRUE(std::isnan(yc[kRow * kC + kChannel])) << what;
    if (training) ASSERT_TRUE(std::isnan(yc[kChannel]) && std::isnan(c.running_mean.to_vector()[kChannel])) << what;
    const BnRun g = run_bn(*gpu, in, options);
    EXPECT_TRUE(close_or_both_nan(g.y, c.y, kForwardTol, what + "y"));
    EXPECT_TRUE(close_or_both_nan(g.running_mean, c.running_mean, kRunningTol, what + "running_mean"));
    EXPECT_TRUE(close_or_both_nan(g.running_var, c.running_var, kRunningTol, what + "running_var"));
    EXPECT_TRUE(close_or_both_nan(g.dx, c.dx, kDxTol, what + "dx"));
    EXPECT_TRUE(close_or_both_nan(g.dgamma, c.dgamma, kParamGradTol, what + "dgamma"));
    EXPECT_TRUE(close_or_both_nan(g.dbeta, c.dbeta, kParamGradTol, what + "dbeta"));
  }
}

}  // namespace
}  // namespace tl::test
