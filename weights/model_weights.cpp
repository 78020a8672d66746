#include "weights/model_weights.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <sstream>

#include "runtime/device_copy.h"
#include "weights/keras_layout.h"
#include "weights/keras_model_file.h"
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
  if (!mapped.empty()) os << "; layers paired by Keras's rules, not by name: " << join(mapped, 200);
  if (!skipped_top.empty()) os << "; skipped the classifier top: " << join(skipped_top);
  if (!shape_mismatches.empty()) os << "; shape mismatches (not loaded): " << join(shape_mismatches);
  if (!unused_in_file.empty()) os << "; unused in file: " << join(unused_in_file);
  if (!unfilled.empty()) os << "; not in file (left as initialised): " << join(unfilled);
  return os.str();
}

namespace {

std::string group_of(const std::string& source) {
  const std::string suffix = "/vars";
  return source.size() > suffix.size() && source.compare(source.size() - suffix.size(), suffix.size(), suffix) == 0
             ? source.substr(0, source.size() - suffix.size())
             : source;
}

bool is_backbone_name(const std::string& layer) { return layer.rfind("conv", 0) == 0; }

// For each file layer, the model layer it fills (its own name unless a
// Keras rule pairs it otherwise; see model_weights.h). Pairings go to `mapped`.
std::vector<std::string> model_names_for(const KerasWeightsFile& file, const std::vector<LayerWeights>& model_layers,
                                         std::vector<std::string>& mapped) {
  std::vector<std::string> names;
  for (const LayerWeights& l : file.layers) names.push_back(l.layer);

  // Keras 3.0-3.5 .weights.h5: the group path is the only identity.
  if (file.layers_named_by_class) {
    bool nested = false;
    for (const LayerWeights& l : file.layers) nested |= l.source.rfind("layers/functional/", 0) == 0;
    const std::vector<std::string> paths = keras3_group_paths(
        model_layers, nested ? KerasConstruction::kSequential : KerasConstruction::kFunctional);
    std::map<std::string, std::string> layer_at;
    for (size_t i = 0; i < paths.size(); ++i)
      if (!paths[i].empty()) layer_at[paths[i]] = model_layers[i].layer;
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string group = group_of(file.layers[i].source);
      auto it = layer_at.find(group);
      if (it == layer_at.end() || it->second == names[i]) continue;
      mapped.push_back(group + " -> " + it->second + " (Keras 3.0-3.5 group path)");
      names[i] = it->second;
    }
  }

  // Head layers named differently: pair the leftovers class by class, in order.
  std::set<std::string> model_names, file_names(names.begin(), names.end());
  for (const LayerWeights& l : model_layers) model_names.insert(l.layer);
  std::map<std::string, std::vector<size_t>> file_left;        // class -> file indices
  std::map<std::string, std::vector<std::string>> model_left;  // class -> model layer names
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string cls = keras3_class_of(file.layers[i]);
    if (!cls.empty() && !model_names.count(names[i]) && !is_backbone_name(names[i]) && !is_top_layer(names[i]))
      file_left[cls].push_back(i);
  }
  for (const LayerWeights& l : model_layers) {
    const std::string cls = keras3_class_of(l);
    if (!cls.empty() && !file_names.count(l.layer) && !is_backbone_name(l.layer)) model_left[cls].push_back(l.layer);
  }
  bool pairable = !file_left.empty() && file_left.size() == model_left.size();
  for (const auto& [cls, indices] : file_left)
    pairable = pairable && model_left.count(cls) && model_left[cls].size() == indices.size();
  if (pairable)
    for (const auto& [cls, indices] : file_left)
      for (size_t k = 0; k < indices.size(); ++k) {
        const std::string& target = model_left[cls][k];
        mapped.push_back(names[indices[k]] + " -> " + target + " (head matched by class and order)");
        names[indices[k]] = target;
      }
  return names;
}

}  // namespace

