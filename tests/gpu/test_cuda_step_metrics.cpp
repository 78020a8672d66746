// What lets a GPU training step run without the host reading anything:
// the step totals added up on the device (bit for bit the CPU's), the fills
// that replaced host uploads (Context::zeros / full), and a bad label
// reported at the next read, naming its step.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine/ops.h"
#include "layers/step_metrics.h"
#include "tests/gpu/cuda_parity.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/batches.h"

namespace tl::test {
namespace {

// Five steps of 300 rows (more than the kernel's 256 threads) of 10 logits,
// the third with a NaN loss and the fourth with an infinite one: the GPU's
// totals are the CPU's, byte for byte (integer hits; the double loss sum in
// the same order).
TEST(CudaParity, StepTotals) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  StepTotals start;
  start.loss_sum = 0.1;
  start.correct = 2;
  start.samples = 5;
  StepMetrics on_cpu(cpu, start), on_gpu(*gpu, start);
  const float losses[] = {2.3f, 1.0f / 3.0f, std::nanf(""), INFINITY, 0.7f};
  for (int step = 0; step < 5; ++step) {
    // Values in [-2, 2): with 10 classes, ties are rare; whole numbers make some.
    Tensor logits = random_tensor({300, 10}, 40 + step, -2.0f, 2.0f);
    for (int64_t i = 0; i < logits.numel(); i += 7)
      logits.data<float>()[i] = std::round(logits.data<float>()[i]);
    std::vector<int32_t> labels(300);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>((i * 7 + step) % 10);
    const Tensor l = labels_tensor(labels), loss = Tensor::full({1}, losses[step]);
    on_cpu.add(cpu, loss, logits, l);
    on_gpu.add(*gpu, gpu->to_device(loss), gpu->to_device(logits), gpu->to_device(l));
  }
  const StepTotals c = on_cpu.read(cpu), g = on_gpu.read(*gpu);
  EXPECT_EQ(c.steps, 5);
  EXPECT_EQ(c.first_non_finite, 2);
  EXPECT_EQ(std::memcmp(&c, &g, sizeof(StepTotals)), 0)
      << "loss_sum " << c.loss_sum << " vs " << g.loss_sum << ", correct " << c.correct << " vs "
      << g.correct << ", samples " << c.samples << " vs " << g.samples << ", first non-finite "
      << c.first_non_finite << " vs " << g.first_non_finite;
}

// Context::zeros and Context::full fill on the device (a memset, a kernel),
// and so does a poisoned allocation.
TEST(CudaParity, ContextFills) {
  TL_REQUIRE_GPU(gpu);
  EXPECT_EQ(gpu->zeros({1000}).to_vector(), std::vector<float>(1000, 0.0f));
  EXPECT_EQ(gpu->full({1000}, 1.5f).to_vector(), std::vector<float>(1000, 1.5f));
  EXPECT_EQ(gpu->full({0}, 1.5f).numel(), 0);
  const Tensor ints = gpu->to_host(gpu->zeros({3}, DType::I32));
  EXPECT_EQ(ints.data<int32_t>()[2], 0);
  gpu->set_poison_allocations(true);
  for (float v : gpu->empty({100}).to_vector()) EXPECT_TRUE(std::isnan(v));
}

// A bad label in a queued step: the loss goes NaN, the step's metrics say
// so, and the read raises the label error; a second read then names the
// step, as the trainer's read does (apps/trainer.cpp, read_training_totals).
TEST(CudaParity, BadLabelSurfacesAtTheMetricsRead) {
  TL_REQUIRE_GPU(gpu);
  StepMetrics metrics(*gpu);
  const Tensor logits = gpu->to_device(random_tensor({4, 10}, 9));
  const Tensor good = gpu->to_device(labels_tensor({0, 1, 2, 3}));
  const Tensor bad = gpu->to_device(labels_tensor({0, 1, 12, 3}));
  for (const Tensor* labels : {&good, &bad, &good}) {
    const Tensor loss = ops::softmax_cross_entropy(*gpu, logits, *labels);
    metrics.add(*gpu, loss, logits, *labels);
  }
  try {
    metrics.read(*gpu);
    ADD_FAILURE() << "the bad label was not reported";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sample 2 has label 12"), std::string::npos) << e.what();
  }
  const StepTotals t = metrics.read(*gpu);  // reported once: this read succeeds
  EXPECT_EQ(t.steps, 3);
  EXPECT_EQ(t.first_non_finite, 1);
  EXPECT_EQ(t.samples, 8);
}

}  // namespace
}  // namespace tl::test
