// CUDA dropout vs the CPU reference: the mask is drawn from the same Philox
// stream on both devices, so y and dx must be bit-identical (a kept element
// is one float multiply by the same float scale on both sides), and the mask
// must be exactly dropout_keep(seed, stream, i, rate) element by element.
#include <gtest/gtest.h>

#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/dropout.h"
#include "tests/gpu/cuda_parity.h"
#include "tests/gpu/gpu_test.h"

namespace tl::test {
namespace {

// Runs dropout forward + backward on the CPU and on the GPU with the same
// seed, several calls in a row (each takes the next Philox stream on both).
void compare_dropout(uint64_t seed) {
  Context cpu(Device::CPU, seed);
  Context gpu(Device::CUDA, seed);
  cpu.set_poison_allocations(true);
  gpu.set_poison_allocations(true);
  // n % 4 != 0 exercises the partial last Philox block; 1 a lone element.
  const int64_t sizes[] = {1, 7, 1000, 4099, 64 * 256};
  const float rates[] = {0.1f, 0.5f, 0.9f};
  uint64_t data_seed = 100;
  for (int64_t n : sizes) {
    for (float rate : rates) {
      const std::string what = "dropout n=" + std::to_string(n) + " rate=" + std::to_string(rate) +
                               " seed=" + std::to_string(seed) + " ";
      // Away from 0, so that "dropped" (exactly 0) is unambiguous below.
      std::vector<float> xv = random_floats(static_cast<size_t>(n), data_seed++, 0.5f, 1.5f);
      const Tensor x = Tensor::from_vector({n}, xv);
      const Tensor dy = random_tensor({n}, data_seed++);
      const uint64_t stream = gpu.random_stream_position();
      ASSERT_EQ(stream, cpu.random_stream_position());

      Tensor x_cpu = x.view({n});
      x_cpu.set_requires_grad(true);
      Tensor y_cpu = ops::dropout(cpu, x_cpu, rate, /*training=*/true);
      backward(cpu, y_cpu, dy);

      Tensor x_gpu = gpu.to_device(x);
      x_gpu.set_requires_grad(true);
      Tensor y_gpu = ops::dropout(gpu, x_gpu, rate, /*training=*/true);
      backward(gpu, y_gpu, gpu.to_device(dy));

      const Tensor y_host = gpu.to_host(y_gpu);
      EXPECT_TRUE(bit_identical(y_host, y_cpu, what + "y"));
      EXPECT_TRUE(bit_identical(gpu.to_host(x_gpu.grad()), x_cpu.grad(), what + "dx"));
      // The mask, independently of the CPU kernel: element i is kept iff
      // dropout_keep(seed, stream, i, rate).
      const float* y = y_host.data<float>();
      int64_t wrong = 0;
      for (int64_t i = 0; i < n; ++i)
        wrong += (y[i] != 0.0f) != dropout_keep(seed, stream, static_cast<uint64_t>(i), rate);
      EXPECT_EQ(wrong, 0) << what << "mask differs from dropout_keep";
    }
  }
}

TEST(CudaParity, DropoutMaskBitIdentical) {
  TL_REQUIRE_GPU(gpu);
  compare_dropout(0);
  compare_dropout(0x123456789abcdefull);  // both 32-bit halves of the key in use
}

}  // namespace
}  // namespace tl::test
