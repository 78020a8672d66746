// Evaluation of a classifier on a labelled set: mean loss, accuracy, and the
// confusion matrix (rows: true class, columns: predicted class).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "apps/run_config.h"
#include "data/dataset.h"
#include "engine/context.h"
#include "layers/classifier.h"

namespace tl::app {

struct Evaluation {
  double loss = 0, accuracy = 0;
  int64_t samples = 0;
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  std::vector<double> per_class_accuracy() const;
};

// Runs `model` in inference mode (no autograd) over `set` in batches,
// preprocessing each batch to `image_size` on the context's device.
// `progress(done, total)` is called after each batch when given.
Evaluation evaluate(Context& ctx, Classifier& model, const ImageSet& set, int64_t batch_size,
                    int64_t image_size, const std::function<void(int64_t, int64_t)>& progress = {});

// The same over cached backbone outputs (layers/feature_cache.h): features
// (N, h, w, 2048) float32 on the host, labels (N) int32; only the head runs.
// Equal, bit for bit, to evaluate() on the images the features came from.
Evaluation evaluate_features(Context& ctx, Classifier& model, const Tensor& features,
                             const Tensor& labels, int64_t batch_size);

// Throws tl::Error naming `checkpoint` unless its class list names one class
// per output of its head.
void check_class_names_fit_head(const ModelRecord& record, const std::string& checkpoint);

// A text table of the confusion matrix (columns numbered, rows numbered and
// named in full) and per-class accuracy.
std::string format_confusion(const Evaluation& e, const std::vector<std::string>& class_names);

}  // namespace tl::app
