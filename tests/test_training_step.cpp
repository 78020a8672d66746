// The training step (layers/training_step.h) that train_cifar, the tests and
// the benchmarks share: it is exactly the sequence preprocess -> forward ->
// loss -> backward -> update written out op by op, it learns a batch it
// sees again, it leaves the parameters alone when the loss is not finite,
// and it counts hits as the trainer's running accuracy needs.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/op_timeline.h"
#include "engine/ops.h"
#include "engine/optimizer.h"
#include "layers/classifier.h"
#include "layers/training_step.h"
#include "layers/training_step_graph.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"
#include "tests/support/optimizers.h"
#include "tests/support/batches.h"

namespace tl::test {
namespace {

constexpr Tolerance kBitIdentical{0.0, 0.0};

// ResNet50 at a small input and with the average-pool head (2,048 features
// into the head instead of Flatten's), so that a step takes a fraction of a
// second on the CPU.
ClassifierConfig small_config(int64_t input_size) {
  ClassifierConfig config;
  config.input_size = input_size;
  config.pool = HeadPool::kAverage;
  config.seed = 21;
  return config;
}

// A batch of uint8 RGB images, as the loaders hand them out (CIFAR-10's are 32x32).
// The step written out op by op, as a reader of docs/WALKTHROUGH.md would.
struct HandWritten {
  float loss;
  Tensor logits;
};
HandWritten hand_written_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                              const Tensor& images, const Tensor& labels) {
  model.train();
  optimizer.zero_grad();
  const int64_t size = model.config().input_size;
  const Tensor x = ops::preprocess_caffe(ctx, images, size, size);
  const Tensor logits = model.forward(ctx, x);
  const Tensor loss = ops::softmax_cross_entropy(ctx, logits, labels);
  backward(ctx, loss);
  optimizer.step(ctx);
  return {loss.to_vector()[0], logits};
}

void expect_same_state(Module& actual, Module& expected) {
  const auto pa = actual.named_parameters(), pe = expected.named_parameters();
  ASSERT_EQ(pa.size(), pe.size());
  for (size_t i = 0; i < pa.size(); ++i)
    ASSERT_TRUE(all_close(pa[i].tensor, pe[i].tensor, kBitIdentical, pa[i].name));
  const auto ba = actual.named_buffers(), be = expected.named_buffers();
  ASSERT_EQ(ba.size(), be.size());
  for (size_t i = 0; i < ba.size(); ++i)
    ASSERT_TRUE(all_close(ba[i].tensor, be[i].tensor, kBitIdentical, ba[i].name));
}

// The images (16x16) are smaller than the model's input (32x32), so the step
// must resize them to the model's size; two steps, so a gradient the step failed to
// drop would change the second update; the models start in eval mode, so a
// step that did not switch to training mode would skip dropout and use the
// BNs' running statistics. Any of these changes bits that are compared.
TEST(TrainingStep, IsTheHandWrittenSequenceBitForBit) {
  Classifier stepped(small_config(32)), by_hand(small_config(32));
  stepped.eval();
  by_hand.eval();
  auto stepped_adam = make_adam(stepped), by_hand_adam = make_adam(by_hand);
  Context stepped_ctx(Device::CPU, 7), by_hand_ctx(Device::CPU, 7);
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE("step " + std::to_string(i + 1));
    const Tensor images = random_images(4, 30 + i, /*size=*/16);
    const Tensor labels = labels_tensor({1, 4, 7, 9});
    const StepResult result = training_step(stepped_ctx, stepped, *stepped_adam, images, labels);
    const HandWritten expected =
        hand_written_step(by_hand_ctx, by_hand, *by_hand_adam, images, labels);
    EXPECT_TRUE(result.updated);
    EXPECT_EQ(result.loss, expected.loss);  // exact
    EXPECT_TRUE(all_close(result.logits, expected.logits, kBitIdentical, "logits"));
    EXPECT_EQ(result.samples, 4);
    EXPECT_EQ(result.correct, count_correct(expected.logits, labels));
    EXPECT_EQ(stepped_ctx.random_stream_position(), by_hand_ctx.random_stream_position());
  }
  EXPECT_EQ(stepped_adam->steps(), 2);
  expect_same_state(stepped, by_hand);
}

