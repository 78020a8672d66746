// The configuration a run stores in its checkpoints (JSON): what rebuilds the
// same model (input size, head pooling, classes, dropout) and what names its
// outputs (class names); what decides the samples the run sees and their
// order (the data's sizes and fingerprints, subset, split, batch size, seed,
// augmentation); and the training flags. --resume compares it with the new
// run's, so that "continues exactly" is either true or refused.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "apps/options.h"
#include "data/dataset.h"
#include "layers/classifier.h"

namespace tl::app {

struct ModelRecord {
  ClassifierConfig model;
  std::vector<std::string> class_names;
  std::string dataset;
  int64_t synthetic_size = 0;  // the synthetic set's size, to rebuild its test split
  uint64_t seed = 0;
  // What the backbone started from: the weights file that was loaded, or
  // "none" (random initialisation, also when the file was missing).
  std::string weights = "none";
  std::string weights_missing;  // the --weights file that was not found ("" if none was)
};

// Identifies the data a run trains, validates and tests on: the sizes of the
// three sets and a fingerprint of each (a 64-bit hash of every image byte and
// label in their order), so a resumed run can tell it is seeing the same
// samples in the same order even when the data folder moved.
struct DataIdentity {
  int64_t train_images = 0, val_images = 0, test_images = 0;
  std::string train_fingerprint, val_fingerprint, test_fingerprint;  // 16 hex digits
};
std::string fingerprint(const ImageSet& set);  // 16 hex digits; "" for an empty set
DataIdentity identify_data(const ImageSet& train, const ImageSet& val, const ImageSet& test);

std::string run_config_json(const TrainOptions& o, const ModelRecord& record,
                            const DataIdentity& data = {});
// Reads a checkpoint's configuration; `what` names the file in errors.
ModelRecord parse_run_config(const std::string& json, const std::string& what);
// The configuration JSON stored in a train_cifar checkpoint (without loading
// its tensors). Throws tl::Error naming the file when it has none.
std::string read_checkpoint_config(const std::string& path);

// One way in which a run differs from the run that made a checkpoint.
struct ResumeDifference {
  std::string flag;   // "--batch-size", "training data", ...
  std::string saved;  // as the checkpoint records it ("" when it does not)
  std::string now;
  // false: the model itself differs (pooling, classes, class names, a
  // flattened input size), which no flag can accept.
  bool inexact_allowed = true;
  std::string str() const;  // "--batch-size 8 (checkpoint: 16)"
};

// Every difference that would make a resumed run compute something other
// than the uninterrupted run, in the order the flags appear in --help.
std::vector<ResumeDifference> resume_differences(const std::string& saved_config,
                                                 const std::string& now_config,
                                                 const std::string& what);

// Throws tl::Error naming the differing flags (and `path`) unless there are
// none, or `allow_inexact` (--resume-inexact) and each one may be accepted.
// Returns the differences it accepted (empty for an exact resume).
std::vector<ResumeDifference> check_resume_compatible(const std::string& saved_config,
                                                      const std::string& now_config,
                                                      const std::string& path, bool allow_inexact);

// Rebuilds the model a train_cifar checkpoint was saved from and fills it.
// Also takes a whole Keras model (.keras, .weights.h5, .h5: ResNet50 + the
// reference head): its architecture is read from the file, and
// `keras_image_size` (> 0) gives the input size where the file does not say
// it (a .h5 / .weights.h5 with average pooling; else 224). Its classes are
// CIFAR-10's when it has 10 outputs, "class_0", ... otherwise.
std::unique_ptr<Classifier> load_classifier(const std::string& checkpoint, ModelRecord& record,
                                            int64_t keras_image_size = 0);

}  // namespace tl::app
