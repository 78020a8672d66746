// A whole Keras model (ResNet50 + the reference head) in any Keras file tl
// reads: what architecture it describes, whether a tl Classifier matches it,
// and the .keras archive (a stored zip of metadata.json, config.json and
// model.weights.h5; weights/stored_zip.h).
//
// The architecture comes from config.json when the file has one (.keras),
// otherwise from the weights themselves: the Dense kernels give the head
// widths and the classes, the first Dense's input width the pooling
// (2048 = GlobalAveragePooling2D; a multiple of 2048 = Flatten).
#pragma once

#include <string>
#include <vector>

#include "layers/classifier.h"
#include "weights/model_weights.h"

namespace tl {

struct KerasArchitecture {
  std::string source;         // "config.json" or "weights" (how much was known)
  int64_t input_size = 0;     // 0: the file does not say (weights only, avg pool)
  std::string pool;           // "flatten", "avg" or "" (unknown)
  std::vector<int64_t> dense_units;   // the head's Dense widths, the classes last
  std::vector<double> dropout_rates;  // config.json only
  int64_t flatten_features = 0;       // weights only: the first Dense's input width
};

struct KerasModelFile {
  KerasWeightsFile weights;
  KerasArchitecture architecture;
};

// Reads a .keras archive, a legacy .h5 or a .weights.h5 (recognised by
// content). Throws tl::Error naming the file for anything unreadable.
KerasModelFile read_keras_model_file(const std::string& path);

// The architecture read from a .keras config.json (`what` names it in errors).
KerasArchitecture parse_keras_config(const std::string& config_json, const std::string& what);

// Every way `config` differs from `arch` ("classes: file 100, model 10"), empty when it fits.
std::vector<std::string> architecture_mismatches(const KerasArchitecture& arch, const ClassifierConfig& config);

// `defaults` with what the file says (input size, pooling, classes,
// dropout) filled in; throws tl::Error when the head is not the reference
// head (widths other than 256, 128, 64).
ClassifierConfig classifier_config_from(const KerasArchitecture& arch, ClassifierConfig defaults,
                                        const std::string& path);

// Fills `model` from a whole-model Keras file after checking that the file
// describes the same architecture (tl::Error listing every mismatch otherwise).
LoadReport load_keras_model(Classifier& model, const std::string& path);

// Writes `model` as a .keras archive (nested Sequential layout: what the
// recipe builds), loadable by Keras 3's model.load_weights.
void export_keras_archive(Classifier& model, const std::string& path);
// By the name's ending: .keras (archive), .weights.h5 (Keras 3), .h5 (legacy).
void export_keras_model(Classifier& model, const std::string& path);
// True when `path` names a format export_keras_model writes.
bool is_keras_model_path(const std::string& path);

}  // namespace tl
