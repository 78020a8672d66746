// CUDA elementwise kernels vs the CPU reference, forward and backward.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"
#include "tests/support/batches.h"

namespace tl::test {
namespace {

// max/add of two floats is exact on both devices: demand equality.
constexpr Tolerance kExact{0.0, 0.0};

Tensor random_tensor(const Shape& shape, uint64_t seed) {
  return Tensor::from_vector(shape, random_floats(static_cast<size_t>(shape_numel(shape)), seed));
}

TEST(CudaParity, ReluAddRelu) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  const Shape shape{3, 7, 5, 16};
  Tensor a = random_tensor(shape, 1), b = random_tensor(shape, 2), dy = random_tensor(shape, 3);
  for (bool fused : {false, true}) {
    Tensor a_cpu = a.view(shape), b_cpu = b.view(shape);
    a_cpu.set_requires_grad(true);
    b_cpu.set_requires_grad(true);
    Tensor y_cpu = fused ? ops::add_relu(cpu, a_cpu, b_cpu) : ops::relu(cpu, ops::add(cpu, a_cpu, b_cpu));
    backward(cpu, y_cpu, dy);

    Tensor a_gpu = gpu->to_device(a), b_gpu = gpu->to_device(b);
    a_gpu.set_requires_grad(true);
    b_gpu.set_requires_grad(true);
    Tensor y_gpu = fused ? ops::add_relu(*gpu, a_gpu, b_gpu) : ops::relu(*gpu, ops::add(*gpu, a_gpu, b_gpu));
    backward(*gpu, y_gpu, gpu->to_device(dy));
    EXPECT_TRUE(all_close(gpu->to_host(y_gpu), y_cpu, kExact, "y"));
    EXPECT_TRUE(all_close(gpu->to_host(a_gpu.grad()), a_cpu.grad(), kExact, "da"));
    EXPECT_TRUE(all_close(gpu->to_host(b_gpu.grad()), b_cpu.grad(), kExact, "db"));
  }
}

// The bf16 kernels read bf16, add in float32 and round once, as the CPU's
// bf16 reference (the float32 op between casts): bit for bit, forward and
// backward, and the bf16 gradient sum at the residual fork (a + relu(a)).
TEST(CudaParity, ReluAddReluBf16) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  const Shape shape{3, 7, 5, 16};
  const Tensor a = ops::cast(cpu, random_tensor(shape, 4), DType::BF16);
  const Tensor b = ops::cast(cpu, random_tensor(shape, 5), DType::BF16);
  const Tensor dy = ops::cast(cpu, random_tensor(shape, 6), DType::BF16);
  const auto run = [&](Context& ctx, Tensor& ga, Tensor& gb) {
    Tensor da = ctx.to_device(a), db = ctx.to_device(b);
    da.set_requires_grad(true);
    db.set_requires_grad(true);
    const Tensor h = ops::add_relu(ctx, da, db);
    const Tensor y = ops::add(ctx, ops::relu(ctx, h), h);
    backward(ctx, y, ctx.to_device(dy));
    ga = da.grad();
    gb = db.grad();
    return y;
  };
  Tensor ca, cb, ga, gb;
  const Tensor yc = run(cpu, ca, cb), yg = run(*gpu, ga, gb);
  ASSERT_EQ(yg.dtype(), DType::BF16);
  ASSERT_EQ(ga.dtype(), DType::BF16);
  EXPECT_TRUE(all_close(host_float32(yg), host_float32(yc), kExact, "y"));
  EXPECT_TRUE(all_close(host_float32(ga), host_float32(ca), kExact, "da"));
  EXPECT_TRUE(all_close(host_float32(gb), host_float32(cb), kExact, "db"));
}

// NaN must pass through every ReLU on the GPU as on the CPU (and in
// PyTorch): fmaxf(x, 0), the usual CUDA ReLU, returns 0 for NaN and would
// hide it. CUDA returns its canonical NaN where the CPU keeps the input's
// payload, so NaNs are compared as "both NaN", everything else bit for bit.
::testing::AssertionResult same_or_both_nan(const Tensor& actual, const Tensor& expected, const std::string& what) {
  const std::vector<float> a = actual.to_vector(), e = expected.to_vector();
  if (a.size() != e.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
  for (size_t i = 0; i < a.size(); ++i) {
    const bool both_nan = std::isnan(a[i]) && std::isnan(e[i]);
    if (!both_nan && std::memcmp(&a[i], &e[i], sizeof(float)) != 0)
      return ::testing::AssertionFailure() << what << "[" << i << "]: " << a[i] << ", expected " << e[i];
  }
  return ::testing::AssertionSuccess();
}

TEST(CudaParity, ReluPropagatesNaN) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const Shape shape{2, 4, 4, 8};  // 256 elements: several warps
  std::vector<float> av = random_floats(256, 21), bv = random_floats(256, 22);
  av[0] = nan;                  // nan + b
  bv[5] = nan;                  // a + nan
  av[9] = inf, bv[9] = -inf;    // inf - inf = nan
  av[13] = -inf;                // -inf -> 0
  av[200] = inf, bv[200] = 1;   // inf stays inf
  const Tensor a = Tensor::from_vector(shape, av), b = Tensor::from_vector(shape, bv);
  const Tensor dy = random_tensor(shape, 23);
  for (bool fused : {false, true}) {
    const std::string what = fused ? "add_relu " : "relu(add) ";
    Tensor a_cpu = a.view(shape), b_cpu = b.view(shape);
    a_cpu.set_requires_grad(true);
    b_cpu.set_requires_grad(true);
    Tensor y_cpu = fused ? ops::add_relu(cpu, a_cpu, b_cpu) : ops::relu(cpu, ops::add(cpu, a_cpu, b_cpu));
    backward(cpu, y_cpu, dy);
    // The reference itself must keep the NaNs, or this test proves nothing.
    const std::vector<float> yc = y_cpu.to_vector();
    ASSERT_TRUE(std::isnan(yc[0]) && std::isnan(yc[5]) && std::isnan(yc[9])) << what;
    EXPECT_EQ(yc[13], 0.0f);
    EXPECT_EQ(a_cpu.grad().to_vector()[0], dy.to_vector()[0]) << "the gradient passes at NaN, as PyTorch";

    Tensor a_gpu = gpu->to_device(a), b_gpu = gpu->to_device(b);
    a_gpu.set_requires_grad(true);
    b_gpu.set_requires_grad(true);
    Tensor y_gpu = fused ? ops::add_relu(*gpu, a_gpu, b_gpu) : ops::relu(*gpu, ops::add(*gpu, a_gpu, b_gpu));
    backward(*gpu, y_gpu, gpu->to_device(dy));
    EXPECT_TRUE(same_or_both_nan(gpu->to_host(y_gpu), y_cpu, what + "y"));
    EXPECT_TRUE(same_or_both_nan(gpu->to_host(a_gpu.grad()), a_cpu.grad(), what + "da"));
    EXPECT_TRUE(same_or_both_nan(gpu->to_host(b_gpu.grad()), b_cpu.grad(), what + "db"));
  }
}

}  // namespace
}  // namespace tl::test
