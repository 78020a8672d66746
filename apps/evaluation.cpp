#include "apps/evaluation.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

#include "engine/ops.h"
#include "layers/feature_cache.h"
#include "layers/training_step.h"  // argmax_rows

namespace tl::app {

std::vector<double> Evaluation::per_class_accuracy() const {
  std::vector<double> acc;
  for (size_t c = 0; c < confusion.size(); ++c) {
    int64_t total = 0;
    for (int64_t v : confusion[c]) total += v;
    acc.push_back(total ? double(confusion[c][c]) / double(total) : 0.0);
  }
  return acc;
}

namespace {

// Loss, accuracy and confusion over n samples in batches; logits_of(begin,
// end) computes one batch's logits in inference mode.
template <typename LogitsOf>
Evaluation evaluate_batches(Context& ctx, Classifier& model, const Tensor& labels, int64_t batch_size,
                            LogitsOf&& logits_of,
                            const std::function<void(int64_t, int64_t)>& progress) {
  const int64_t n = labels.numel();
  const int64_t classes = model.config().classes;
  Evaluation e;
  e.confusion.assign(static_cast<size_t>(classes), std::vector<int64_t>(static_cast<size_t>(classes), 0));
  model.eval();
  NoGradGuard no_grad(ctx);
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t end = std::min(n, begin + batch_size);
    Tensor batch_labels = Tensor::empty({end - begin}, DType::I32);
    std::copy(labels.data<int32_t>() + begin, labels.data<int32_t>() + end, batch_labels.data<int32_t>());
    const Tensor logits = logits_of(begin, end);
    const Tensor loss = ops::softmax_cross_entropy(ctx, logits, ctx.to_device(batch_labels));
    loss_sum += double(loss.to_vector()[0]) * double(end - begin);
    const std::vector<int32_t> predicted = argmax_rows(logits);
    for (int64_t i = 0; i < end - begin; ++i) {
      const int32_t truth = batch_labels.data<int32_t>()[i];
      correct += predicted[static_cast<size_t>(i)] == truth;
      if (truth >= 0 && truth < classes) ++e.confusion[truth][predicted[static_cast<size_t>(i)]];
    }
    if (progress) progress(end, n);
  }
  e.samples = n;
  e.loss = n ? loss_sum / double(n) : 0;
  e.accuracy = n ? double(correct) / double(n) : 0;
  return e;
}

}  // namespace

Evaluation evaluate(Context& ctx, Classifier& model, const ImageSet& set, int64_t batch_size,
                    int64_t image_size, const std::function<void(int64_t, int64_t)>& progress) {
  return evaluate_batches(ctx, model, set.labels, batch_size, [&](int64_t begin, int64_t end) {
    const ImageSet batch = slice(set, begin, end);
    const Tensor x = ops::preprocess_caffe(ctx, ctx.to_device(batch.images), image_size, image_size);
    return model.forward(ctx, x);
  }, progress);
}

Evaluation evaluate_features(Context& ctx, Classifier& model, const Tensor& features,
                             const Tensor& labels, int64_t batch_size) {
  std::vector<int64_t> rows;
  return evaluate_batches(ctx, model, labels, batch_size, [&](int64_t begin, int64_t end) {
    rows.resize(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) rows[static_cast<size_t>(i - begin)] = i;
    return model.head().forward(ctx, ctx.to_device(gather_rows(features, rows)));
  }, {});
}

void check_class_names_fit_head(const ModelRecord& record, const std::string& checkpoint) {
  if (static_cast<int64_t>(record.class_names.size()) != record.model.classes)
    fail("--checkpoint ", checkpoint, ": its class list names ", record.class_names.size(),
         " classes but its head has ", record.model.classes, " outputs: the checkpoint is damaged; use "
         "another one (e.g. an earlier epoch's) or train again");
}

namespace {

int digits(int64_t v) { return static_cast<int>(std::to_string(v).size()); }

}  // namespace

std::string format_confusion(const Evaluation& e, const std::vector<std::string>& names) {
  // Columns are numbered and each row shows its number and its full name:
  // class names rarely fit a column (cut to a column's width, ten
  // "synthetic-k" columns all read "synthe"), a number always does.
  const size_t k = e.confusion.size();
  auto name = [&](size_t c) { return c < names.size() ? names[c] : std::to_string(c); };
  size_t name_width = 0;
  int64_t largest = 0;
  for (size_t c = 0; c < k; ++c) {
    name_width = std::max(name_width, name(c).size());
    for (int64_t v : e.confusion[c]) largest = std::max(largest, v);
  }
  const int number_width = digits(k ? static_cast<int64_t>(k) - 1 : 0);
  const int column = std::max(digits(largest), number_width) + 2;
  const auto label_width = static_cast<int>(name_width) + number_width + 3;  // "  7 truck"
  auto row_label = [&](std::ostream& os, size_t c) {
    os << "  " << std::setw(number_width) << c << " " << std::left << std::setw(static_cast<int>(name_width))
       << name(c) << std::right;
  };

  std::ostringstream os;
  os << "Confusion matrix (rows: true class; columns: predicted class, numbered as the rows)\n"
     << std::setw(label_width) << "";
  for (size_t c = 0; c < k; ++c) os << std::setw(column) << c;
  os << "\n";
  for (size_t r = 0; r < k; ++r) {
    row_label(os, r);
    for (size_t c = 0; c < k; ++c) os << std::setw(column) << e.confusion[r][c];
    os << "\n";
  }
  os << "\nPer-class accuracy\n";
  const std::vector<double> acc = e.per_class_accuracy();
  for (size_t c = 0; c < k; ++c) {
    row_label(os, c);
    os << "  " << std::fixed << std::setprecision(2) << std::setw(6) << 100 * acc[c] << "%\n";
  }
  return os.str();
}

}  // namespace tl::app
