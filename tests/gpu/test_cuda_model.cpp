// Whole-model checks of the CUDA backend: ResNet50 + the reference head on
// the GPU vs the same computation on the CPU. Two Classifiers built from the
// same seed (so the same weights), one moved to the GPU; the same input,
// labels and dropout streams (both Contexts have seed 0 and start at stream
// 0, and the CUDA dropout draws the CPU's Philox mask bit for bit), so the
// two runs compute the same function. A step is the training step of
// layers/training_step.h, the one train_cifar runs (uint8 CIFAR-sized images
// preprocessed to the model's size, forward, loss, backward, SGD update); it
// compares the logits, the loss, a BN's moving statistics, a few gradients
// (the first conv kernel, middle BN gammas, the head's first and last Dense)
// and the SGD update. Every op runs on the GPU here: this is the end-to-end
// check of the CUDA backend.
//
//   OneTrainingStepMatchesCpu        64x64, batch 4 (quick, every op)
//   RecipeSizeTrainingStepMatchesCpu 224x224, batch 8, the Flatten head
//                                    (100,352 features): the recipe's shapes
//   Tf32StepsTrackFp32Cpu            three TF32 steps vs three FP32 CPU steps
//   FrozenBackboneStepMatchesCpu     --freeze backbone: BNs in inference mode,
//                                    backbone untouched, head trained
//   EvalModeAt224MatchesCpu          inference: running statistics, no dropout
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "engine/optimizer.h"
#include "layers/classifier.h"
#include "layers/training_step.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"
#include "tests/support/batches.h"

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
// A floor for the absolute bound of tensors whose values are all tiny.
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

// Everything one step produced, on the host.
struct StepReadings {
  std::vector<float> logits, loss;
  std::vector<std::vector<float>> stats, grads, updates;
};

const char* const kStats[] = {"conv1_bn/moving_mean", "conv1_bn/moving_variance"};
const char* const kGradients[] = {"conv1_conv/kernel",
                                  "conv3_block2_2_bn/gamma", "conv4_block3_2_bn/gamma",
                                  "conv4_block3_2_conv/kernel", "batch_normalization/gamma",
                                  "dense/kernel",            "dense_3/kernel",
                                  "dense_3/bias"};
const char* const kUpdated[] = {"conv1_conv/kernel", "conv4_block3_2_bn/gamma", "dense_3/kernel"};

double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}

// conv1_conv/bias feeds a training-mode BN, which removes any per-channel
// shift: its gradient is analytically 0 (comparing it with the other
// device's ~0 could not tell a right gradient from a missing one). What can
// fail is the property: without BN's mean subtraction in its backward,
// d bias would be ~1e-2 of d kernel's largest value; float32 noise is ~1e-9.
void expect_conv1_bias_gradient_vanishes(Module& model, const Context& ctx) {
  const Tensor db = find(model, "conv1_conv/bias").grad(), dk = find(model, "conv1_conv/kernel").grad();
  if (!dk.defined()) return;  // a frozen backbone: nothing to check
  ASSERT_TRUE(db.defined()) << "conv1_conv/bias has no gradient on " << device_name(ctx.device());
  EXPECT_LE(max_abs(db.to_vector()), 1e-5 * max_abs(dk.to_vector()))
      << "d conv1_conv/bias should vanish before a training-mode BN (" << device_name(ctx.device()) << ")";
}

std::vector<Tensor> trainable(Module& model) {
  std::vector<Tensor> params;
  for (auto& nt : model.named_parameters())
    if (nt.tensor.requires_grad()) params.push_back(nt.tensor);
  return params;
}

// One SGD step with momentum and weight decay over every trainable
// parameter; the update (new - old) is compared, so the check is as tight as
// for the gradients rather than drowned in the weights' own magnitude.
Sgd make_sgd(Module& model) {
  SgdHyper hyper;
  hyper.lr = 0.1f;
  hyper.momentum = 0.9f;
  hyper.weight_decay = 1e-4f;
  return Sgd({SgdGroup{trainable(model), hyper}});
}

