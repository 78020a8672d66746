// Keras weight files, read into plain named arrays, independent of the model
// classes: layers/ looks each layer up by name and converts layouts itself
// (Keras stores conv kernels HWIO, the engine wants OHWI; Dense is (in, out)).
//
// Formats read (recognised by content, never by file name; formats.md sec. 1):
//  * "keras-legacy-h5": model.save_weights("x.h5") from Keras 2 / tf.keras /
//    Keras 3 (root attribute layer_names, one group per layer with an
//    attribute weight_names naming its datasets). This is the form of the
//    published ResNet50 ImageNet files.
//  * "keras-legacy-h5 (full model)": model.save("x.h5"), the same under
//    /model_weights.
//  * "keras3-weights-h5": Keras 3 model.save_weights("x.weights.h5")
//    (layers/<name>/vars/0, 1, ...; Keras 2.13-2.15 wrote
//    _layer_checkpoint_dependencies instead of layers).
//
// Writes the legacy form, which every Keras version loads, and the Keras 3
// .weights.h5 form.
//
// Without HDF5 in the build, both functions throw tl::Error saying so.
#pragma once

#include <string>
#include <vector>

#include "runtime/shape.h"

namespace tl {

// One weight tensor, in the file's layout (row-major, shape as stored).
struct NamedArray {
  std::string name;  // short name: "kernel", "bias", "gamma", "beta", "moving_mean", ...
  Shape shape;
  std::vector<float> values;  // shape_numel(shape) values
};

// The weights of one layer, in file order (Keras: trainable, then
// non-trainable: kernel, bias / gamma, beta, moving_mean, moving_variance).
struct LayerWeights {
  std::string layer;  // layer name (legacy ResNet names already mapped)
  std::vector<NamedArray> weights;  // empty for a weightless layer (input, relu, pad, add, ...)
  // Where the layer sits in the file ("conv1_conv", "resnet50" for a layer of
  // a nested model, "layers/conv2d/vars" in Keras 3): for messages.
  std::string source = {};

  const NamedArray* find(const std::string& weight_name) const;  // nullptr when absent
};

struct KerasWeightsFile {
  std::string path;
  std::string format;  // "keras-legacy-h5", "keras-legacy-h5 (full model)", "keras3-weights-h5"
  std::string keras_version, backend;  // "" when the file does not say (Keras 3 .weights.h5)
  std::vector<LayerWeights> layers;    // model order (see docs/keras_weights.md for Keras 3)
  // True when the file used the legacy fchollet ResNet50 names (bn_conv1,
  // res2a_branch2a, ...) and `layers` carries the current names instead.
  bool legacy_names_mapped = false;
  // True for a Keras 3.0-3.5 .weights.h5: its vars groups carry no `name`
  // attribute, so `layer` is the group's class-based name ("conv2d_3") and
  // only `source` (the group path) says which layer it is (keras_layout.h).
  bool layers_named_by_class = false;

  const LayerWeights* find(const std::string& layer) const;  // nullptr when absent
  int64_t num_values() const;                                // sum over all arrays
};

// Reads every weight in a Keras .h5 / .weights.h5 file. Weightless layers
// are kept (with no weights) so the layer list is the file's. The layers of a
// nested model (a ResNet50 inside a Sequential) are listed individually under
// their own names. Throws tl::Error naming the path when the file is missing,
// not HDF5, truncated, not a Keras weights file, names a dataset it does not
// have, or holds a non-float weight.
KerasWeightsFile read_keras_weights(const std::string& path);

// Writes `layers` in the legacy Keras HDF5 layout (formats.md section 1):
// root attributes layer_names (fixed-length NULLPAD strings, split into
// layer_names0, 1, ... past 64 KiB as Keras does), backend "tensorflow" and
// keras_version; one group per layer with attribute weight_names
// ("<layer>/<name>:0"; an empty float64 (0,) array for a weightless layer);
// datasets at /<layer>/<layer>/<name>:0, float32. Written to path + ".tmp.<pid>"
// and renamed, so a failure leaves no partial file and keeps an old one.
// Throws tl::Error (naming the path) for empty, duplicate or '/'-containing
// names and for values that do not match their shape.
void write_keras_legacy_h5(const std::string& path, const std::vector<LayerWeights>& layers,
                           const std::string& keras_version = "2.15.0");

// Writes `layers` as a Keras 3 .weights.h5 (atomically): each layer with
// weights at `group_paths[i]` + "/vars" (datasets "0", "1", ... in Keras's
// variable order, and the `name` attribute Keras 3.6+ writes), plus the
// empty root group "vars" (Keras 3.5 refuses a file without it). Layers
// whose path is "" (weightless) are not written. Keras 3 finds layers by
// these paths, never by name: see keras_layout.h for how to compute them.
void write_keras3_weights_h5(const std::string& path, const std::vector<LayerWeights>& layers,
                             const std::vector<std::string>& group_paths);

}  // namespace tl