LoadReport load_keras_weights(Module& model, const KerasWeightsFile& file, const LoadOptions& options) {
  LoadReport report;
  report.path = file.path;
  report.format = file.format;
  report.legacy_names_mapped = file.legacy_names_mapped;

  const std::vector<std::string> model_name =
      model_names_for(file, keras_layers_of(model), report.mapped);
  std::map<std::string, size_t> file_index;  // model layer name -> file layer
  for (size_t i = 0; i < model_name.size(); ++i) file_index.emplace(model_name[i], i);

  std::set<std::string> used;  // "fileindex/weight" of file tensors consumed
  std::vector<std::string> value_errors;  // NaN, inf, negative variances (a Keras file has no checksums)
  std::vector<NamedTensor> targets = model.named_parameters();
  for (auto& b : model.named_buffers()) targets.push_back(std::move(b));

  for (const NamedTensor& target : targets) {
    const size_t slash = target.name.find('/');
    const std::string layer = target.name.substr(0, slash), weight = target.name.substr(slash + 1);
    auto it = file_index.find(layer);
    const LayerWeights* lw = it == file_index.end() ? nullptr : &file.layers[it->second];
    const NamedArray* array = lw ? lw->find(weight) : nullptr;
    if (!array) {
      report.unfilled.push_back(target.name);
      continue;
    }
    used.insert(std::to_string(it->second) + "/" + weight);
    const Shape& want = target.tensor.shape();
    const Shape keras = keras_shape_of(want);
    if (array->shape != keras) {
      report.shape_mismatches.push_back("layer '" + layer + "' weight '" + weight + "': file has shape " +
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
  for (size_t i = 0; i < file.layers.size(); ++i)
    for (const NamedArray& a : file.layers[i].weights) {
      if (used.count(std::to_string(i) + "/" + a.name)) continue;
      const std::string name = file.layers[i].layer + "/" + a.name;
      (is_top_layer(file.layers[i].layer) ? report.skipped_top : report.unused_in_file).push_back(name);
    }

  if (!value_errors.empty())
    fail(file.path, ": weights that no model can use: ", join(value_errors, 5),
         ". The file is damaged (download it again) or holds a model whose training diverged");
  // One error with every problem: a shape mismatch is always one; missing
  // and unused tensors are in strict mode.
  const bool strict_problems = options.strict && (!report.unused_in_file.empty() || !report.unfilled.empty());
  if (!report.shape_mismatches.empty() || strict_problems) {
    std::ostringstream os;
    os << file.path << ": weights do not match the model";
    if (!report.shape_mismatches.empty()) os << "; shape mismatch: " << join(report.shape_mismatches, 8);
    if (options.strict && !report.unfilled.empty())
      os << "; model tensors missing from the file: " << join(report.unfilled);
    if (options.strict && !report.unused_in_file.empty())
      os << "; file tensors the model has no place for: " << join(report.unused_in_file);
    if (!report.mapped.empty()) os << "; layers paired by Keras's rules, not by name: " << join(report.mapped);
    const bool only_a_head_left =
        report.shape_mismatches.empty() && report.unfilled.empty() &&
        std::none_of(report.unused_in_file.begin(), report.unused_in_file.end(), is_backbone_name);
    if (only_a_head_left)
      os << ". The file holds a whole model (backbone + head) and this is only part of one: load it into the "
            "whole classifier, with its head";
    os << ". Check that the file is a Keras ResNet50 weights file (e.g. "
          "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5) or a model with the same head "
          "(pooling, widths, classes) and input size as this one.";
    fail(os.str());
  }
  return report;
}

LoadReport load_keras_weights(Module& model, const std::string& path, const LoadOptions& options) {
  // Through read_keras_model_file so that a .keras archive works here too
  // (e.g. train_cifar --weights model.keras fills the backbone from it).
  return load_keras_weights(model, read_keras_model_file(path).weights, options);
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
  return keras_model_order(std::move(layers));
}

void export_keras_h5(Module& model, const std::string& path) {
  write_keras_legacy_h5(path, keras_layers_of(model));
}

void export_keras_weights_h5(Module& model, const std::string& path, KerasConstruction construction) {
  const std::vector<LayerWeights> layers = keras_layers_of(model);
  write_keras3_weights_h5(path, layers, keras3_group_paths(layers, construction));
}

void export_keras(Module& model, const std::string& path) {
  auto ends_with = [&](const std::string& suffix) {
    return path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".weights.h5")) return export_keras_weights_h5(model, path);
  if (ends_with(".h5")) return export_keras_h5(model, path);
  fail("cannot export to '", path, "': the format is chosen by the name's ending: .h5 (legacy Keras weights, "
       "every Keras version), .weights.h5 (Keras 3) or, for a whole Classifier, .keras (export_keras_model)");
}

}  // namespace tl