// One training step (layers/training_step.h) on ctx's device, and what it
// produced, read back. The gradients are read after the update: the step
// leaves them on the parameters. `gradients`: the parameters whose gradients
// are compared (each must have one).
StepReadings step_and_read(Context& ctx, Classifier& model, Sgd& sgd, const Tensor& images_host,
                           const Tensor& labels_host,
                           const std::vector<std::string>& gradients = {std::begin(kGradients),
                                                                        std::end(kGradients)}) {
  std::vector<std::vector<float>> before;
  for (const char* name : kUpdated) before.push_back(find(model, name).to_vector());
  const StepResult step = training_step(ctx, model, sgd, images_host, labels_host);
  EXPECT_TRUE(step.updated) << "the loss was " << step.loss << " on " << device_name(ctx.device());

  StepReadings r;
  r.logits = step.logits.to_vector();
  r.loss = {step.loss};
  expect_conv1_bias_gradient_vanishes(model, ctx);
  for (const char* name : kStats) r.stats.push_back(find(model, name).to_vector());
  for (const std::string& name : gradients) {
    const Tensor g = find(model, name).grad();
    EXPECT_TRUE(g.defined()) << name << " has no gradient on " << device_name(ctx.device());
    r.grads.push_back(g.defined() ? g.to_vector() : std::vector<float>());
  }
  for (size_t i = 0; i < std::size(kUpdated); ++i) {
    std::vector<float> after = find(model, kUpdated[i]).to_vector();
    for (size_t j = 0; j < after.size(); ++j) after[j] -= before[i][j];
    r.updates.push_back(std::move(after));
  }
  return r;
}

void expect_step_close(const StepReadings& actual, const StepReadings& expected,
                       double forward_scale, double gradient_scale,
                       const std::vector<std::string>& gradients = {std::begin(kGradients),
                                                                    std::end(kGradients)}) {
  expect_close_and_print(actual.logits, expected.logits, forward_scale, "logits");
  expect_close_and_print(actual.loss, expected.loss, forward_scale, "loss");
  for (size_t i = 0; i < std::size(kStats); ++i)
    expect_close_and_print(actual.stats[i], expected.stats[i], forward_scale, kStats[i]);
  for (size_t i = 0; i < gradients.size(); ++i)
    expect_close_and_print(actual.grads[i], expected.grads[i], gradient_scale, "d " + gradients[i]);
  for (size_t i = 0; i < std::size(kUpdated); ++i)
    expect_close_and_print(actual.updates[i], expected.updates[i], gradient_scale,
                           std::string("SGD update of ") + kUpdated[i]);
}

Tensor random_images(int64_t batch, int64_t size, uint64_t seed) {
  return Tensor::from_vector({batch, size, size, 3},
                             random_floats(size_t(batch * size * size * 3), seed, -2.0f, 2.0f));
}

// A batch of uint8 32x32 RGB images, as the CIFAR-10 loader hands them to
// the training step (which resizes them to the model's input size).
Tensor random_cifar_images(int64_t batch, uint64_t seed) {
  Tensor images = Tensor::empty({batch, 32, 32, 3}, DType::U8);
  const std::vector<float> noise = random_floats(static_cast<size_t>(images.numel()), seed, 0, 255);
  for (size_t i = 0; i < noise.size(); ++i)
    images.data<uint8_t>()[i] = static_cast<uint8_t>(noise[i]);
  return images;
}

Tensor labels_for(int64_t batch) {
  std::vector<int32_t> labels;
  for (int64_t i = 0; i < batch; ++i) labels.push_back(static_cast<int32_t>((2 * i + 1) % 10));
  return labels_tensor(labels);
}

