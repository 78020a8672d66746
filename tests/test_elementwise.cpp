// relu, add, add_relu: gradient checks (double) and PyTorch parity (float32).
#include <gtest/gtest.h>

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

}  // namespace
}  // namespace tl::test
