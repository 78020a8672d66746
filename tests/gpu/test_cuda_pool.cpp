// CUDA pooling vs the CPU reference on the same random inputs: max pooling
// forward and backward (exact: same comparisons, same first-maximum rule,
// gradient additions in the same order), with many ties and negative values
// next to the padding; global average pooling forward (double sums) and
// backward (exact).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/gpu/cuda_parity.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/batches.h"

namespace tl::test {
namespace {

// Average pool forward: both devices sum in double and round once, so they
// agree unless the double sums straddle a float rounding boundary: at most
// one ulp (|y| < 1 here: 6e-8 absolute, 1.2e-7 relative).
constexpr Tolerance kAvgForwardTol{6e-8, 1.2e-7};

// Values on a grid of 0.25 in [-1, 1]: a 3x3 window holds a tie most of the
// time, so the first-maximum rule is exercised; negatives beside the padding
// check that padding never wins.
Tensor tie_heavy(const Shape& shape, uint64_t seed) {
  std::vector<float> v = random_floats(static_cast<size_t>(shape_numel(shape)), seed);
  for (float& f : v) f = std::round(f * 4.0f) / 4.0f;
  return Tensor::from_vector(shape, v);
}

// bf16: x and dy in bfloat16 on both devices (the GPU's bf16 kernels, the
// CPU's float32 op between casts): the maximum is one of the bf16 inputs
// and the gradient sums run in the same order in float and round once, so
// these are bit-identical too.
void compare_maxpool(Context& gpu, const Shape& shape, int64_t k, int64_t s, int64_t p,
                     uint64_t seed, bool bf16 = false) {
  const std::string what = std::string(bf16 ? "bf16 " : "") + "maxpool " + shape_str(shape) +
                           " k" + std::to_string(k) + " s" + std::to_string(s) + " p" +
                           std::to_string(p) + " ";
  Context cpu(Device::CPU);
  cpu.set_poison_allocations(true);
  const DType dtype = bf16 ? DType::BF16 : DType::F32;
  const Tensor x = ops::cast(cpu, tie_heavy(shape, seed), dtype);
  Tensor x_cpu = x.view(shape);
  x_cpu.set_requires_grad(true);
  Tensor y_cpu = ops::maxpool2d(cpu, x_cpu, k, s, p);
  const Tensor dy = ops::cast(cpu, random_tensor(y_cpu.shape(), seed + 1), dtype);
  backward(cpu, y_cpu, dy);

  Tensor x_gpu = gpu.to_device(x);
  x_gpu.set_requires_grad(true);
  Tensor y_gpu = ops::maxpool2d(gpu, x_gpu, k, s, p);
  EXPECT_EQ(y_gpu.dtype(), dtype);
  backward(gpu, y_gpu, gpu.to_device(dy));
  // Comparisons and additions only: bit-identical whatever the host compiler.
  EXPECT_TRUE(bit_identical(host_float32(y_gpu), host_float32(y_cpu), what + "y"));
  EXPECT_TRUE(bit_identical(host_float32(x_gpu.grad()), host_float32(x_cpu.grad()), what + "dx"));
}

TEST(CudaParity, MaxPoolResNetStem) {
  TL_REQUIRE_GPU(gpu);
  compare_maxpool(*gpu, {2, 16, 16, 64}, 3, 2, 1, 1);  // float4 lanes, overlapping windows
  compare_maxpool(*gpu, {2, 17, 17, 64}, 3, 2, 0, 2);  // Keras: explicit zero pad, then p = 0
}

TEST(CudaParity, MaxPoolBf16) {
  TL_REQUIRE_GPU(gpu);
  compare_maxpool(*gpu, {2, 16, 16, 64}, 3, 2, 1, 7, /*bf16=*/true);
  compare_maxpool(*gpu, {2, 9, 11, 12}, 3, 2, 1, 8, /*bf16=*/true);
  compare_maxpool(*gpu, {1, 7, 6, 5}, 2, 2, 0, 9, /*bf16=*/true);
}

TEST(CudaParity, MaxPoolOddShapes) {
  TL_REQUIRE_GPU(gpu);
  compare_maxpool(*gpu, {2, 9, 11, 12}, 3, 2, 1, 3);
  compare_maxpool(*gpu, {1, 7, 6, 5}, 2, 2, 0, 4);  // scalar lanes; a row left out of every window
  compare_maxpool(*gpu, {2, 8, 8, 4}, 3, 1, 1, 5);  // stride 1: each pixel in up to 9 windows
  compare_maxpool(*gpu, {1, 5, 5, 3}, 5, 1, 2, 6);  // large window, pad = k / 2
}

// NaNs in the input: the GPU follows the CPU's (and PyTorch's) rule, so the
// outputs hold NaN where the windows do and the gradients land on the same
// pixels. The CPU result must really contain NaN, or the test proves nothing.
TEST(CudaParity, MaxPoolPropagatesNaN) {
  TL_REQUIRE_GPU(gpu);
  const Shape shape{2, 9, 9, 8};
  std::vector<float> v = tie_heavy(shape, 7).to_vector();
  for (size_t i = 0; i < v.size(); i += 37) v[i] = std::numeric_limits<float>::quiet_NaN();
  const Tensor x = Tensor::from_vector(shape, v);
  Context cpu(Device::CPU);
  Tensor x_cpu = x.view(shape), x_gpu = gpu->to_device(x);
  x_cpu.set_requires_grad(true);
  x_gpu.set_requires_grad(true);
  const Tensor y_cpu = ops::maxpool2d(cpu, x_cpu, 3, 2, 1), y_gpu = ops::maxpool2d(*gpu, x_gpu, 3, 2, 1);
  const Tensor dy = random_tensor(y_cpu.shape(), 8);
  backward(cpu, y_cpu, dy);
  backward(*gpu, y_gpu, gpu->to_device(dy));
  int64_t nans = 0;
  for (float f : y_cpu.to_vector()) nans += std::isnan(f);
  ASSERT_GT(nans, 0) << "the CPU reference dropped every NaN";
  EXPECT_TRUE(bit_identical(gpu->to_host(y_gpu), y_cpu, "y with NaNs"));
  EXPECT_TRUE(bit_identical(gpu->to_host(x_gpu.grad()), x_cpu.grad(), "dx with NaNs"));
}

void compare_avgpool(Context& gpu, const Shape& shape, uint64_t seed) {
  const std::string what = "global_avgpool " + shape_str(shape) + " ";
  Context cpu(Device::CPU);
  cpu.set_poison_allocations(true);
  const Tensor x = random_tensor(shape, seed);
  Tensor x_cpu = x.view(shape);
  x_cpu.set_requires_grad(true);
  Tensor y_cpu = ops::global_avgpool(cpu, x_cpu);
  const Tensor dy = random_tensor(y_cpu.shape(), seed + 1);
  backward(cpu, y_cpu, dy);

  Tensor x_gpu = gpu.to_device(x);
  x_gpu.set_requires_grad(true);
  Tensor y_gpu = ops::global_avgpool(gpu, x_gpu);
  backward(gpu, y_gpu, gpu.to_device(dy));
  EXPECT_TRUE(all_close(gpu.to_host(y_gpu), y_cpu, kAvgForwardTol, what + "y"));
  // dx = dy / (H*W): one IEEE division on both devices.
  EXPECT_TRUE(bit_identical(gpu.to_host(x_gpu.grad()), x_cpu.grad(), what + "dx"));
}

TEST(CudaParity, GlobalAvgPool) {
  TL_REQUIRE_GPU(gpu);
  compare_avgpool(*gpu, {2, 7, 7, 2048}, 10);  // ResNet50 at 224: float4 lanes
  compare_avgpool(*gpu, {3, 5, 3, 7}, 11);     // odd C: scalar lanes
  compare_avgpool(*gpu, {2, 56, 56, 8}, 12);   // 3136 positions: long per-thread loops
  compare_avgpool(*gpu, {4, 1, 1, 20}, 13);    // 32x32 input: a 1x1 map
}

}  // namespace
}  // namespace tl::test
