// The configuration a run stores in its checkpoints (JSON): what rebuilds the
// same model (input size, head pooling, classes, dropout) and what names its
// outputs (class names), plus the training flags for the record.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/options.h"
#include "layers/classifier.h"

namespace tl::app {

struct ModelRecord {
  ClassifierConfig model;
  std::vector<std::string> class_names;
  std::string dataset;
  int64_t synthetic_size = 0;  // the synthetic set's size, to rebuild its test split
  uint64_t seed = 0;
};

std::string run_config_json(const TrainOptions& o, const ModelRecord& record);
// Reads a checkpoint's configuration; `what` names the file in errors.
ModelRecord parse_run_config(const std::string& json, const std::string& what);
// Throws tl::Error naming the flag whose value differs from the checkpoint's.
void check_resume_compatible(const ModelRecord& saved, const ModelRecord& now, const std::string& path);

// Rebuilds the model a train_cifar checkpoint was saved from and fills it.
std::unique_ptr<Classifier> load_classifier(const std::string& checkpoint, ModelRecord& record);

}  // namespace tl::app
