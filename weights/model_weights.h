// Filling a model from a Keras weights file by layer name, and exporting a
// model back to Keras (legacy .h5 and Keras 3 .weights.h5, in Keras's own
// layer order so that Keras's plain model.load_weights(path) accepts them).
//
// Layers are found by name. Where a file does not name them as the model
// does, they are found the way Keras's own loader finds them, and the
// report lists every such pairing (LoadReport::mapped):
//  * a Keras 3.0-3.5 .weights.h5 names groups by class and order
//    ("layers/conv2d_3"): mapped through keras_layout.h's paths;
//  * head layers named differently (a model built twice in one Python
//    process has batch_normalization_3, dense_4, ...): the model's head
//    layers that the file does not name are paired, class by class and in
//    order, with the file's layers that the model does not name, when both
//    sides have the same number of each class. Keras 3 ignores the names in
//    the same way; refusing would only make the user rename layers by hand.
//
// Loading is strict by default: every problem is collected and reported at
// once in one error (tensors of the file that nothing used, parameters that
// nothing filled, shape mismatches naming the layer and both shapes). The one thing
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
#include "weights/keras_layout.h"

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
  std::vector<std::string> shape_mismatches;  // non-strict loads only (strict ones throw)
  std::vector<std::string> mapped;           // "file layer -> model layer (why)", see above
  bool legacy_names_mapped = false;
  std::string summary() const;  // one paragraph for the log
};

// Fills `model`'s parameters and BN statistics from `file`. With strict
// options, throws tl::Error listing every mismatch; otherwise records them.
LoadReport load_keras_weights(Module& model, const KerasWeightsFile& file,
                              const LoadOptions& options = {});
LoadReport load_keras_weights(Module& model, const std::string& path,
                              const LoadOptions& options = {});

// The model's layers in Keras's layout (HWIO kernels) and in Keras's
// model.layers order (keras_layout.h), for the writers of keras_h5.h.
std::vector<LayerWeights> keras_layers_of(Module& model);
// Writes `model` as a Keras legacy .h5 weights file (atomically), layer_names
// in Keras's order: loads with plain load_weights into the flat functional
// model (ResNet50 + head applied to base.output) in Keras 3 and tf_keras.
void export_keras_h5(Module& model, const std::string& path);
// Writes `model` as a Keras 3 .weights.h5 with class-based group paths, for
// the flat functional model (default) or the nested Sequential recipe.
void export_keras_weights_h5(Module& model, const std::string& path,
                             KerasConstruction construction = KerasConstruction::kFunctional);
// Chooses the format by the name: ".weights.h5" -> Keras 3, ".h5" -> legacy.
// Anything else is a tl::Error listing the suffixes.
void export_keras(Module& model, const std::string& path);

}  // namespace tl
