// One step of training, the one the trainer, the tests and the benchmarks
// all run: a batch of uint8 images and their labels in, the weights updated
// once, the batch's loss and hits out.
//
//   preprocess -> forward -> loss -> backward -> update
//
// What is not here belongs to the caller: the learning-rate schedule (set it
// on the optimiser before the step), running averages, progress, checkpoints.
// Works on any device: the model and the optimiser's state live on ctx's.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/context.h"
#include "engine/optimizer.h"
#include "engine/tensor.h"
#include "layers/classifier.h"
#include "layers/step_metrics.h"

namespace tl {

// One step on (images, labels), queued:
//   images  (N, H, W, 3) uint8 RGB, on the host or on ctx's device; resized
//           to the model's input size (model.config().input_size) here.
//   labels  (N) int32 class indices, on the host or on ctx's device.
// Puts the model in training mode (dropout on; BNs on the batch's
// statistics, but those frozen in inference mode, FreezeSpec). Each
// dropout draws one random stream from ctx, so a Context at the same stream
// position repeats the step bit for bit. The batch's loss and hits go into
// `metrics`; nothing is read back, so on a GPU the host returns as soon as
// the step is queued. A NaN or infinite loss skips the update (on the
// device; the forward has moved the BNs' running statistics already) and
// shows in metrics.read(). The gradients stay on the parameters after the
// step (for a caller that inspects them) until the next step drops them.
// Returns the logits (N, classes) on ctx's device.
Tensor queue_training_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                           const Tensor& images, const Tensor& labels, StepMetrics& metrics);

// The same step for a model whose backbone is fixed
// (Classifier::backbone_is_fixed), given the backbone's outputs for the
// batch instead of its images (layers/feature_cache.h): the head alone runs
// forward and backward. With the same features it is the same step, bit for
// bit, as queue_training_step on the images.
Tensor queue_head_training_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                                const Tensor& features, const Tensor& labels,
                                StepMetrics& metrics);

// One step, read back at once: for tests, tools and anything that wants
// each step's numbers (on a GPU it waits for the step to finish).
struct StepResult {
  // The batch's mean softmax cross-entropy, as computed before the update.
  float loss = 0;
  // false: the loss was NaN or infinite, so the update was skipped: the
  // parameters and the optimiser's state tensors as they were (the forward
  // has moved the BNs' running statistics already; the optimiser's step
  // counts have advanced), correct left at 0.
  bool updated = false;
  int64_t samples = 0;  // the batch size
  int64_t correct = 0;  // samples whose largest logit is at their label
  Tensor logits;        // (samples, classes) on ctx's device
};
StepResult training_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                         const Tensor& images, const Tensor& labels);
StepResult head_training_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                              const Tensor& features, const Tensor& labels);

// Index of the largest value of each row of logits (N, classes; on any
// device); the first one on a tie.
std::vector<int32_t> argmax_rows(const Tensor& logits);

// How many rows of `logits` (N, classes; on any device) have their largest
// value (the first one, on a tie) at the row's label; labels (N) int32 on
// the host.
int64_t count_correct(const Tensor& logits, const Tensor& labels);

}  // namespace tl
