// The training loss and accuracy of a run of steps, kept on the device that
// runs them and read by the host only when it asks.
//
// Reading the loss after every step would make the host wait for the GPU to
// finish that step before it could queue the next one: the GPU would idle
// while the host prepares work. So the step adds its loss and hits to these
// totals on the device (kernels/step_metrics.h) and goes on; the trainer
// reads them every few steps, at the end of an epoch and before it saves.
// A NaN loss is kept track of the same way: the optimiser skips that step's
// update on the device (Optimizer::step's guard), and the read reports it.
// On the CPU the totals are plain host memory, so reading costs nothing.
#pragma once

#include "engine/context.h"
#include "engine/tensor.h"
#include "kernels/step_metrics.h"

namespace tl {

class StepMetrics {
 public:
  // Totals on ctx's device, starting from `start` (a resumed epoch's sums).
  explicit StepMetrics(Context& ctx, const StepTotals& start = StepTotals());

  // Adds one step: its mean loss (1), logits (N, classes) and labels (N)
  // int32, all on ctx's device. Queued; the host does not wait.
  void add(Context& ctx, const Tensor& loss, const Tensor& logits, const Tensor& labels);

  // The totals so far. Waits for the queued steps; a failure that a kernel
  // recorded meanwhile (a label outside the classes) is raised here.
  StepTotals read(Context& ctx) const;

  // Starts the totals again from `start` (the next epoch), in the same
  // device memory: a CUDA graph of the step (layers/training_step_graph.h)
  // adds to these totals at the address it was captured with. Ordered after
  // the steps queued before it.
  void reset(Context& ctx, const StepTotals& start = StepTotals());
  // Where the totals lie (the graph's check that it adds to these).
  const void* device_totals() const { return totals_.raw_data(); }

 private:
  Tensor totals_;  // sizeof(StepTotals) bytes (uint8) on the device
};

}  // namespace tl
