#include "weights/model_weights.h"

#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "engine/device_copy.h"
#include "weights/value_checks.h"

namespace tl {
namespace {

bool is_top_layer(const std::string& layer) { return layer == "predictions" || layer == "fc1000"; }

// Keras stores conv kernels HWIO (kh, kw, in, out); tl keeps OHWI.
Shape keras_shape_of(const Shape& ohwi) {
  if (ohwi.size() != 4) return ohwi;
  return {ohwi[1], ohwi[2], ohwi[3], ohwi[0]};
}

std::vector<float> hwio_to_ohwi(const std::vector<float>& hwio, const Shape& ohwi) {
  const int64_t o_n = ohwi[0], h_n = ohwi[1], w_n = ohwi[2], i_n = ohwi[3];
  std::vector<float> out(hwio.size());
  for (int64_t h = 0; h < h_n; ++h)
    for (int64_t w = 0; w < w_n; ++w)
      for (int64_t i = 0; i < i_n; ++i)
        for (int64_t o = 0; o < o_n; ++o)
          out[((o * h_n + h) * w_n + w) * i_n + i] = hwio[((h * w_n + w) * i_n + i) * o_n + o];
  return out;
}

std::vector<float> ohwi_to_hwio(const std::vector<float>& ohwi, const Shape& shape) {
  const int64_t o_n = shape[0], h_n = shape[1], w_n = shape[2], i_n = shape[3];
  std::vector<float> out(ohwi.size());
  for (int64_t o = 0; o < o_n; ++o)
    for (int64_t h = 0; h < h_n; ++h)
      for (int64_t w = 0; w < w_n; ++w)
        for (int64_t i = 0; i < i_n; ++i)
          out[((h * w_n + w) * i_n + i) * o_n + o] = ohwi[((o * h_n + h) * w_n + w) * i_n + i];
  return out;
}


std::string join(const std::vector<std::string>& items, size_t limit = 12) {
  std::string s;
  for (size_t i = 0; i < items.size() && i < limit; ++i) s += (i ? ", " : "") + items[i];
  if (items.size() > limit) s += ", ... (" + std::to_string(items.size() - limit) + " more)";
  return s;
}

}  // namespace

std::string LoadReport::summary() const {
  std::ostringstream os;
  os << "loaded " << tensors_loaded << " tensors (" << values_loaded << " values) from " << path
     << " [" << format << (legacy_names_mapped ? ", legacy layer names mapped" : "") << "]";
  if (!skipped_top.empty()) os << "; skipped the classifier top: " << join(skipped_top);
  if (!unused_in_file.empty()) os << "; unused in file: " << join(unused_in_file);
  if (!unfilled.empty()) os << "; not in file (left as initialised): " << join(unfilled);
  return os.str();
}

LoadReport load_keras_weights(Module& model, const KerasWeightsFile& file, const LoadOptions& options) {
  LoadReport report;
  report.path = file.path;
  report.format = file.format;
  report.legacy_names_mapped = file.legacy_names_mapped;

  std::set<std::string> used;  // "layer/weight" of file tensors consumed
  std::vector<std::string> shape_errors;
  std::vector<std::string> value_errors;  // NaN, inf, negative variances (a Keras file has no checksums)
  std::vector<NamedTensor> targets = model.named_parameters();
  for (auto& b : model.named_buffers()) targets.push_back(std::move(b));

  for (const NamedTensor& target : targets) {
    const size_t slash = target.name.find('/');
    const std::string layer = target.name.substr(0, slash), weight = target.name.substr(slash + 1);
    const LayerWeights* lw = file.find(layer);
    const NamedArray* array = lw ? lw->find(weight) : nullptr;
    if (!array) {
      report.unfilled.push_back(target.name);
      continue;
    }
    used.insert(target.name);
    const Shape& want = target.tensor.shape();
    const Shape keras = keras_shape_of(want);
    if (array->shape != keras) {
      shape_errors.push_back("layer '" + layer + "' weight '" + weight + "': file has shape " +
                             shape_str(array->shape) + ", model expects " + shape_str(keras));
      continue;
    }
    const std::string problem =
        value_problem(array->values.data(), array->values.size(), is_variance_name(weight));
    if (!problem.empty()) {
      value_errors.push_back("'" + target.name + "' " + problem);
      continue;
    }
    target.tensor.copy_from_host(want.size() == 4 ? hwio_to_ohwi(array->values, want) : array->values);
    ++report.tensors_loaded;
    report.values_loaded += target.tensor.numel();
  }
  for (const LayerWeights& lw : file.layers)
    for (const NamedArray& a : lw.weights) {
      const std::string name = lw.layer + "/" + a.name;
      if (used.count(name)) continue;
      (is_top_layer(lw.layer) ? report.skipped_top : report.unused_in_file).push_back(name);
    }

  if (!value_errors.empty())
    fail(file.path, ": weights that no model can use: ", join(value_errors, 5),
         ". The file is damaged (download it again) or holds a model whose training diverged");
  if (!shape_errors.empty())
    fail(file.path, ": shape mismatch: ", join(shape_errors, 5),
         ". Is this the weights file for this model (ResNet50, channels last)?");
  if (options.strict && (!report.unused_in_file.empty() || !report.unfilled.empty())) {
    std::ostringstream os;
    os << file.path << ": weights do not match the model";
    if (!report.unfilled.empty())
      os << "; model tensors missing from the file: " << join(report.unfilled);
    if (!report.unused_in_file.empty())
      os << "; file tensors the model has no place for: " << join(report.unused_in_file);
    os << ". Check that the file is a Keras ResNet50 weights file (e.g. "
          "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5).";
    fail(os.str());
  }
  return report;
}

LoadReport load_keras_weights(Module& model, const std::string& path, const LoadOptions& options) {
  return load_keras_weights(model, read_keras_weights(path), options);
}

std::vector<LayerWeights> keras_layers_of(Module& model) {
  std::vector<LayerWeights> layers;
  for (Module* leaf : model.leaf_modules()) {
    LayerWeights lw;
    lw.layer = leaf->name();
    std::vector<NamedTensor> tensors = leaf->named_parameters();
    for (auto& b : leaf->named_buffers()) tensors.push_back(std::move(b));
    for (const NamedTensor& nt : tensors) {
      NamedArray a;
      a.name = nt.name.substr(nt.name.find('/') + 1);
      std::vector<float> values = nt.tensor.to_vector();
      a.shape = keras_shape_of(nt.tensor.shape());
      a.values = nt.tensor.dim() == 4 ? ohwi_to_hwio(values, nt.tensor.shape()) : std::move(values);
      lw.weights.push_back(std::move(a));
    }
    layers.push_back(std::move(lw));
  }
  return layers;
}

void export_keras_h5(Module& model, const std::string& path) {
  write_keras_legacy_h5(path, keras_layers_of(model));
}

}  // namespace tl
