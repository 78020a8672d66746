#include "layers/training_step.h"

#include <cmath>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/step_metrics.h"
#include "runtime/check.h"

namespace tl {

namespace {

// Stages 3-5, shared by both steps: the loss of `logits`, backward, the
// update, and the batch's loss and hits into `metrics`. Nothing here reads a
// value back on the host: on a GPU the whole step is queued and the host
// goes on to the next batch while it runs.
void loss_backward_update(Context& ctx, Optimizer& optimizer, const Tensor& logits,
                          const Tensor& labels, StepMetrics& metrics) {
  // 3. Loss: softmax cross-entropy, averaged over the batch.
  const Tensor device_labels = ctx.to_device(labels);
  const Tensor loss = ops::softmax_cross_entropy(ctx, logits, device_labels);
  // What the batch says about the model as it was before the update.
  metrics.add(ctx, loss, logits, device_labels);
  ctx.mark("step metrics");

  // 4. Backward: d loss / d parameter into each trainable parameter's .grad.
  backward(ctx, loss);

  // 5. Update: the optimiser moves each parameter against its gradient,
  //    unless the loss is NaN or infinite: its gradients would poison every
  //    weight. The optimiser decides that from the loss where it lies (on a
  //    GPU, in its kernel), so the host never waits for it.
  optimizer.step(ctx, loss);
  ctx.mark("optimizer");
}

// Stages 1-2 of a step on images: preprocess and forward.
Tensor forward_images(Context& ctx, Classifier& model, const Tensor& images) {
  // 1. Preprocess: uint8 RGB at the data's size -> float BGR at the model's
  //    input size, minus the ImageNet channel means (what the pretrained
  //    Keras weights expect). Data, not a parameter: nothing is recorded.
  const int64_t size = model.config().input_size;
  const Tensor x = ops::preprocess_caffe(ctx, ctx.to_device(images), size, size);
  ctx.mark("preprocess");
  // 2. Forward: the logits, with every op recorded for backward.
  return model.forward(ctx, x);
}

// One step's metrics, read at once (the per-step API).
StepResult read_one_step(Context& ctx, const StepMetrics& metrics, const Tensor& logits,
                         const Tensor& labels) {
  const StepTotals totals = metrics.read(ctx);
  StepResult result;
  result.loss = totals.last_loss;
  result.updated = totals.first_non_finite < 0;
  result.samples = labels.numel();
  result.correct = totals.correct;
  result.logits = logits;
  return result;
}

}  // namespace

Tensor queue_training_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                           const Tensor& images, const Tensor& labels, StepMetrics& metrics) {
  model.train();          // dropout on; BNs on the batch's statistics (unless frozen)
  optimizer.zero_grad();  // backward adds to .grad: drop the previous step's
  const Tensor logits = forward_images(ctx, model, images);
  loss_backward_update(ctx, optimizer, logits, labels, metrics);
  return logits;
}

Tensor queue_head_training_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                                const Tensor& features, const Tensor& labels,
                                StepMetrics& metrics) {
  model.train();
  optimizer.zero_grad();
  // Stages 1 and 2 up to the head's input were done once, when the features
  // were cached; the head runs exactly as inside model.forward.
  const Tensor logits = model.head().forward(ctx, ctx.to_device(features));
  loss_backward_update(ctx, optimizer, logits, labels, metrics);
  return logits;
}

StepResult training_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                         const Tensor& images, const Tensor& labels) {
  StepMetrics metrics(ctx);
  const Tensor logits = queue_training_step(ctx, model, optimizer, images, labels, metrics);
  return read_one_step(ctx, metrics, logits, labels);
}

StepResult head_training_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                              const Tensor& features, const Tensor& labels) {
  StepMetrics metrics(ctx);
  const Tensor logits =
      queue_head_training_step(ctx, model, optimizer, features, labels, metrics);
  return read_one_step(ctx, metrics, logits, labels);
}

std::vector<int32_t> argmax_rows(const Tensor& logits) {
  TL_CHECK(logits.dim() == 2, "argmax_rows: logits (N, classes) expected, got ",
           shape_str(logits.shape()));
  const int64_t n = logits.size(0), classes = logits.size(1);
  const std::vector<float> v = logits.to_vector();
  std::vector<int32_t> best(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i)
    best[i] = static_cast<int32_t>(argmax_of_row(v.data() + i * classes, classes));
  return best;
}

int64_t count_correct(const Tensor& logits, const Tensor& labels) {
  TL_CHECK(logits.dim() == 2 && labels.dim() == 1 && labels.size(0) == logits.size(0),
           "count_correct: logits (N, classes) and labels (N) expected, got ",
           shape_str(logits.shape()), " and ", shape_str(labels.shape()));
  TL_CHECK(labels.device() == Device::CPU && labels.dtype() == DType::I32,
           "count_correct: labels must be int32 on the host");
  const std::vector<int32_t> predicted = argmax_rows(logits);
  const int32_t* label = labels.data<int32_t>();
  int64_t correct = 0;
  for (size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == label[i];
  return correct;
}

}  // namespace tl
