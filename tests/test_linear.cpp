// linear (Keras Dense, w stored (in, out)): gradient checks of the plain
// reference kernels (double) and PyTorch parity (float32) on both CPU tiers,
// with and without a bias.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/reference/linear.h"
#include "tests/support/compare.h"
#include "tests/support/cpu_tiers.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace tl::test {
namespace {

// float32 GEMM with 6-term dot products against float64 PyTorch: a few
// roundings of values of order 1.
constexpr Tolerance kLinearTol{1e-5, 1e-5};

constexpr int64_t kBatch = 3, kIn = 5, kOut = 4;

TEST(GradCheck, Linear) {
  ForwardFn f = [](const Buffers& in) {
    std::vector<double> y(kBatch * kOut);
    linear_forward_reference(y.data(), in[0].data(), in[1].data(), in[2].data(), kBatch, kIn,
                             kOut);
    return y;
  };
  BackwardFn b = [](const Buffers& in, const std::vector<double>& dy) {
    Buffers d{std::vector<double>(kBatch * kIn), std::vector<double>(kIn * kOut),
              std::vector<double>(kOut)};
    linear_backward_reference(d[0].data(), d[1].data(), d[2].data(), dy.data(), in[0].data(),
                              in[1].data(), kBatch, kIn, kOut);
    return d;
  };
  EXPECT_TRUE(gradcheck(f, b,
                        {random_doubles(kBatch * kIn, 21), random_doubles(kIn * kOut, 22),
                         random_doubles(kOut, 23)}));
}

TEST(GradCheck, LinearNoBias) {
  ForwardFn f = [](const Buffers& in) {
    std::vector<double> y(kBatch * kOut);
    linear_forward_reference<double>(y.data(), in[0].data(), in[1].data(), nullptr, kBatch, kIn,
                                     kOut);
    return y;
  };
  // Only dx is asked for: the kernel must accept null dw and db.
  BackwardFn b = [](const Buffers& in, const std::vector<double>& dy) {
    Buffers d{std::vector<double>(kBatch * kIn), std::vector<double>(kIn * kOut)};
    linear_backward_reference<double>(d[0].data(), nullptr, nullptr, dy.data(), in[0].data(),
                                      in[1].data(), kBatch, kIn, kOut);
    return d;
  };
  GradCheckOptions options;
  options.check = {true, false};
  EXPECT_TRUE(gradcheck(f, b, {random_doubles(kBatch * kIn, 24), random_doubles(kIn * kOut, 25)},
                        options));
}

Tensor param(const Tensor& t) {
  Tensor p = t;
  p.set_requires_grad(true);
  return p;
}

void check_linear_parity(CpuKernels tier) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU);
  ctx.set_cpu_kernels(tier);
  ctx.set_poison_allocations(true);
  Tensor x = param(load_reference("linear", "x"));
  Tensor w = param(load_reference("linear", "w"));
  Tensor b = param(load_reference("linear", "b"));
  Tensor y = ops::linear(ctx, x, w, b);
  EXPECT_TRUE(all_close(y, load_reference("linear", "y"), kLinearTol, "linear y"));
  backward(ctx, y, load_reference("linear", "dy"));
  EXPECT_TRUE(all_close(x.grad(), load_reference("linear", "dx"), kLinearTol, "linear dx"));
  EXPECT_TRUE(all_close(w.grad(), load_reference("linear", "dw"), kLinearTol, "linear dw"));
  EXPECT_TRUE(all_close(b.grad(), load_reference("linear", "db"), kLinearTol, "linear db"));
}

TEST(Parity, Linear) {
  for (CpuKernels tier : kCpuTiers) check_linear_parity(tier);
}

void check_linear_nobias_parity(CpuKernels tier) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU);
  ctx.set_cpu_kernels(tier);
  ctx.set_poison_allocations(true);
  Tensor x = param(load_reference("linear_nobias", "x"));
  Tensor w = param(load_reference("linear_nobias", "w"));
  Tensor y = ops::linear(ctx, x, w, Tensor());
  EXPECT_TRUE(all_close(y, load_reference("linear_nobias", "y"), kLinearTol, "linear_nobias y"));
  backward(ctx, y, load_reference("linear_nobias", "dy"));
  EXPECT_TRUE(all_close(x.grad(), load_reference("linear_nobias", "dx"), kLinearTol, "dx"));
  EXPECT_TRUE(all_close(w.grad(), load_reference("linear_nobias", "dw"), kLinearTol, "dw"));
}

TEST(Parity, LinearNoBias) {
  for (CpuKernels tier : kCpuTiers) check_linear_nobias_parity(tier);
}

TEST(Linear, FrozenWeightGetsNoGradient) {
  Context ctx(Device::CPU);
  Tensor x = param(load_reference("linear", "x"));
  Tensor w = load_reference("linear", "w");  // frozen
  Tensor y = ops::linear(ctx, x, w, load_reference("linear", "b"));
  backward(ctx, y, load_reference("linear", "dy"));
  EXPECT_TRUE(all_close(x.grad(), load_reference("linear", "dx"), kLinearTol, "linear dx"));
  EXPECT_FALSE(w.grad().defined());
}

TEST(Linear, RejectsMismatchedShapes) {
  Context ctx(Device::CPU);
  Tensor x = Tensor::zeros({2, 3}), w = Tensor::zeros({4, 5});
  EXPECT_THROW(ops::linear(ctx, x, w, Tensor()), Error);
  EXPECT_THROW(ops::linear(ctx, x, Tensor::zeros({3, 5}), Tensor::zeros({4})), Error);
}

}  // namespace
}  // namespace tl::test