// Seeing the same batch again, the model fits it better. Dropout off, so
// that each step sees the same function of the weights and the loss can
// only fall through learning. Eight steps, not four: with 4 images the
// last stage's BNs normalise 4 values per channel, so the first steps are
// chaotic. Measured: rounding the stem's output 1 ulp differently (another
// convolution kernel, another thread count) moved the 4th loss anywhere in
// 1.6-3.0 from 2.89, while the 8th stayed in 0.37-1.83.
TEST(TrainingStep, RepeatedBatchLowersTheLoss) {
  ClassifierConfig config = small_config(32);
  config.dropout = 0.0f;
  Classifier model(config);
  auto adam = make_adam(model);
  Context ctx(Device::CPU, 3);
  const Tensor images = random_images(4, 40);
  const Tensor labels = labels_tensor({0, 2, 5, 8});
  const StepResult first = training_step(ctx, model, *adam, images, labels);
  StepResult last = first;
  for (int i = 0; i < 7; ++i) last = training_step(ctx, model, *adam, images, labels);
  ASSERT_TRUE(first.updated && last.updated);
  EXPECT_LT(last.loss, 0.8f * first.loss) << "first " << first.loss << ", eighth " << last.loss;
}

// A NaN in a weight makes the loss NaN: the optimiser's guard (the loss
// itself, read where it lies) skips the update, so no parameter moves and
// Adam's m and v stay zero; the step is reported as not updated with no
// hits. The step counts do advance (Optimizer::step: a run stops there).
TEST(TrainingStep, NonFiniteLossLeavesTheParametersAlone) {
  Classifier model(small_config(32));
  auto adam = make_adam(model);
  for (auto& nt : model.named_parameters())
    if (nt.name == "dense_3/bias")
      nt.tensor.data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::vector<float>> before;
  for (auto& nt : model.named_parameters()) before.push_back(nt.tensor.to_vector());

  Context ctx(Device::CPU, 0);
  const StepResult result =
      training_step(ctx, model, *adam, random_images(4, 50), labels_tensor({0, 1, 2, 3}));
  EXPECT_FALSE(result.updated);
  EXPECT_TRUE(std::isnan(result.loss)) << result.loss;
  EXPECT_EQ(result.correct, 0);
  EXPECT_EQ(adam->steps(), 1);
  const auto params = model.named_parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const std::vector<float> after = params[i].tensor.to_vector();
    // Bytes, not values: the NaN must still be the same NaN.
    EXPECT_EQ(std::memcmp(after.data(), before[i].data(), after.size() * sizeof(float)), 0)
        << params[i].name << " changed";
  }
  for (const auto& [name, state] : adam->state()) {
    if (state.dtype() != DType::F32) continue;  // the step counts
    for (float v : state.to_vector()) ASSERT_EQ(v, 0.0f) << name << " moved";
  }
}

// The queued steps (what the trainer runs, reading the totals once) and the
// per-step API (reading after each step, summed on the host as the trainer
// used to) give the same model and the same sums, bit for bit: only where
// the values are read has changed.
TEST(TrainingStep, QueuedStepsAddUpAsStepsReadOneByOne) {
  Classifier queued(small_config(32)), one_by_one(small_config(32));
  auto queued_adam = make_adam(queued), one_by_one_adam = make_adam(one_by_one);
  Context queued_ctx(Device::CPU, 11), one_by_one_ctx(Device::CPU, 11);
  StepMetrics metrics(queued_ctx);
  double loss_sum = 0;
  int64_t correct = 0, samples = 0;
  for (int i = 0; i < 3; ++i) {
    const Tensor images = random_images(4, 60 + i, /*size=*/16);
    const Tensor labels = labels_tensor({i, 3, 5, 9 - i});
    queue_training_step(queued_ctx, queued, *queued_adam, images, labels, metrics);
    const StepResult r = training_step(one_by_one_ctx, one_by_one, *one_by_one_adam, images, labels);
    ASSERT_TRUE(r.updated);
    loss_sum += double(r.loss) * double(r.samples);
    correct += r.correct;
    samples += r.samples;
  }
  const StepTotals totals = metrics.read(queued_ctx);
  EXPECT_EQ(totals.loss_sum, loss_sum);  // exact
  EXPECT_EQ(totals.correct, correct);
  EXPECT_EQ(totals.samples, samples);
  EXPECT_EQ(totals.steps, 3);
  EXPECT_EQ(totals.first_non_finite, -1);
  expect_same_state(queued, one_by_one);
}