TEST(CudaModel, OneTrainingStepMatchesCpu) {
  TL_REQUIRE_GPU(gpu);
  ClassifierConfig config;
  config.input_size = kSize;
  config.seed = kModelSeed;
  // Dropout stays on (0.5): the CPU and the GPU draw the same Philox masks.
  Classifier cpu_model(config), gpu_model(config);
  gpu_model.to(*gpu);
  Sgd cpu_sgd = make_sgd(cpu_model), gpu_sgd = make_sgd(gpu_model);

  const Tensor x = random_cifar_images(kBatch, 99);
  const Tensor labels = labels_tensor({1, 3, 5, 7});

  Context cpu(Device::CPU, /*seed=*/0);  // the GPU test Context has seed 0 too
  ASSERT_EQ(gpu->seed(), cpu.seed());
  const StepReadings expected = step_and_read(cpu, cpu_model, cpu_sgd, x, labels);
  const StepReadings actual = step_and_read(*gpu, gpu_model, gpu_sgd, x, labels);
  EXPECT_EQ(gpu->random_stream_position(), cpu.random_stream_position())
      << "the two runs drew a different number of dropout streams";
  expect_step_close(actual, expected, kForwardScaled, kGradientScaled);
}

// The recipe's shapes: 224x224 input, the Flatten head's 100,352-wide BN and
// Dense. Batch 8 (the CPU side of a batch-64 step would take minutes on a
// machine without BLAS); the same tolerances as at 64x64, for the same
// reasons (the reductions are longer, but the bounds are relative to each
// tensor's largest value and the measured differences are printed).
TEST(CudaModel, RecipeSizeTrainingStepMatchesCpu) {
  TL_REQUIRE_GPU(gpu);
  constexpr int64_t kRecipeSize = 224, kRecipeBatch = 8;
  ClassifierConfig config;
  config.input_size = kRecipeSize;
  config.seed = kModelSeed;
  Classifier cpu_model(config), gpu_model(config);
  gpu_model.to(*gpu);
  Sgd cpu_sgd = make_sgd(cpu_model), gpu_sgd = make_sgd(gpu_model);
  const Tensor x = random_cifar_images(kRecipeBatch, 101);
  const Tensor labels = labels_for(kRecipeBatch);
  Context cpu(Device::CPU, 0);
  const StepReadings expected = step_and_read(cpu, cpu_model, cpu_sgd, x, labels);
  const StepReadings actual = step_and_read(*gpu, gpu_model, gpu_sgd, x, labels);
  expect_step_close(actual, expected, kForwardScaled, kGradientScaled);
}

// TF32 rounds every convolution and Dense input to a 10-bit mantissa
// (relative 2^-11 ~ 5e-4 per input, ~5e-4 relative per output). Through ~53
// layers with BNs renormalising in between the errors add up roughly in
// quadrature: ~sqrt(53) * 5e-4 ~ 4e-3 of the largest value forward; 2e-2
// allows 5x that. Gradients: the ill-conditioning of training-mode BN at a
// small batch (see kGradientScaled) on top: 5e-2. Three steps, so that the
// TF32 error also passes through the updated weights and the momentum.
TEST(CudaModel, Tf32StepsTrackFp32Cpu) {
  TL_REQUIRE_GPU(gpu);
  constexpr double kTf32ForwardScaled = 2e-2, kTf32GradientScaled = 5e-2;
  ClassifierConfig config;
  config.input_size = kSize;
  config.seed = kModelSeed;
  Classifier cpu_model(config), gpu_model(config);
  gpu_model.to(*gpu);
  gpu->set_allow_tf32(true);
  Sgd cpu_sgd = make_sgd(cpu_model), gpu_sgd = make_sgd(gpu_model);
  Context cpu(Device::CPU, 0);
  for (int step = 0; step < 3; ++step) {
    SCOPED_TRACE("step " + std::to_string(step + 1));
    std::cout << "TF32 step " << step + 1 << ":\n";
    const Tensor x = random_cifar_images(kBatch, 200 + step);
    const Tensor labels = labels_for(kBatch);
    const StepReadings expected = step_and_read(cpu, cpu_model, cpu_sgd, x, labels);
    const StepReadings actual = step_and_read(*gpu, gpu_model, gpu_sgd, x, labels);
    expect_step_close(actual, expected, kTf32ForwardScaled, kTf32GradientScaled);
  }
}

