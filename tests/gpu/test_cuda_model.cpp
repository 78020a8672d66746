// One full training step of ResNet50 + the reference head on the GPU vs the
// same step on the CPU: two Classifiers built from the same seed (so the
// same weights), one moved to the GPU; the same input, labels and dropout
// streams (both Contexts have seed 0 and start at stream 0, and the CUDA
// dropout draws the CPU's Philox mask bit for bit), so the two runs compute
// the same function. Compares the logits, the loss, a BN's moving
// statistics, a few gradients (the first conv kernel, middle BN gammas, the
// head's first and last Dense) and the SGD update. Every op runs on the GPU
// here: this is the end-to-end check of the CUDA backend. TF32 is off.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/optimizer.h"
#include "layers/classifier.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"

namespace tl::test {
namespace {

// The bounds are relative to the largest value of each compared tensor
// (atol = scale * max|cpu|, plus rtol per element), as in
// tests/test_model_parity.cpp, for the same reasons:
// Forward (logits, loss, BN statistics): float32 through ~50 convolutions
// and BNs, summed in different orders on the two devices: 2e-4 of the
// largest value (the CPU's own float32-vs-float64 difference is ~1e-5).
constexpr double kForwardScaled = 2e-4;
// Gradients: backpropagating through training-mode BNs at batch 4 with
// random weights is ill-conditioned (PyTorch's own float32 gradients differ
// from its float64 ones by up to 0.25% of the largest value); 1% here. A
// wrong formula or a missing term gives errors of order 100%.
constexpr double kGradientScaled = 1e-2;
constexpr double kRtol = 1e-3;
// A conv bias followed by a training-mode BN has an analytic gradient of
// exactly 0 (BN removes any per-channel shift): float32 noise around 0.
constexpr double kFloor = 1e-5;

constexpr int64_t kBatch = 4, kSize = 64;
constexpr uint64_t kModelSeed = 5;

Tolerance scaled_tolerance(const std::vector<float>& ref, double scale) {
  double max_abs = 0;
  for (float v : ref) max_abs = std::max(max_abs, double(std::fabs(v)));
  return {std::max(kFloor, scale * max_abs), kRtol};
}

void expect_close_and_print(const std::vector<float>& gpu, const std::vector<float>& cpu,
                            double scale, const std::string& what) {
  const ::testing::AssertionResult r = all_close(gpu, cpu, scaled_tolerance(cpu, scale), what);
  std::cout << "  " << r.message() << "\n";
  EXPECT_TRUE(r);
}

Tensor find(Module& model, const std::string& name) {
  for (auto& nt : model.named_parameters())
    if (nt.name == name) return nt.tensor;
  for (auto& nt : model.named_buffers())
    if (nt.name == name) return nt.tensor;
  ADD_FAILURE() << "no tensor " << name;
  return Tensor();
}

Tensor labels_tensor(const std::vector<int32_t>& labels) {
  Tensor t = Tensor::empty({static_cast<int64_t>(labels.size())}, DType::I32);
  for (size_t i = 0; i < labels.size(); ++i) t.data<int32_t>()[i] = labels[i];
  return t;
}

// Everything one step produced, on the host.
struct StepResult {
  std::vector<float> logits, loss;
  std::vector<std::vector<float>> stats, grads, updates;
};

const char* const kStats[] = {"conv1_bn/moving_mean", "conv1_bn/moving_variance"};
const char* const kGradients[] = {"conv1_conv/kernel",       "conv1_conv/bias",
                                  "conv3_block2_2_bn/gamma", "conv4_block3_2_bn/gamma",
                                  "conv4_block3_2_conv/kernel", "batch_normalization/gamma",
                                  "dense/kernel",            "dense_3/kernel",
                                  "dense_3/bias"};
const char* const kUpdated[] = {"conv1_conv/kernel", "conv4_block3_2_bn/gamma", "dense_3/kernel"};

// forward -> loss -> backward -> SGD step, on ctx's device.
StepResult training_step(Context& ctx, Classifier& model, const Tensor& x_host,
                         const Tensor& labels_host) {
  model.train();
  Tensor logits = model.forward(ctx, ctx.to_device(x_host));
  Tensor loss = ops::softmax_cross_entropy(ctx, logits, ctx.to_device(labels_host));
  backward(ctx, loss);

  StepResult r;
  r.logits = logits.to_vector();
  r.loss = loss.to_vector();
  for (const char* name : kStats) r.stats.push_back(find(model, name).to_vector());
  for (const char* name : kGradients) {
    const Tensor g = find(model, name).grad();
    EXPECT_TRUE(g.defined()) << name << " has no gradient on " << device_name(ctx.device());
    r.grads.push_back(g.defined() ? g.to_vector() : std::vector<float>());
  }

  // One SGD step with momentum and weight decay over every parameter; the
  // update (new - old) is compared, so the check is as tight as for the
  // gradients rather than drowned in the weights' own magnitude.
  std::vector<Tensor> params;
  for (auto& nt : model.named_parameters())
    if (nt.tensor.requires_grad()) params.push_back(nt.tensor);
  SgdHyper hyper;
  hyper.lr = 0.1f;
  hyper.momentum = 0.9f;
  hyper.weight_decay = 1e-4f;
  Sgd sgd({SgdGroup{params, hyper}});
  std::vector<std::vector<float>> before;
  for (const char* name : kUpdated) before.push_back(find(model, name).to_vector());
  sgd.step(ctx);
  for (size_t i = 0; i < std::size(kUpdated); ++i) {
    std::vector<float> after = find(model, kUpdated[i]).to_vector();
    for (size_t j = 0; j < after.size(); ++j) after[j] -= before[i][j];
    r.updates.push_back(std::move(after));
  }
  return r;
}

TEST(CudaModel, OneTrainingStepMatchesCpu) {
  TL_REQUIRE_GPU(gpu);
  ClassifierConfig config;
  config.input_size = kSize;
  config.seed = kModelSeed;
  // Dropout stays on (0.5): the CPU and the GPU draw the same Philox masks.
  Classifier cpu_model(config), gpu_model(config);
  gpu_model.to(*gpu);

  const Tensor x = Tensor::from_vector(
      {kBatch, kSize, kSize, 3}, random_floats(size_t(kBatch * kSize * kSize * 3), 99, -2.0f, 2.0f));
  const Tensor labels = labels_tensor({1, 3, 5, 7});

  Context cpu(Device::CPU, /*seed=*/0);  // the GPU test Context has seed 0 too
  ASSERT_EQ(gpu->seed(), cpu.seed());
  const StepResult expected = training_step(cpu, cpu_model, x, labels);
  const StepResult actual = training_step(*gpu, gpu_model, x, labels);
  EXPECT_EQ(gpu->random_stream_position(), cpu.random_stream_position())
      << "the two runs drew a different number of dropout streams";

  expect_close_and_print(actual.logits, expected.logits, kForwardScaled, "logits");
  expect_close_and_print(actual.loss, expected.loss, kForwardScaled, "loss");
  for (size_t i = 0; i < std::size(kStats); ++i)
    expect_close_and_print(actual.stats[i], expected.stats[i], kForwardScaled, kStats[i]);
  for (size_t i = 0; i < std::size(kGradients); ++i)
    expect_close_and_print(actual.grads[i], expected.grads[i], kGradientScaled,
                           std::string("d ") + kGradients[i]);
  for (size_t i = 0; i < std::size(kUpdated); ++i)
    expect_close_and_print(actual.updates[i], expected.updates[i], kGradientScaled,
                           std::string("SGD update of ") + kUpdated[i]);
}

}  // namespace
}  // namespace tl::test