// The trainer's step runner (layers/training_step_graph.h) on the CPU: no
// graph, every step the plain queued step, bit for bit, and the reason said.
TEST(TrainingStepGraph, OnTheCpuEveryStepIsThePlainStep) {
  Classifier graphed(small_config(32)), plain(small_config(32));
  auto graphed_adam = make_adam(graphed), plain_adam = make_adam(plain);
  Context graphed_ctx(Device::CPU, 11), plain_ctx(Device::CPU, 11);
  StepMetrics graphed_metrics(graphed_ctx), plain_metrics(plain_ctx);
  TrainingStepGraph graph;
  for (int i = 0; i < 3; ++i) {
    const Tensor images = random_images(4, 70 + i, /*size=*/16);
    const Tensor labels = labels_tensor({i, 3, 5, 9 - i});
    const Tensor a = graph.queue(graphed_ctx, graphed, *graphed_adam, images, labels,
                                 graphed_metrics);
    const Tensor b = queue_training_step(plain_ctx, plain, *plain_adam, images, labels,
                                         plain_metrics);
    ASSERT_TRUE(all_close(a, b, kBitIdentical, "logits"));
  }
  EXPECT_EQ(graph.captures(), 0);
  EXPECT_EQ(graph.replays(), 0);
  EXPECT_EQ(graph.eager_steps(), 3);
  EXPECT_EQ(graph.off_reason(), "not on a GPU");
  EXPECT_EQ(graphed_metrics.read(graphed_ctx).loss_sum, plain_metrics.read(plain_ctx).loss_sum);
  expect_same_state(graphed, plain);

  TrainingStepGraph off(/*enabled=*/false);
  off.queue(graphed_ctx, graphed, *graphed_adam, random_images(4, 80, 16),
            labels_tensor({1, 2, 3, 4}), graphed_metrics);
  EXPECT_NE(off.off_reason().find("--cuda-graph off"), std::string::npos) << off.off_reason();
}

// A timeline (engine/op_timeline.h) splits a step op by op: every stage
// and every op of ResNet50 is there, with its count per step (53
// convolutions each way, 16 fused block ends), and marking changes nothing
// the step computes.
TEST(TrainingStep, TimelineSplitsTheStepOpByOp) {
  Classifier timed(small_config(32)), plain(small_config(32));
  auto timed_adam = make_adam(timed), plain_adam = make_adam(plain);
  Context timed_ctx(Device::CPU, 9), plain_ctx(Device::CPU, 9);
  const Tensor images = random_images(4, 80);
  const Tensor labels = labels_tensor({2, 4, 6, 8});
  OpTimeline timeline(timed_ctx);
  timed_ctx.set_timeline(&timeline);
  const StepResult a = training_step(timed_ctx, timed, *timed_adam, images, labels);
  timed_ctx.set_timeline(nullptr);
  const StepResult b = training_step(plain_ctx, plain, *plain_adam, images, labels);
  EXPECT_EQ(a.loss, b.loss);
  expect_same_state(timed, plain);

  std::map<std::string, int64_t> counts;
  double total = 0;
  for (const OpTimeline::Row& row : timeline.finish()) {
    counts[row.label] = row.count;
    total += row.ms;
    EXPECT_GE(row.ms, 0.0) << row.label;
  }
  EXPECT_GT(total, 0.0);
  EXPECT_EQ(counts["preprocess"], 1);
  EXPECT_EQ(counts["forward conv2d"], 53);
  EXPECT_EQ(counts["backward conv2d"], 53);
  EXPECT_EQ(counts["forward add_relu"], 16);  // the block ends (the CPU's composition)
  EXPECT_EQ(counts["forward softmax_cross_entropy"], 1);
  EXPECT_EQ(counts["step metrics"], 1);
  EXPECT_EQ(counts["optimizer"], 1);
  EXPECT_GT(counts["backward gradient sums"], 0);  // where the shortcut meets the branch
}

// The trainer's running accuracy: a row is a hit when its largest logit is
// at the label; on a tie the first largest counts.
TEST(TrainingStep, CountCorrectTakesTheFirstLargestLogit) {
  const Tensor logits = Tensor::from_vector({4, 3}, {1, 3, 2,  //
                                                     5, 5, 0,  // a tie: class 0
                                                     0, 0, 1,  //
                                                     -1, -2, -3});
  EXPECT_EQ(count_correct(logits, labels_tensor({1, 1, 2, 0})), 3);
  EXPECT_EQ(count_correct(logits, labels_tensor({1, 0, 2, 0})), 4);
  EXPECT_EQ(count_correct(logits, labels_tensor({0, 2, 1, 1})), 0);
  EXPECT_THROW(count_correct(logits, labels_tensor({0, 1})), Error);
}

}  // namespace
}  // namespace tl::test
