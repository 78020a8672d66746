// maxpool2d and global_avgpool: gradient checks of the plain reference
// kernels (double), PyTorch parity of the ops on both CPU tiers, and the
// max-pool rules on both tiers (padding never wins, a tie sends the gradient
// to the first maximum in (ky, kx) order, a NaN wins). The fast path's
// channel blocks against the reference: tests/test_cpu_fast_vs_reference.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/pool.h"
#include "kernels/reference/pool.h"
#include "tests/support/compare.h"
#include "tests/support/cpu_tiers.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace tl::test {
namespace {

// Max pooling copies values; overlapping windows add up to 4 gradients into
// one input, in float32 here and float64 in PyTorch (measured 1.2e-7).
constexpr Tolerance kMaxPoolTol{1e-6, 1e-6};
// Average pooling: a double sum of 20 floats rounded once; dx = dy / 20, one rounding.
constexpr Tolerance kAvgPoolTol{1e-6, 1e-6};

// ---- gradient checks (the reference kernels, in double) ------------------

void gradcheck_maxpool(const PoolGeometry& g, uint64_t seed) {
  const auto n_in = static_cast<size_t>(g.batch * g.in_h * g.in_w * g.channels);
  const auto n_out = static_cast<size_t>(g.batch * g.out_h() * g.out_w() * g.channels);
  ForwardFn f = [&](const Buffers& in) {
    std::vector<double> y(n_out);
    maxpool2d_forward_reference(y.data(), in[0].data(), g);
    return y;
  };
  BackwardFn b = [&](const Buffers& in, const std::vector<double>& dy) {
    std::vector<double> dx(n_in, -7.0);  // must be overwritten, not accumulated into
    maxpool2d_backward_reference(dx.data(), dy.data(), in[0].data(), g);
    return Buffers{dx};
  };
  EXPECT_TRUE(gradcheck(f, b, {random_doubles(n_in, seed)}));
}

TEST(GradCheck, MaxPool3x3Stride2Pad1) { gradcheck_maxpool({2, 7, 6, 3, 3, 2, 1}, 1); }
TEST(GradCheck, MaxPool3x3Stride2Pad0) { gradcheck_maxpool({2, 7, 8, 3, 3, 2, 0}, 2); }
TEST(GradCheck, MaxPool2x2Stride2) { gradcheck_maxpool({2, 6, 5, 3, 2, 2, 0}, 3); }

TEST(GradCheck, GlobalAvgPool) {
  const int64_t batch = 2, spatial = 6, channels = 4;
  const auto n_in = static_cast<size_t>(batch * spatial * channels);
  const auto n_out = static_cast<size_t>(batch * channels);
  ForwardFn f = [&](const Buffers& in) {
    std::vector<double> y(n_out);
    global_avgpool_forward_reference(y.data(), in[0].data(), batch, spatial, channels);
    return y;
  };
  BackwardFn b = [&](const Buffers&, const std::vector<double>& dy) {
    std::vector<double> dx(n_in);
    global_avgpool_backward_reference(dx.data(), dy.data(), batch, spatial, channels);
    return Buffers{dx};
  };
  EXPECT_TRUE(gradcheck(f, b, {random_doubles(n_in, 4)}));
}

// ---- the max-pool rules, on both CPU tiers --------------------------------

// The max-pool kernels of one CPU tier.
struct MaxPoolKernels {
  decltype(&maxpool2d_forward_cpu<float>) forward;
  decltype(&maxpool2d_backward_cpu<float>) backward;
};
MaxPoolKernels maxpool_kernels(CpuKernels tier) {
  if (tier == CpuKernels::Reference)
    return {maxpool2d_forward_reference<float>, maxpool2d_backward_reference<float>};
  return {maxpool2d_forward_cpu<float>, maxpool2d_backward_cpu<float>};
}

// All-negative input with padding 1: a zero-padded max would return 0 at the
// border; padding as -inf returns the largest real value.
TEST(MaxPool, PaddingNeverWins) {
  const PoolGeometry g{1, 2, 2, 1, 3, 2, 1};  // one 3x3 window covering 2x2 real pixels
  const std::vector<float> x = {-4, -3, -2, -5};
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    const MaxPoolKernels pool = maxpool_kernels(tier);
    float y = 0;
    pool.forward(&y, x.data(), g);
    EXPECT_EQ(y, -2.0f);
    std::vector<float> dx(4, 9.0f);
    const float dy = 1.5f;
    pool.backward(dx.data(), &dy, x.data(), g);
    EXPECT_EQ(dx, (std::vector<float>{0, 0, 1.5f, 0}));
  }
}

