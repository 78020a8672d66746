// Filling a model from a Keras weights file by layer name, and exporting a
// model back to the Keras legacy .h5 layout.
//
// Loading is strict by default: every problem is collected and reported at
// once (tensors of the file that nothing used, parameters that nothing
// filled, shape mismatches naming the layer and both shapes). The one thing
// tolerated is a classifier top (`predictions`, or `fc1000` in the old
// naming) in a file loaded into a model without one: the report says it was
// skipped. Conv kernels are converted from Keras's HWIO to tl's OHWI.
// Keras files carry no checksums, so the values are checked instead: a NaN
// or infinite weight, or a negative moving variance, is an error naming the
// file and the weight ("conv1_bn/moving_variance").
#pragma once

#include <string>
#include <vector>

#include "layers/module.h"
#include "weights/keras_h5.h"

namespace tl {

struct LoadOptions {
  bool strict = true;  // unused file tensors / unfilled parameters are errors
};

struct LoadReport {
  std::string path, format;
  int64_t tensors_loaded = 0, values_loaded = 0;
  std::vector<std::string> skipped_top;      // file tensors of a classifier top, not loaded
  std::vector<std::string> unused_in_file;   // file tensors no model tensor asked for
  std::vector<std::string> unfilled;         // model tensors the file did not have
  bool legacy_names_mapped = false;
  std::string summary() const;  // one paragraph for the log
};

// Fills `model`'s parameters and BN statistics from `file`. With strict
// options, throws tl::Error listing every mismatch; otherwise records them.
LoadReport load_keras_weights(Module& model, const KerasWeightsFile& file,
                              const LoadOptions& options = {});
LoadReport load_keras_weights(Module& model, const std::string& path,
                              const LoadOptions& options = {});

// The model's layers in Keras's layout (HWIO kernels), for write_keras_legacy_h5.
std::vector<LayerWeights> keras_layers_of(Module& model);
// Writes `model` as a Keras legacy .h5 weights file (atomically).
void export_keras_h5(Module& model, const std::string& path);

}  // namespace tl
