#include "layers/training_step.h"

#include <cmath>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "runtime/check.h"

namespace tl {

namespace {

// Stages 3-5, shared by both steps: the loss of `result.logits`, backward,
// the update, and the batch's hits.
void loss_backward_update(Context& ctx, Optimizer& optimizer, const Tensor& labels,
                          StepResult& result) {
  // 3. Loss: softmax cross-entropy, averaged over the batch. Read back here
  //    (on a GPU this waits for the forward) because it decides step 4.
  const Tensor loss = ops::softmax_cross_entropy(ctx, result.logits, ctx.to_device(labels));
  result.loss = loss.to_vector()[0];
  if (!std::isfinite(result.loss)) return;  // its gradients would poison every weight

  // 4. Backward: d loss / d parameter into each trainable parameter's .grad.
  backward(ctx, loss);

  // 5. Update: the optimiser moves each parameter against its gradient.
  optimizer.step(ctx);
  result.updated = true;

  // What the batch says about the model as it was before the update.
  result.correct = count_correct(result.logits, ctx.to_host(labels));
}

}  // namespace

StepResult training_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                         const Tensor& images, const Tensor& labels) {
  model.train();          // dropout on; BNs on the batch's statistics (unless frozen)
  optimizer.zero_grad();  // backward adds to .grad: drop the previous step's
  StepResult result;
  result.samples = labels.numel();

  // 1. Preprocess: uint8 RGB at the data's size -> float BGR at the model's
  //    input size, minus the ImageNet channel means (what the pretrained
  //    Keras weights expect). Data, not a parameter: nothing is recorded.
  const int64_t size = model.config().input_size;
  const Tensor x = ops::preprocess_caffe(ctx, ctx.to_device(images), size, size);

  // 2. Forward: the logits, with every op recorded for backward.
  result.logits = model.forward(ctx, x);

  loss_backward_update(ctx, optimizer, labels, result);
  return result;
}

StepResult head_training_step(Context& ctx, Classifier& model, Optimizer& optimizer,
                              const Tensor& features, const Tensor& labels) {
  model.train();
  optimizer.zero_grad();
  StepResult result;
  result.samples = labels.numel();
  // Stages 1 and 2 up to the head's input were done once, when the features
  // were cached; the head runs exactly as inside model.forward.
  result.logits = model.head().forward(ctx, ctx.to_device(features));
  loss_backward_update(ctx, optimizer, labels, result);
  return result;
}

std::vector<int32_t> argmax_rows(const Tensor& logits) {
  TL_CHECK(logits.dim() == 2, "argmax_rows: logits (N, classes) expected, got ",
           shape_str(logits.shape()));
  const int64_t n = logits.size(0), classes = logits.size(1);
  const std::vector<float> v = logits.to_vector();
  std::vector<int32_t> best(static_cast<size_t>(n), 0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 1; j < classes; ++j)
      if (v[i * classes + j] > v[i * classes + best[i]]) best[i] = static_cast<int32_t>(j);
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