// A window of equal values sends the whole gradient to its first pixel in
// (ky, kx) order, once (not split, not duplicated).
TEST(MaxPool, TieGoesToFirstMaximum) {
  const PoolGeometry g{1, 3, 3, 2, 2, 1, 0};  // 2x2 windows, stride 1: they overlap
  // Channel 0 all equal; channel 1 has the max at (1, 1), shared by all four windows.
  std::vector<float> x(18);
  for (int i = 0; i < 9; ++i) {
    x[2 * i] = 1.0f;
    x[2 * i + 1] = (i == 4) ? 5.0f : 0.0f;
  }
  const std::vector<float> dy = {1, 10, 2, 20, 3, 30, 4, 40};  // (1, 2, 2, 2)
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    std::vector<float> dx(18, -1.0f);
    maxpool_kernels(tier).backward(dx.data(), dy.data(), x.data(), g);
    // Channel 0: window (oy, ox) starts at pixel (oy, ox), its first pixel.
    EXPECT_EQ(dx[0 * 2], 1.0f);  // pixel (0, 0)
    EXPECT_EQ(dx[1 * 2], 2.0f);  // pixel (0, 1)
    EXPECT_EQ(dx[3 * 2], 3.0f);  // pixel (1, 0)
    EXPECT_EQ(dx[4 * 2], 4.0f);  // pixel (1, 1)
    for (int i : {2, 5, 6, 7, 8}) EXPECT_EQ(dx[2 * i], 0.0f) << "pixel " << i;
    // Channel 1: the centre collects every window's gradient.
    for (int i = 0; i < 9; ++i) EXPECT_EQ(dx[2 * i + 1], i == 4 ? 100.0f : 0.0f) << "pixel " << i;
  }
}

// A NaN in a window makes the output NaN and takes the gradient, as in
// PyTorch (torch.nn.functional.max_pool2d: `val > max || isnan(val)`; with
// several NaNs in a window the last in scan order). Before, `v > best` never
// let a NaN win, so a NaN from a damaged weight or input vanished silently.
TEST(MaxPool, PropagatesNaNLikePyTorch) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const PoolGeometry g{1, 2, 2, 2, 2, 2, 0};  // one 2x2 window, two channels
  // Channel 0: NaN at pixel 1 beside larger numbers; channel 1: NaN at pixels 0 and 3.
  const std::vector<float> x = {1, nan, nan, 5, 7, 2, 3, nan};
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    const MaxPoolKernels pool = maxpool_kernels(tier);
    std::vector<float> y(2, 0.0f);
    pool.forward(y.data(), x.data(), g);
    EXPECT_TRUE(std::isnan(y[0])) << y[0];
    EXPECT_TRUE(std::isnan(y[1])) << y[1];
    std::vector<float> dx(8, -1.0f);
    const std::vector<float> dy = {2.0f, 3.0f};
    pool.backward(dx.data(), dy.data(), x.data(), g);
    // Pixel 1 (channel 0), pixel 3 (channel 1: the last NaN).
    EXPECT_EQ(dx, (std::vector<float>{0, 0, 2, 0, 0, 0, 0, 3}));
  }
}

// ---- parity with PyTorch -------------------------------------------------

Tensor param(const Tensor& t) {
  Tensor p = t;
  p.set_requires_grad(true);
  return p;
}

void check_maxpool(const std::string& name, int64_t kernel, int64_t stride, int64_t pad) {
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    Context ctx(Device::CPU);
    ctx.set_cpu_kernels(tier);
    ctx.set_poison_allocations(true);
    Tensor x = param(load_reference(name, "x"));
    Tensor y = ops::maxpool2d(ctx, x, kernel, stride, pad);
    EXPECT_TRUE(all_close(y, load_reference(name, "y"), kMaxPoolTol, name + " y"));
    backward(ctx, y, load_reference(name, "dy"));
    EXPECT_TRUE(all_close(x.grad(), load_reference(name, "dx"), kMaxPoolTol, name + " dx"));
  }
}

TEST(Parity, MaxPool3x3Stride2Pad1) { check_maxpool("maxpool_3x3s2p1", 3, 2, 1); }
TEST(Parity, MaxPool2x2Stride2) { check_maxpool("maxpool_2x2s2", 2, 2, 0); }

TEST(Parity, GlobalAvgPool) {
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    Context ctx(Device::CPU);
    ctx.set_cpu_kernels(tier);
    ctx.set_poison_allocations(true);
    Tensor x = param(load_reference("global_avgpool", "x"));
    Tensor y = ops::global_avgpool(ctx, x);
    EXPECT_TRUE(
        all_close(y, load_reference("global_avgpool", "y"), kAvgPoolTol, "global_avgpool y"));
    backward(ctx, y, load_reference("global_avgpool", "dy"));
    EXPECT_TRUE(all_close(x.grad(), load_reference("global_avgpool", "dx"), kAvgPoolTol,
                          "global_avgpool dx"));
  }
}

TEST(MaxPool, RejectsBadArguments) {
  Context ctx(Device::CPU);
  Tensor x = Tensor::zeros({1, 4, 4, 2});
  EXPECT_THROW(ops::maxpool2d(ctx, x, 3, 2, 2), Error);               // pad > kernel / 2
  EXPECT_THROW(ops::maxpool2d(ctx, x, 0, 2, 0), Error);               // empty window
  EXPECT_THROW(ops::maxpool2d(ctx, x, 5, 1, 0), Error);               // window larger than input
  EXPECT_THROW(ops::maxpool2d(ctx, Tensor::zeros({4, 4, 2}), 2, 2, 0), Error);  // not NHWC
  EXPECT_THROW(ops::global_avgpool(ctx, Tensor::zeros({4, 2})), Error);
}

}  // namespace
}  // namespace tl::test
