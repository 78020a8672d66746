// upsample_bilinear (half-pixel centres): the taps, gradient checks of the
// plain reference kernels (double) and PyTorch parity (float32) on both CPU
// tiers, for integer factors and mixed up/down sizes.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/reference/upsample.h"
#include "kernels/upsample.h"
#include "tests/support/compare.h"
#include "tests/support/cpu_tiers.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace tl::test {
namespace {

// Forward: a 4-term weighted mean of values of order 1, float32 weights.
constexpr Tolerance kForwardTol{1e-6, 1e-5};
// Backward: each dx sums up to ~64 weighted dy terms in float32 (the x7 and
// 32->224 cases), so the rounding grows with the fan-in.
constexpr Tolerance kBackwardTol{1e-5, 1e-5};

TEST(Upsample, TapsFollowHalfPixelCentres) {
  // 4 -> 28: source = (o + 0.5) / 7 - 0.5.
  BilinearTap t = bilinear_tap(0, 4, 28);  // -0.43, clamped to 0
  EXPECT_EQ(t.i0, 0);
  EXPECT_EQ(t.i1, 1);
  EXPECT_FLOAT_EQ(t.lambda, 0.0f);
  t = bilinear_tap(10, 4, 28);  // 10.5 / 7 - 0.5 = 1.0
  EXPECT_EQ(t.i0, 1);
  EXPECT_EQ(t.i1, 2);
  EXPECT_NEAR(t.lambda, 0.0f, 1e-6);
  t = bilinear_tap(12, 4, 28);  // 12.5 / 7 - 0.5 = 1.2857
  EXPECT_EQ(t.i0, 1);
  EXPECT_EQ(t.i1, 2);
  EXPECT_NEAR(t.lambda, 12.5 / 7 - 1.5, 1e-6);
  t = bilinear_tap(27, 4, 28);  // 3.43: past the last centre, i1 clamped
  EXPECT_EQ(t.i0, 3);
  EXPECT_EQ(t.i1, 3);
  // 7 -> 4 (downsampling): source = (o + 0.5) * 1.75 - 0.5.
  t = bilinear_tap(1, 7, 4);  // 2.125
  EXPECT_EQ(t.i0, 2);
  EXPECT_EQ(t.i1, 3);
  EXPECT_NEAR(t.lambda, 0.125f, 1e-6);
}

void gradcheck_geometry(const UpsampleGeometry& g, uint64_t seed) {
  const size_t n_in = static_cast<size_t>(g.batch * g.in_h * g.in_w * g.channels);
  const size_t n_out = static_cast<size_t>(g.batch * g.out_h * g.out_w * g.channels);
  ForwardFn f = [&](const Buffers& in) {
    std::vector<double> y(n_out);
    upsample_bilinear_forward_reference(y.data(), in[0].data(), g);
    return y;
  };
  BackwardFn b = [&](const Buffers&, const std::vector<double>& dy) {
    std::vector<double> dx(n_in, 123.0);  // the kernel must overwrite, not accumulate
    upsample_bilinear_backward_reference(dx.data(), dy.data(), g);
    return Buffers{dx};
  };
  EXPECT_TRUE(gradcheck(f, b, {random_doubles(n_in, seed)}));
}

TEST(GradCheck, UpsampleBilinearIntegerFactor) {
  UpsampleGeometry g;
  g.batch = 2, g.in_h = 3, g.in_w = 3, g.channels = 2, g.out_h = 9, g.out_w = 6;
  gradcheck_geometry(g, 31);
}

TEST(GradCheck, UpsampleBilinearMixed) {
  UpsampleGeometry g;
  g.batch = 1, g.in_h = 5, g.in_w = 7, g.channels = 2, g.out_h = 9, g.out_w = 4;
  gradcheck_geometry(g, 32);
}

Tensor param(const Tensor& t) {
  Tensor p = t;
  p.set_requires_grad(true);
  return p;
}

void check_parity(const std::string& name, int64_t out_h, int64_t out_w) {
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    Context ctx(Device::CPU);
    ctx.set_cpu_kernels(tier);
    ctx.set_poison_allocations(true);
    Tensor x = param(load_reference(name, "x"));
    Tensor y = ops::upsample_bilinear(ctx, x, out_h, out_w);
    EXPECT_TRUE(all_close(y, load_reference(name, "y"), kForwardTol, name + " y"));
    backward(ctx, y, load_reference(name, "dy"));
    EXPECT_TRUE(all_close(x.grad(), load_reference(name, "dx"), kBackwardTol, name + " dx"));
  }
}

TEST(Parity, UpsampleBilinearX7) { check_parity("upsample_x7", 28, 28); }
TEST(Parity, UpsampleBilinear32To224) { check_parity("upsample_32_224", 224, 224); }
TEST(Parity, UpsampleBilinear5x7To9x4) { check_parity("upsample_5x7_9x4", 9, 4); }
TEST(Parity, UpsampleBilinear5x7To3x11) { check_parity("upsample_5x7_3x11", 3, 11); }

TEST(Upsample, RejectsBadArguments) {
  Context ctx(Device::CPU);
  EXPECT_THROW(ops::upsample_bilinear(ctx, Tensor::zeros({1, 2, 2}), 4, 4), Error);
  EXPECT_THROW(ops::upsample_bilinear(ctx, Tensor::zeros({1, 2, 2, 1}), 0, 4), Error);
}

}  // namespace
}  // namespace tl::test