// --freeze backbone (train_cifar's transfer-learning mode): the backbone's
// parameters get no gradient and its BNs run in inference mode, so the step
// must leave every backbone tensor bit for bit as it was, on the GPU too,
// while the head trains as on the CPU.
TEST(CudaModel, FrozenBackboneStepMatchesCpu) {
  TL_REQUIRE_GPU(gpu);
  ClassifierConfig config;
  config.input_size = kSize;
  config.seed = kModelSeed;
  Classifier cpu_model(config), gpu_model(config);
  const FreezeSpec freeze = FreezeSpec::parse("backbone");
  cpu_model.apply_freeze(freeze);
  gpu_model.apply_freeze(freeze);
  gpu_model.to(*gpu);
  std::vector<std::vector<float>> backbone_before;
  for (auto& nt : gpu_model.backbone().named_parameters()) backbone_before.push_back(nt.tensor.to_vector());
  for (auto& nt : gpu_model.backbone().named_buffers()) backbone_before.push_back(nt.tensor.to_vector());

  Sgd cpu_sgd = make_sgd(cpu_model), gpu_sgd = make_sgd(gpu_model);
  const std::vector<std::string> head_gradients = {"batch_normalization/gamma", "dense/kernel",
                                                   "dense_3/kernel", "dense_3/bias"};
  const Tensor x = random_cifar_images(kBatch, 301);
  const Tensor labels = labels_tensor({1, 3, 5, 7});
  Context cpu(Device::CPU, 0);
  const StepReadings expected = step_and_read(cpu, cpu_model, cpu_sgd, x, labels, head_gradients);
  const StepReadings actual = step_and_read(*gpu, gpu_model, gpu_sgd, x, labels, head_gradients);
  // kUpdated includes backbone tensors: their update must be exactly 0 on both.
  expect_step_close(actual, expected, kForwardScaled, kGradientScaled, head_gradients);

  size_t i = 0, changed = 0;
  for (auto& nt : gpu_model.backbone().named_parameters()) changed += nt.tensor.to_vector() != backbone_before[i++];
  for (auto& nt : gpu_model.backbone().named_buffers()) changed += nt.tensor.to_vector() != backbone_before[i++];
  EXPECT_EQ(changed, 0u) << "frozen backbone tensors changed during the GPU step";
  for (auto& nt : gpu_model.backbone().named_parameters())
    EXPECT_FALSE(nt.tensor.grad().defined()) << nt.name << " got a gradient although frozen";
}

// Inference at the recipe's size: eval mode (running statistics, dropout
// off) under no_grad, as apps/evaluation.cpp runs it. Batch 16 of 224x224.
TEST(CudaModel, EvalModeAt224MatchesCpu) {
  TL_REQUIRE_GPU(gpu);
  ClassifierConfig config;
  config.input_size = 224;
  config.seed = kModelSeed;
  Classifier cpu_model(config), gpu_model(config);
  gpu_model.to(*gpu);
  const Tensor x = random_images(16, 224, 401);
  auto logits = [&](Context& ctx, Classifier& model) {
    model.eval();
    NoGradGuard no_grad(ctx);
    return model.forward(ctx, ctx.to_device(x)).to_vector();
  };
  Context cpu(Device::CPU, 0);
  expect_close_and_print(logits(*gpu, gpu_model), logits(cpu, cpu_model), kForwardScaled, "eval logits");
  EXPECT_EQ(gpu->random_stream_position(), 0u) << "eval mode drew dropout streams";
}

}  // namespace
}  // namespace tl::test
