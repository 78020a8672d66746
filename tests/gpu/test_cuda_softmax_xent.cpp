// CUDA softmax cross-entropy vs the CPU reference: the loss (reduced on the
// device into a (1) tensor), the gradient, logits of +-1e4, and bad labels,
// which must raise the CPU's error and leave the GPU usable.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/gpu/cuda_parity.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/batches.h"

namespace tl::test {
namespace {

// The mean loss (~2.3 for 10 classes): CUDA's expf / logf are within 2 / 1
// ulp of glibc's and the row sum is a shuffle tree, not a serial loop: a few
// float ulps of log(sum) and zmax - z[label].
constexpr Tolerance kLossTol{1e-6, 1e-6};
// dlogits = (p - onehot) / N: each p is expf (2 ulp) times 1/sum (a few ulps
// of a different summation order): ~8 ulps relative; the absolute floor
// covers p - 1 at the label, where p ~ 1 loses its relative precision.
constexpr Tolerance kGradTol{1e-7, 2e-6};

std::vector<int32_t> random_labels(int64_t n, int64_t classes, uint64_t seed) {
  const std::vector<float> u = random_floats(static_cast<size_t>(n), seed, 0.0f, 1.0f);
  std::vector<int32_t> labels;
  for (float f : u) labels.push_back(static_cast<int32_t>(f * static_cast<float>(classes)) % classes);
  return labels;
}

void compare_xent(Context& gpu, int64_t batch, int64_t classes, float range, uint64_t seed) {
  const std::string what = "softmax_xent (" + std::to_string(batch) + ", " +
                           std::to_string(classes) + ") range " + std::to_string(range) + " ";
  Context cpu(Device::CPU);
  cpu.set_poison_allocations(true);
  const Tensor logits = random_tensor({batch, classes}, seed, -range, range);
  const Tensor labels = labels_tensor(random_labels(batch, classes, seed + 1));

  Tensor z_cpu = logits.view(logits.shape());
  z_cpu.set_requires_grad(true);
  Tensor loss_cpu = ops::softmax_cross_entropy(cpu, z_cpu, labels);
  backward(cpu, loss_cpu, Tensor::full({1}, 1.0f));

  Tensor z_gpu = gpu.to_device(logits);
  z_gpu.set_requires_grad(true);
  Tensor loss_gpu = ops::softmax_cross_entropy(gpu, z_gpu, gpu.to_device(labels));
  EXPECT_EQ(loss_gpu.device(), Device::CUDA) << what << "the loss stays on the device";
  backward(gpu, loss_gpu, gpu.to_device(Tensor::full({1}, 1.0f)));

  EXPECT_TRUE(all_close(gpu.to_host(loss_gpu), loss_cpu, kLossTol, what + "loss"));
  EXPECT_TRUE(all_close(gpu.to_host(z_gpu.grad()), z_cpu.grad(), kGradTol, what + "dlogits"));
}

TEST(CudaParity, SoftmaxCrossEntropy) {
  TL_REQUIRE_GPU(gpu);
  compare_xent(*gpu, 64, 10, 5.0f, 1);    // the CIFAR-10 head
  compare_xent(*gpu, 7, 1000, 5.0f, 2);   // a warp strides a long row
  compare_xent(*gpu, 300, 3, 5.0f, 3);    // more rows than the reduction block has threads
  compare_xent(*gpu, 5, 37, 1e4f, 4);     // stable at +-1e4: finite, probabilities 0 or 1
}

// A label outside [0, C) is an error naming the sample, never a fault. The
// launch does not wait for the verdict: the error comes at the host's next
// wait for the GPU (cuda::DeferredChecks), here ctx.synchronize() or
// ctx.to_host(), and the loss of that batch is NaN (so an optimiser step
// guarded by it does not move the weights). The context keeps working.
TEST(CudaParity, SoftmaxCrossEntropyBadLabel) {
  TL_REQUIRE_GPU(gpu);
  const Tensor logits = gpu->to_device(random_tensor({6, 10}, 5));
  const auto expect_error = [&](const std::vector<int32_t>& labels, const std::string& needle,
                                bool wait_by_reading) {
    Tensor loss;
    try {
      loss = ops::softmax_cross_entropy(*gpu, logits, gpu->to_device(labels_tensor(labels)));
    } catch (const Error& e) {
      ADD_FAILURE() << "the launch waited for the label check: " << e.what();
      return;
    }
    try {
      if (wait_by_reading)
        gpu->to_host(loss);
      else
        gpu->synchronize();
      ADD_FAILURE() << "no error for a bad label; expected '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    EXPECT_TRUE(std::isnan(loss.to_vector()[0])) << "a bad label must make the loss NaN";
  };
  expect_error({0, 1, 2, 10, 4, 5}, "sample 3 has label 10, outside [0, 10)", false);
  // The first bad sample wins; reported once, then cleared.
  expect_error({-1, 1, 2, 3, 4, 99}, "sample 0 has label -1", true);
  // Still usable: a valid call runs and gives a finite loss, with no error.
  const Tensor loss = gpu->to_host(
      ops::softmax_cross_entropy(*gpu, logits, gpu->to_device(labels_tensor({0, 1, 2, 3, 4, 5}))));
  EXPECT_TRUE(std::isfinite(loss.data<float>()[0]));
  EXPECT_NO_THROW(gpu->synchronize());
}

}  // namespace
}  // namespace tl::test
