// CUDA elementwise kernels vs the CPU reference, forward and backward.
#include <gtest/gtest.h>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"

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

}  // namespace
}  // namespace tl::test
