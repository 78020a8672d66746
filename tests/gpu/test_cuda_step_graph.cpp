// The training step as a CUDA graph (layers/training_step_graph.h) against
// the same steps launched kernel by kernel: BIT-identical. A replay runs the
// captured kernels with the captured arguments, and reads the values that
// change per step (dropout streams, the optimiser's learning rate, step
// counts and bias corrections) from device memory written before it, exactly
// as the eager step passes them; so nothing may differ, not even in the last
// bit. cuDNN is held to its deterministic algorithms, whose results repeat
// bit for bit, so that any difference is the graph's.
//
//   ReplayedStepsAreTheEagerStepsBitForBit  Adam (moving learning rate) and
//       SGD; a smaller batch in the middle runs eagerly between replays
//   ALoadedOptimizerStateIsCapturedAgain   a checkpoint loaded into the
//       optimiser replaces its state tensors: the graph notices and re-captures
//   AFailedCaptureFallsBackToEagerSteps    TL_SYNC_CHECK refuses the capture;
//       the run goes on eagerly, with the same results
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/optimizer.h"
#include "layers/classifier.h"
#include "layers/step_metrics.h"
#include "layers/training_step.h"
#include "layers/training_step_graph.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/batches.h"

namespace tl::test {
namespace {

constexpr int64_t kSize = 64;
constexpr uint64_t kModelSeed = 5;

std::vector<Tensor> trainable(Module& model) {
  std::vector<Tensor> params;
  for (auto& nt : model.named_parameters())
    if (nt.tensor.requires_grad()) params.push_back(nt.tensor);
  return params;
}

// Two groups, as train_cifar makes them: the backbone and the head.
std::unique_ptr<Optimizer> make_optimizer(Classifier& model, const std::string& kind) {
  std::vector<Tensor> backbone, head;
  for (auto& nt : model.named_parameters()) {
    if (!nt.tensor.requires_grad()) continue;
    (nt.name.rfind("conv", 0) == 0 ? backbone : head).push_back(nt.tensor);
  }
  if (kind == "adam") {
    AdamHyper h;
    h.weight_decay = 1e-4f;
    AdamHyper hb = h;
    hb.lr = h.lr / 10;
    return std::make_unique<Adam>(std::vector<AdamGroup>{{backbone, hb}, {head, h}});
  }
  SgdHyper h;
  h.lr = 0.01f;
  h.weight_decay = 5e-4f;
  SgdHyper hb = h;
  hb.lr = h.lr / 10;
  return std::make_unique<Sgd>(std::vector<SgdGroup>{{backbone, hb}, {head, h}});
}

// The batches of a run: batch 4, except batches of 3 at indices 3 and 6
// (the smaller last batch of each epoch: each runs eagerly between replays,
// and the second must not be taken for a lasting change of shape).
struct Batch {
  Tensor images, labels;
};
std::vector<Batch> batches(int count) {
  std::vector<Batch> out;
  for (int i = 0; i < count; ++i) {
    const int64_t n = i == 3 || i == 6 ? 3 : 4;
    std::vector<int32_t> labels;
    for (int64_t j = 0; j < n; ++j) labels.push_back(static_cast<int32_t>((i * 7 + j * 3) % 10));
    out.push_back({random_images(n, 100 + i), labels_tensor(labels)});
  }
  return out;
}

// Everything a run leaves behind, on the host, as raw bytes.
struct RunState {
  std::vector<std::vector<float>> parameters, buffers, gradients, optimizer_state;
  std::vector<float> last_logits;
  StepTotals totals;
  uint64_t random_position = 0;
  int64_t optimizer_steps = 0;
};

RunState read_state(Context& ctx, Classifier& model, Optimizer& optimizer,
                    const StepMetrics& metrics, const Tensor& last_logits) {
  RunState s;
  for (auto& nt : model.named_parameters()) {
    s.parameters.push_back(nt.tensor.to_vector());
    if (nt.tensor.grad().defined()) s.gradients.push_back(nt.tensor.grad().to_vector());
  }
  for (auto& nt : model.named_buffers()) s.buffers.push_back(nt.tensor.to_vector());
  for (auto& [name, t] : optimizer.state())
    if (t.dtype() == DType::F32) s.optimizer_state.push_back(t.to_vector());
  s.last_logits = last_logits.to_vector();
  s.totals = metrics.read(ctx);
  s.random_position = ctx.random_stream_position();
  s.optimizer_steps = optimizer.steps();
  return s;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

void expect_identical(const RunState& graphed, const RunState& eager) {
  auto each = [](const auto& a, const auto& b, const char* what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    int differing = 0;
    for (size_t i = 0; i < a.size(); ++i) differing += !same_bits(a[i], b[i]);
    EXPECT_EQ(differing, 0) << differing << " of " << a.size() << " " << what
                            << " differ from the eager run's";
  };
  each(graphed.parameters, eager.parameters, "parameters");
  each(graphed.buffers, eager.buffers, "BN statistics");
  each(graphed.gradients, eager.gradients, "gradients");
  each(graphed.optimizer_state, eager.optimizer_state, "optimiser state tensors");
  EXPECT_TRUE(same_bits(graphed.last_logits, eager.last_logits)) << "the last step's logits";
  EXPECT_EQ(graphed.totals.loss_sum, eager.totals.loss_sum);
  EXPECT_EQ(graphed.totals.correct, eager.totals.correct);
  EXPECT_EQ(graphed.totals.samples, eager.totals.samples);
  EXPECT_EQ(graphed.totals.steps, eager.totals.steps);
  EXPECT_EQ(graphed.random_position, eager.random_position) << "dropout streams drawn";
  EXPECT_EQ(graphed.optimizer_steps, eager.optimizer_steps);
}

// Runs `steps` batches from a fresh model on ctx (random stream from 0),
// through `run_step`; `between(i)` runs before step i (learning rates,
// checkpoint loads).
using StepFn = std::function<Tensor(Context&, Classifier&, Optimizer&, const Batch&, StepMetrics&)>;
RunState run(Context& ctx, const std::string& optimizer_kind, int steps, const StepFn& run_step,
             const std::function<void(int, Optimizer&)>& between = nullptr) {
  ClassifierConfig config;
  config.input_size = kSize;
  config.seed = kModelSeed;
  Classifier model(config);
  model.to(ctx);
  std::unique_ptr<Optimizer> optimizer = make_optimizer(model, optimizer_kind);
  ctx.set_random_stream_position(0);
  StepMetrics metrics(ctx);
  Tensor logits;
  const std::vector<Batch> data = batches(steps);
  for (int i = 0; i < steps; ++i) {
    // A learning rate that moves every step, as the cosine schedule does.
    for (size_t g = 0; g < optimizer->num_groups(); ++g)
      optimizer->set_lr(g, optimizer->lr(g) * (1.0f - 0.05f * static_cast<float>(i)));
    if (between) between(i, *optimizer);
    logits = run_step(ctx, model, *optimizer, data[i], metrics);
  }
  return read_state(ctx, model, *optimizer, metrics, logits);
}

Tensor eager_step(Context& ctx, Classifier& model, Optimizer& optimizer, const Batch& b,
                  StepMetrics& metrics) {
  return queue_training_step(ctx, model, optimizer, b.images, b.labels, metrics);
}

// bench/gpu_check.sh runs the GPU tests with TL_SYNC_CHECK=1, which refuses
// captures (AFailedCaptureFallsBackToEagerSteps): these tests turn it off.
TEST(CudaStepGraph, ReplayedStepsAreTheEagerStepsBitForBit) {
  TL_REQUIRE_GPU(gpu);
  gpu->gpu().sync_check = false;
  gpu->set_deterministic(true);
  for (const std::string kind : {"adam", "sgd"}) {
    SCOPED_TRACE(kind);
    const RunState eager = run(*gpu, kind, 7, eager_step);
    TrainingStepGraph graph;
    const RunState graphed =
        run(*gpu, kind, 7, [&](Context& ctx, Classifier& m, Optimizer& o, const Batch& b,
                               StepMetrics& metrics) {
          return graph.queue(ctx, m, o, b.images, b.labels, metrics);
        });
    EXPECT_EQ(graph.off_reason(), "");
    // Step 0 warms up, step 1 is captured (and replayed), steps 3 and 6
    // (batch 3) run eagerly, the others replay.
    EXPECT_EQ(graph.captures(), 1);
    EXPECT_EQ(graph.replays(), 4);
    EXPECT_EQ(graph.eager_steps(), 3);
    std::cout << "  " << kind << ": graph memory " << graph.graph_bytes() / (1 << 20) << " MiB\n";
    expect_identical(graphed, eager);
  }
}

TEST(CudaStepGraph, ALoadedOptimizerStateIsCapturedAgain) {
  TL_REQUIRE_GPU(gpu);
  gpu->gpu().sync_check = false;
  gpu->set_deterministic(true);
  // Before step 5: the optimiser's state saved and loaded back, as a resume
  // does; the values are the same, the tensors new.
  auto reload = [&](int i, Optimizer& optimizer) {
    if (i == 5) optimizer.load_state(*gpu, optimizer.state(), optimizer.steps());
  };
  const RunState eager = run(*gpu, "adam", 9, eager_step, reload);
  TrainingStepGraph graph;
  const RunState graphed = run(
      *gpu, "adam", 9,
      [&](Context& ctx, Classifier& m, Optimizer& o, const Batch& b, StepMetrics& metrics) {
        return graph.queue(ctx, m, o, b.images, b.labels, metrics);
      },
      reload);
  EXPECT_EQ(graph.off_reason(), "");
  // 0 warm-up, 1 capture, 2 replay, 3 eager (batch 3), 4 replay, 5 out of
  // date: eager, 6 eager (batch 3), 7 eager (a new run of batch-4 steps),
  // 8 captured again and replayed.
  EXPECT_EQ(graph.captures(), 2);
  EXPECT_EQ(graph.eager_steps(), 5);
  EXPECT_EQ(graph.replays(), 4);
  expect_identical(graphed, eager);
}

TEST(CudaStepGraph, AFailedCaptureFallsBackToEagerSteps) {
  TL_REQUIRE_GPU(gpu);
  gpu->set_deterministic(true);
  const RunState eager = run(*gpu, "sgd", 4, eager_step);
  gpu->gpu().sync_check = true;  // as TL_SYNC_CHECK=1: a capture is refused
  TrainingStepGraph graph;
  const RunState graphed =
      run(*gpu, "sgd", 4, [&](Context& ctx, Classifier& m, Optimizer& o, const Batch& b,
                              StepMetrics& metrics) {
        return graph.queue(ctx, m, o, b.images, b.labels, metrics);
      });
  EXPECT_NE(graph.off_reason().find("TL_SYNC_CHECK"), std::string::npos) << graph.off_reason();
  EXPECT_EQ(graph.captures(), 0);
  EXPECT_EQ(graph.eager_steps(), 4);
  expect_identical(graphed, eager);
}

}  // namespace
}  // namespace tl::test
