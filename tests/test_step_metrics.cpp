// The training totals that the steps add up on their device
// (kernels/step_metrics.h, layers/step_metrics.h): what each step adds, the
// tie rule of a hit, a non-finite loss, and a start from a resumed epoch's
// sums. The GPU kernel is compared with these in tests/gpu.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "layers/step_metrics.h"
#include "runtime/check.h"
#include "tests/support/batches.h"

namespace tl::test {
namespace {

// Four rows of three logits, their largest at 1, 0 (a tie: the first
// largest), 2, and 2 (a NaN compares false, so it is passed over).
const float kNaN = std::numeric_limits<float>::quiet_NaN();
Tensor logits() {
  return Tensor::from_vector({4, 3}, {1, 3, 2,  //
                                      5, 5, 0,  //
                                      0, 0, 1,  //
                                      0, kNaN, 1});
}

TEST(StepMetrics, AddsLossTimesBatchHitsAndSamples) {
  Context ctx(Device::CPU);
  StepMetrics metrics(ctx);
  const Tensor labels = labels_tensor({1, 0, 0, 0});
  metrics.add(ctx, Tensor::full({1}, 0.75f), logits(), labels);
  metrics.add(ctx, Tensor::full({1}, 1.25f), logits(), labels_tensor({1, 1, 2, 1}));
  const StepTotals t = metrics.read(ctx);
  EXPECT_EQ(t.loss_sum, 0.75 * 4 + 1.25 * 4);
  EXPECT_EQ(t.correct, 2 + 2);  // rows 0, 1; then rows 0, 2
  EXPECT_EQ(t.samples, 8);
  EXPECT_EQ(t.steps, 2);
  EXPECT_EQ(t.first_non_finite, -1);
  EXPECT_EQ(t.last_loss, 1.25f);
}

// A NaN or infinite loss: the step counts, adds nothing to the sums, and the
// first such step is remembered with its loss (later ones do not replace it).
TEST(StepMetrics, RemembersTheFirstNonFiniteStep) {
  Context ctx(Device::CPU);
  StepMetrics metrics(ctx);
  const Tensor labels = labels_tensor({1, 0, 0, 0});
  metrics.add(ctx, Tensor::full({1}, 0.5f), logits(), labels);
  metrics.add(ctx, Tensor::full({1}, INFINITY), logits(), labels);
  metrics.add(ctx, Tensor::full({1}, kNaN), logits(), labels);
  metrics.add(ctx, Tensor::full({1}, 0.25f), logits(), labels);
  const StepTotals t = metrics.read(ctx);
  EXPECT_EQ(t.steps, 4);
  EXPECT_EQ(t.first_non_finite, 1);
  EXPECT_EQ(t.first_non_finite_loss, INFINITY);
  EXPECT_EQ(t.samples, 8);
  EXPECT_EQ(t.correct, 4);
  EXPECT_EQ(t.loss_sum, 0.5 * 4 + 0.25 * 4);
}

// A resumed epoch starts from the saved sums, and adds to them in the same
// order as the interrupted run would have: the same double.
TEST(StepMetrics, ContinuesFromGivenTotals) {
  Context ctx(Device::CPU);
  StepTotals start;
  start.loss_sum = 0.1;  // not a sum of float products: rounding shows if the order changes
  start.correct = 3;
  start.samples = 7;
  StepMetrics metrics(ctx, start);
  metrics.add(ctx, Tensor::full({1}, 1.0f / 3.0f), logits(), labels_tensor({1, 0, 0, 0}));
  const StepTotals t = metrics.read(ctx);
  EXPECT_EQ(t.loss_sum, 0.1 + double(1.0f / 3.0f) * 4.0);
  EXPECT_EQ(t.correct, 5);
  EXPECT_EQ(t.samples, 11);
  EXPECT_EQ(t.steps, 1);
}

// The next epoch starts its totals again in the same memory (a CUDA graph
// of the step adds to them at the address it was captured with).
TEST(StepMetrics, ResetStartsAgainFromGivenTotalsInTheSameMemory) {
  Context ctx(Device::CPU);
  StepMetrics metrics(ctx);
  const void* where = metrics.device_totals();
  metrics.add(ctx, Tensor::full({1}, 2.0f), logits(), labels_tensor({1, 0, 0, 0}));
  StepTotals start;
  start.correct = 3;
  start.samples = 7;
  metrics.reset(ctx, start);
  EXPECT_EQ(metrics.device_totals(), where);
  StepTotals t = metrics.read(ctx);
  EXPECT_EQ(t.loss_sum, 0.0);
  EXPECT_EQ(t.correct, 3);
  EXPECT_EQ(t.samples, 7);
  EXPECT_EQ(t.steps, 0);
  metrics.reset(ctx);
  t = metrics.read(ctx);
  EXPECT_EQ(t.samples, 0);
  EXPECT_EQ(t.first_non_finite, -1);
}

TEST(StepMetrics, RefusesMismatchedShapes) {
  Context ctx(Device::CPU);
  StepMetrics metrics(ctx);
  EXPECT_THROW(metrics.add(ctx, Tensor::full({1}, 1.0f), logits(), labels_tensor({1, 0})), Error);
  EXPECT_THROW(metrics.add(ctx, Tensor::full({2}, 1.0f), logits(), labels_tensor({1, 0, 0, 0})),
               Error);
}

}  // namespace
}  // namespace tl::test
