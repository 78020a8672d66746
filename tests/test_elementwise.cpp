// relu, add, add_relu: gradient checks (double) and PyTorch parity (float32).
// Their CPU kernels are one plain loop each, so they are their own reference
// (docs/cpu_reference.md): the checks below run them on both counts.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/elementwise.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace tl::test {
namespace {

// Elementwise float32 ops against float64 PyTorch: one rounding per op.
constexpr Tolerance kElementwiseTol{1e-6, 1e-6};

TEST(GradCheck, Relu) {
  const size_t n = 60;
  ForwardFn f = [&](const Buffers& in) {
    std::vector<double> y(n);
    relu_forward_cpu(y.data(), in[0].data(), n);
    return y;
  };
  BackwardFn b = [&](const Buffers& in, const std::vector<double>& dy) {
    std::vector<double> y(n), dx(n);
    relu_forward_cpu(y.data(), in[0].data(), n);
    relu_backward_cpu(dx.data(), dy.data(), y.data(), n);
    return Buffers{dx};
  };
  EXPECT_TRUE(gradcheck(f, b, {random_doubles(n, 7)}));
}

TEST(GradCheck, AddRelu) {
  const size_t n = 60;
  ForwardFn f = [&](const Buffers& in) {
    std::vector<double> y(n);
    add_relu_forward_cpu(y.data(), in[0].data(), in[1].data(), n);
    return y;
  };
  BackwardFn b = [&](const Buffers& in, const std::vector<double>& dy) {
    std::vector<double> y(n), ds(n);
    add_relu_forward_cpu(y.data(), in[0].data(), in[1].data(), n);
    relu_backward_cpu(ds.data(), dy.data(), y.data(), n);
    return Buffers{ds, ds};
  };
  EXPECT_TRUE(gradcheck(f, b, {random_doubles(n, 8), random_doubles(n, 9)}));
}

TEST(GradCheck, Add) {
  const size_t n = 30;
  ForwardFn f = [&](const Buffers& in) {
    std::vector<double> y(n);
    add_forward_cpu(y.data(), in[0].data(), in[1].data(), n);
    return y;
  };
  BackwardFn b = [](const Buffers&, const std::vector<double>& dy) { return Buffers{dy, dy}; };
  EXPECT_TRUE(gradcheck(f, b, {random_doubles(n, 10), random_doubles(n, 11)}));
}


Tensor param(const Tensor& t) {
  Tensor p = t;
  p.set_requires_grad(true);
  return p;
}

TEST(Parity, Relu) {
  Context ctx(Device::CPU);
  ctx.set_poison_allocations(true);
  Tensor x = param(load_reference("relu", "x"));
  Tensor y = ops::relu(ctx, x);
  EXPECT_TRUE(all_close(y, load_reference("relu", "y"), kElementwiseTol, "relu y"));
  backward(ctx, y, load_reference("relu", "dy"));
  EXPECT_TRUE(all_close(x.grad(), load_reference("relu", "dx"), kElementwiseTol, "relu dx"));
}

void check_binary(const char* name, Tensor (*op)(Context&, const Tensor&, const Tensor&)) {
  Context ctx(Device::CPU);
  ctx.set_poison_allocations(true);
  Tensor a = param(load_reference(name, "a"));
  Tensor b = param(load_reference(name, "b"));
  Tensor y = op(ctx, a, b);
  EXPECT_TRUE(all_close(y, load_reference(name, "y"), kElementwiseTol, std::string(name) + " y"));
  backward(ctx, y, load_reference(name, "dy"));
  EXPECT_TRUE(all_close(a.grad(), load_reference(name, "da"), kElementwiseTol, std::string(name) + " da"));
  EXPECT_TRUE(all_close(b.grad(), load_reference(name, "db"), kElementwiseTol, std::string(name) + " db"));
}

TEST(Parity, Add) { check_binary("add", ops::add); }

// Flatten is a view: the forward must be PyTorch's reshape of the NHWC
// tensor, and the gradient must come back with the input's shape. Exact.
TEST(Parity, Flatten) {
  Context ctx(Device::CPU);
  ctx.set_poison_allocations(true);
  Tensor x = param(load_reference("flatten", "x"));
  Tensor y = ops::reshape(ctx, x, {x.size(0), x.numel() / x.size(0)});
  EXPECT_TRUE(all_close(y, load_reference("flatten", "y"), {0.0, 0.0}, "flatten y"));
  backward(ctx, y, load_reference("flatten", "dy"));
  EXPECT_TRUE(all_close(x.grad(), load_reference("flatten", "dx"), {0.0, 0.0}, "flatten dx"));
}

// The gradient of a view is the identity map on the elements: checked by
// central differences like every other op.
TEST(GradCheck, Flatten) {
  Context ctx(Device::CPU);
  const size_t n = 24;
  ForwardFn f = [&](const Buffers& in) { return in[0]; };  // reshape moves no element
  BackwardFn b = [&](const Buffers& in, const std::vector<double>& dy) {
    // Run the op's real backward (float) on dy and read the gradient back.
    Tensor x = Tensor::from_vector({2, 3, 4}, std::vector<float>(in[0].begin(), in[0].end()));
    x.set_requires_grad(true);
    Tensor y = ops::reshape(ctx, x, {2, 12});
    backward(ctx, y, Tensor::from_vector({2, 12}, std::vector<float>(dy.begin(), dy.end())));
    const std::vector<float> g = x.grad().to_vector();
    return Buffers{std::vector<double>(g.begin(), g.end())};
  };
  GradCheckOptions options;
  options.rtol = 1e-6;  // dy passes through float once: exact to float rounding of dy itself
  options.atol = 1e-6;
  EXPECT_TRUE(gradcheck(f, b, {random_doubles(n, 12)}, options));
}
TEST(Parity, AddRelu) { check_binary("add_relu", ops::add_relu); }

// ---- NaN propagation ------------------------------------------------------
// ReLU must pass NaN through, as PyTorch's and Keras's do: a NaN that a ReLU
// turns into 0 becomes a finite, wrong output, and the training loop's
// NaN-loss guard never sees it. Expected values are PyTorch 1.13's
// (torch.relu and its autograd), checked by hand:
//   relu([nan, -1, 0, 2, inf, -inf])            = [nan, 0, 0, 2, inf, 0]
//   relu backward, dy = 3 at those same inputs  = [3, 0, 0, 3, 3, 0]
// (the gradient passes where the output is not <= 0, NaN included).
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// Same bits or both NaN: all_close refuses NaN in its actual values by design.
template <typename T>
::testing::AssertionResult same_or_both_nan(const std::vector<T>& actual, const std::vector<double>& expected) {
  for (size_t i = 0; i < expected.size(); ++i) {
    const bool both_nan = std::isnan(static_cast<double>(actual[i])) && std::isnan(expected[i]);
    if (!both_nan && static_cast<double>(actual[i]) != expected[i])
      return ::testing::AssertionFailure() << "element " << i << ": " << actual[i] << ", expected " << expected[i];
  }
  return ::testing::AssertionSuccess();
}

template <typename T>
void check_relu_nan() {
  const std::vector<T> x = {T(kNaN), T(-1), T(0), T(2), T(kInf), T(-kInf)};
  const std::vector<T> dy(x.size(), T(3));
  std::vector<T> y(x.size()), dx(x.size());
  relu_forward_cpu(y.data(), x.data(), static_cast<int64_t>(x.size()));
  EXPECT_TRUE(same_or_both_nan(y, {kNaN, 0, 0, 2, kInf, 0}));
  relu_backward_cpu(dx.data(), dy.data(), y.data(), static_cast<int64_t>(x.size()));
  EXPECT_TRUE(same_or_both_nan(dx, {3, 0, 0, 3, 3, 0}));
}

TEST(Relu, PropagatesNaNLikePyTorch) {
  check_relu_nan<float>();
  check_relu_nan<double>();
}

TEST(Relu, AddReluPropagatesNaNLikePyTorch) {
  // nan + 1, 1 + nan, inf + -inf (= nan), -1 + -1, 2 + 1.
  const std::vector<float> a = {float(kNaN), 1.0f, float(kInf), -1.0f, 2.0f};
  const std::vector<float> b = {1.0f, float(kNaN), float(-kInf), -1.0f, 1.0f};
  std::vector<float> y(a.size());
  add_relu_forward_cpu(y.data(), a.data(), b.data(), static_cast<int64_t>(a.size()));
  EXPECT_TRUE(same_or_both_nan(y, {kNaN, kNaN, kNaN, 0, 3}));
}

// The same through the differentiable ops (the code path the model runs),
// with the gradient of both inputs of the fused add + ReLU.
TEST(Relu, OpsPropagateNaNForwardAndBackward) {
  Context ctx(Device::CPU);
  Tensor x = param(Tensor::from_vector({4}, {float(kNaN), -1.0f, 2.0f, 0.0f}));
  Tensor y = ops::relu(ctx, x);
  EXPECT_TRUE(same_or_both_nan(y.to_vector(), {kNaN, 0, 2, 0}));
  backward(ctx, y, Tensor::from_vector({4}, {3.0f, 3.0f, 3.0f, 3.0f}));
  EXPECT_TRUE(same_or_both_nan(x.grad().to_vector(), {3, 0, 3, 0}));

  Tensor a = param(Tensor::from_vector({3}, {float(kNaN), -4.0f, 1.0f}));
  Tensor b = param(Tensor::from_vector({3}, {1.0f, 1.0f, 1.0f}));
  Tensor s = ops::add_relu(ctx, a, b);
  EXPECT_TRUE(same_or_both_nan(s.to_vector(), {kNaN, 0, 2}));
  backward(ctx, s, Tensor::from_vector({3}, {5.0f, 5.0f, 5.0f}));
  EXPECT_TRUE(same_or_both_nan(a.grad().to_vector(), {5, 0, 5}));
  EXPECT_TRUE(same_or_both_nan(b.grad().to_vector(), {5, 0, 5}));
}

}  // namespace
}  // namespace tl::test
