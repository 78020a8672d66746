// Keras weight files <-> named float arrays (see keras_h5.h; the layouts are
// described in docs/keras_weights.md and formats.md section 1).
//
// Reading follows what Keras's own loaders do: the file kind is recognised by
// content (root layer_names -> legacy; /model_weights carrying it -> full
// model; a layers / vars group -> Keras 3), and legacy datasets are opened by
// the exact strings in weight_names, never by a guessed "...:0" path (Keras 3
// writes them without ":0", Keras 1 as "<layer>_W").
#include "weights/keras_h5.h"

#include <algorithm>
#include <set>

#include "runtime/check.h"
#include "weights/hdf5.h"
#include "weights/legacy_names.h"

namespace tl {

const NamedArray* LayerWeights::find(const std::string& weight_name) const {
  for (const NamedArray& w : weights)
    if (w.name == weight_name) return &w;
  return nullptr;
}

const LayerWeights* KerasWeightsFile::find(const std::string& layer) const {
  for (const LayerWeights& l : layers)
    if (l.layer == layer) return &l;
  return nullptr;
}

int64_t KerasWeightsFile::num_values() const {
  int64_t n = 0;
  for (const LayerWeights& l : layers)
    for (const NamedArray& w : l.weights) n += static_cast<int64_t>(w.values.size());
  return n;
}

#ifdef TL_HAVE_HDF5

namespace {

using h5::H5Handle;

// Keras's HDF5_OBJECT_HEADER_LIMIT: a string-list attribute larger than this
// is split into name0, name1, ... (an HDF5 object header holds at most 64 KiB).
constexpr size_t kObjectHeaderLimit = 64512;
// Deeper nesting than this in a Keras 3 file means a link cycle, not a model.
constexpr int kMaxNesting = 32;

bool all_digits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "conv1_conv/kernel:0" -> "conv1_conv/kernel": TensorFlow's output-index suffix.
std::string strip_output_index(const std::string& s) {
  const size_t colon = s.rfind(':');
  if (colon != std::string::npos && all_digits(s.substr(colon + 1))) return s.substr(0, colon);
  return s;
}

// Which layer a legacy weight belongs to, and its short name.
struct WeightRef {
  std::string owner;
  std::string short_name;
};

WeightRef split_weight_name(const std::string& weight_name, const std::string& layer) {
  const std::string base = strip_output_index(weight_name);
  const size_t slash = base.rfind('/');
  if (slash == std::string::npos) {
    // Keras 1 named weights "<layer>_W", "<layer>_b", "<layer>_running_std".
    std::string s = base;
    if (s.size() > layer.size() + 1 && s.compare(0, layer.size(), layer) == 0 && s[layer.size()] == '_')
      s = s.substr(layer.size() + 1);
    if (s == "W") s = "kernel";
    else if (s == "b") s = "bias";
    else if (s == "running_mean") s = "moving_mean";
    else if (s == "running_std") s = "moving_variance";  // it held the variance despite its name
    return {layer, s};
  }
  // ".../<owner>/<short>": the owner is the component before the short name.
  const std::string prefix = base.substr(0, slash);
  const size_t prev = prefix.rfind('/');
  return {prev == std::string::npos ? prefix : prefix.substr(prev + 1), base.substr(slash + 1)};
}

// A string attribute that is informative only (keras_version, backend):
// absent or malformed gives "", never an error.
std::string optional_string_attribute(const H5Handle& obj, const std::string& name) {
  if (!h5::has_attribute(obj, name)) return "";
  try {
    return h5::read_string_attribute(obj, name);
  } catch (const Error&) {
    return "";
  }
}

void read_legacy(const H5Handle& file, const H5Handle& container, KerasWeightsFile& out) {
  const std::string& path = out.path;
  out.keras_version = optional_string_attribute(container, "keras_version");
  if (out.keras_version.empty()) out.keras_version = optional_string_attribute(file, "keras_version");
  out.backend = optional_string_attribute(container, "backend");
  if (out.backend.empty()) out.backend = optional_string_attribute(file, "backend");

  const std::vector<std::string> layer_names = h5::read_string_list_attribute(container, "layer_names");
  const std::string container_path = &container == &file ? "" : "/model_weights";
  for (const std::string& layer : layer_names) {
    if (!h5::is_group(container, layer))
      fail("'", path, "': layer '", layer, "' is listed in layer_names but the file has no group '",
           container_path, "/", layer, "' for it (damaged or hand-edited file?)");
    const H5Handle group = h5::open_group(container, layer);
    // A missing weight_names means no weights, as in Keras's loader.
    const std::vector<std::string> weight_names = h5::has_string_list_attribute(group, "weight_names")
                                                      ? h5::read_string_list_attribute(group, "weight_names")
                                                      : std::vector<std::string>{};
    std::vector<WeightRef> refs;
    std::vector<NamedArray> arrays;
    for (const std::string& weight_name : weight_names) {
      if (!h5::is_dataset(group, weight_name))
        fail("'", path, "': layer '", layer, "' lists weight '", weight_name,
             "' in weight_names, but the file has no dataset '", container_path, "/", layer, "/", weight_name,
             "' (damaged or hand-edited file?)");
      h5::FloatArray a = h5::read_float_dataset(group, weight_name);
      refs.push_back(split_weight_name(weight_name, layer));
      arrays.push_back(NamedArray{refs.back().short_name, std::move(a.shape), std::move(a.values)});
    }
    // One owner (or none): an ordinary layer, keep its name even when the
    // variables carry another (a renamed layer, TF1's "conv_1/kernel:0").
    // Several owners: a nested model (tf.keras names a ResNet50-inside-a-
    // Sequential's weights "conv1_conv/kernel:0" under the group "resnet50"),
    // listed as its own layers in order of first appearance.
    std::vector<std::string> owners;
    for (const WeightRef& r : refs)
      if (std::find(owners.begin(), owners.end(), r.owner) == owners.end()) owners.push_back(r.owner);
    if (owners.size() <= 1) {
      out.layers.push_back(LayerWeights{layer, std::move(arrays), layer});
      continue;
    }
    for (const std::string& owner : owners) {
      LayerWeights lw{owner, {}, layer};
      for (size_t i = 0; i < refs.size(); ++i)
        if (refs[i].owner == owner) lw.weights.push_back(std::move(arrays[i]));
      out.layers.push_back(std::move(lw));
    }
  }
}

// "conv2d_2" < "conv2d_10": digit runs compare as numbers. Without creation
// order in the file this recovers Keras 3's auto-numbered layer order.
bool natural_less(const std::string& a, const std::string& b) {
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    const bool da = a[i] >= '0' && a[i] <= '9', db = b[j] >= '0' && b[j] <= '9';
    if (da && db) {
      size_t ie = i, je = j;
      while (ie < a.size() && a[ie] >= '0' && a[ie] <= '9') ++ie;
      while (je < b.size() && b[je] >= '0' && b[je] <= '9') ++je;
      // Compare without leading zeros: first by length, then digit by digit.
      size_t is = i, js = j;
      while (is + 1 < ie && a[is] == '0') ++is;
      while (js + 1 < je && b[js] == '0') ++js;
      if (ie - is != je - js) return ie - is < je - js;
      const int c = a.compare(is, ie - is, b, js, je - js);
      if (c != 0) return c < 0;
      i = ie;
      j = je;
    } else {
      if (a[i] != b[j]) return a[i] < b[j];
      ++i;
      ++j;
    }
  }
  return a.size() - i < b.size() - j;
}

std::vector<std::string> ordered_children(const H5Handle& group) {
  std::vector<std::string> names = h5::list_children(group);
  if (!h5::tracks_creation_order(group)) std::stable_sort(names.begin(), names.end(), natural_less);
  return names;
}

// Keras 3 stores a layer's variables as vars/0, vars/1, ... in trainable +
// non-trainable order, without names; name them by count.
std::vector<std::string> keras3_short_names(size_t count) {
  if (count == 1) return {"kernel"};
  if (count == 2) return {"kernel", "bias"};
  if (count == 4) return {"gamma", "beta", "moving_mean", "moving_variance"};
  std::vector<std::string> names;
  for (size_t i = 0; i < count; ++i) names.push_back(std::to_string(i));
  return names;
}

LayerWeights read_keras3_vars(const H5Handle& vars, const std::string& default_name, const std::string& source,
                              KerasWeightsFile& out) {
  LayerWeights lw;
  lw.layer = h5::has_attribute(vars, "name") ? h5::read_string_attribute(vars, "name") : default_name;
  lw.source = source;
  // Keras 3.0-3.5 name no layer: the group name is a class and a counter.
  if (!h5::has_attribute(vars, "name") && !h5::list_children(vars).empty()) out.layers_named_by_class = true;
  std::vector<size_t> indices;
  for (const std::string& child : h5::list_children(vars))
    if (all_digits(child) && child.size() < 10 && h5::is_dataset(vars, child)) indices.push_back(std::stoul(child));
  std::sort(indices.begin(), indices.end());
  const std::vector<std::string> names = keras3_short_names(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    h5::FloatArray a = h5::read_float_dataset(vars, std::to_string(indices[i]));
    lw.weights.push_back(NamedArray{names[i], std::move(a.shape), std::move(a.values)});
  }
  return lw;
}

// One saved object (a layer): its vars group, if any, is a layer's weights;
// its other child groups are walked in turn: "layers" (or Keras 2.13-2.15's
// "_layer_checkpoint_dependencies") of a nested model holds one object per
// layer, any other group is a sub-layer kept in an attribute.
void visit_keras3_object(const H5Handle& obj, const std::string& name, const std::string& path, int depth,
                         KerasWeightsFile& out) {
  if (depth > kMaxNesting)
    fail("'", out.path, "': groups nested deeper than ", kMaxNesting, " at '", path,
         "' (a link cycle? damaged file)");
  if (h5::is_group(obj, "vars")) out.layers.push_back(read_keras3_vars(h5::open_group(obj, "vars"), name, path + "/vars", out));
  for (const std::string& sub : ordered_children(obj)) {
    if (sub == "vars" || !h5::is_group(obj, sub)) continue;
    const H5Handle group = h5::open_group(obj, sub);
    const std::string sub_path = path + "/" + sub;
    if (sub == "layers" || sub == "_layer_checkpoint_dependencies") {
      for (const std::string& layer : ordered_children(group))
        if (h5::is_group(group, layer))
          visit_keras3_object(h5::open_group(group, layer), layer, sub_path + "/" + layer, depth + 1, out);
    } else {
      visit_keras3_object(group, sub, sub_path, depth + 1, out);
    }
  }
}

void read_keras3(const H5Handle& file, KerasWeightsFile& out) {
  // The model's own variables (rare; a bare layer saved on its own).
  if (h5::is_group(file, "vars")) {
    LayerWeights own = read_keras3_vars(h5::open_group(file, "vars"), "vars", "vars", out);
    if (!own.weights.empty()) out.layers.push_back(std::move(own));
  }
  // Only the model's layers: the root's optimizer / metrics groups are not weights.
  for (const char* root : {"layers", "_layer_checkpoint_dependencies"}) {
    if (!h5::is_group(file, root)) continue;
    const H5Handle group = h5::open_group(file, root);
    for (const std::string& layer : ordered_children(group))
      if (h5::is_group(group, layer))
        visit_keras3_object(h5::open_group(group, layer), layer, std::string(root) + "/" + layer, 1, out);
  }
}

// "groups [a, b], attributes [c]" for the unrecognised-layout message.
std::string summarize_root(const H5Handle& file) {
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size() && i < 8; ++i) s += (i ? ", " : "") + v[i];
    if (v.size() > 8) s += ", ...";
    return "[" + s + "]";
  };
  return "links " + join(h5::list_children(file)) + " and attributes " + join(h5::list_attributes(file));
}

// Keras's save_attributes_to_hdf5_group: one attribute when it fits in an
// object header, else the fewest np.array_split chunks name0, name1, ...
// that each fit (the first n % k chunks hold one extra item).
void write_keras_string_list(const H5Handle& obj, const std::string& name, const std::vector<std::string>& values,
                             const std::string& path) {
  size_t width = 1;
  for (const std::string& v : values) width = std::max(width, v.size());
  if (width > kObjectHeaderLimit)
    fail("cannot write '", path, "': a name in '", name, "' is longer than ", kObjectHeaderLimit, " bytes");
  const size_t n = values.size();
  if (n * width <= kObjectHeaderLimit) {
    h5::write_string_list_attribute(obj, name, values);
    return;
  }
  size_t chunks = 2;
  while (((n + chunks - 1) / chunks) * width > kObjectHeaderLimit) ++chunks;
  size_t begin = 0;
  for (size_t c = 0; c < chunks; ++c) {
    const size_t size = n / chunks + (c < n % chunks ? 1 : 0);
    const std::vector<std::string> part(values.begin() + begin, values.begin() + begin + size);
    h5::write_string_list_attribute(obj, name + std::to_string(c), part);
    begin += size;
  }
}

bool bad_hdf5_name(const std::string& name) {
  return name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
         name.find('\0') != std::string::npos;
}

void validate_for_writing(const std::string& path, const std::vector<LayerWeights>& layers) {
  std::set<std::string> layer_names;
  for (const LayerWeights& l : layers) {
    if (bad_hdf5_name(l.layer))
      fail("cannot write '", path, "': layer name '", l.layer, "' is empty or contains '/' (it becomes an HDF5 group)");
    if (!layer_names.insert(l.layer).second) fail("cannot write '", path, "': layer '", l.layer, "' appears twice");
    std::set<std::string> weight_names;
    for (const NamedArray& w : l.weights) {
      if (bad_hdf5_name(w.name))
        fail("cannot write '", path, "': layer '", l.layer, "' has a weight named '", w.name,
             "' (empty or containing '/')");
      if (!weight_names.insert(w.name).second)
        fail("cannot write '", path, "': layer '", l.layer, "' has two weights named '", w.name, "'");
      for (int64_t d : w.shape)
        if (d < 0) fail("cannot write '", path, "': ", l.layer, "/", w.name, " has shape ", shape_str(w.shape));
      if (shape_numel(w.shape) != static_cast<int64_t>(w.values.size()))
        fail("cannot write '", path, "': ", l.layer, "/", w.name, " has ", w.values.size(), " values but shape ",
             shape_str(w.shape), " needs ", shape_numel(w.shape));
    }
  }
}

}  // namespace

KerasWeightsFile read_keras_weights(const std::string& path) {
  const H5Handle file = h5::open_file_readonly(path);
  KerasWeightsFile out;
  out.path = path;
  if (h5::has_string_list_attribute(file, "layer_names")) {
    out.format = "keras-legacy-h5";
    read_legacy(file, file, out);
  } else if (h5::is_group(file, "model_weights")) {
    const H5Handle model_weights = h5::open_group(file, "model_weights");
    if (!h5::has_string_list_attribute(model_weights, "layer_names"))
      fail("'", path, "' has a group 'model_weights' (a Keras full-model file) but no 'layer_names' attribute ",
           "on it: damaged, or not written by Keras");
    out.format = "keras-legacy-h5 (full model)";
    read_legacy(file, model_weights, out);
  } else if (h5::is_group(file, "layers") || h5::is_group(file, "_layer_checkpoint_dependencies") ||
             h5::is_group(file, "vars")) {
    out.format = "keras3-weights-h5";
    read_keras3(file, out);
  } else {
    fail("'", path, "' is an HDF5 file but not Keras weights: expected a root attribute 'layer_names' ",
         "(Keras .h5 from save_weights), a group 'model_weights' (full-model .h5 from model.save) or a ",
         "group 'layers' / 'vars' (Keras 3 .weights.h5); found ", summarize_root(file));
  }

  std::vector<std::string> names;
  for (const LayerWeights& l : out.layers) names.push_back(l.layer);
  if (uses_legacy_resnet_names(names)) {
    for (LayerWeights& l : out.layers) l.layer = map_legacy_resnet_name(l.layer);
    out.legacy_names_mapped = true;
  }
  return out;
}

void write_keras_legacy_h5(const std::string& path, const std::vector<LayerWeights>& layers,
                           const std::string& keras_version) {
  // Validate everything before the temp file exists: bad input never
  // touches the disk.
  validate_for_writing(path, layers);
  h5::AtomicFile file(path);
  const H5Handle& root = file.root();
  std::vector<std::string> layer_names;
  for (const LayerWeights& l : layers) layer_names.push_back(l.layer);
  write_keras_string_list(root, "layer_names", layer_names, path);
  h5::write_string_attribute(root, "backend", "tensorflow");
  h5::write_string_attribute(root, "keras_version", keras_version);
  for (const LayerWeights& l : layers) {
    const H5Handle group = h5::create_group(root, l.layer);
    std::vector<std::string> weight_names;
    for (const NamedArray& w : l.weights) weight_names.push_back(l.layer + "/" + w.name + ":0");
    write_keras_string_list(group, "weight_names", weight_names, path);
    // "<layer>/<name>:0" under the layer's group: the "/" makes the
    // intermediate group, so the dataset sits at /<layer>/<layer>/<name>:0.
    for (size_t i = 0; i < l.weights.size(); ++i)
      h5::write_float_dataset(group, weight_names[i], l.weights[i].shape, l.weights[i].values.data());
  }
  file.commit();
}

void write_keras3_weights_h5(const std::string& path, const std::vector<LayerWeights>& layers,
                             const std::vector<std::string>& group_paths) {
  validate_for_writing(path, layers);
  if (group_paths.size() != layers.size())
    fail("cannot write '", path, "': ", group_paths.size(), " group paths for ", layers.size(), " layers");
  std::set<std::string> seen;
  for (size_t i = 0; i < layers.size(); ++i) {
    if (group_paths[i].empty()) {
      if (!layers[i].weights.empty())
        fail("cannot write '", path, "': layer '", layers[i].layer, "' has weights but no Keras 3 group path");
      continue;
    }
    if (!seen.insert(group_paths[i]).second)
      fail("cannot write '", path, "': group path '", group_paths[i], "' is used twice");
  }
  h5::AtomicFile file(path);
  const H5Handle& root = file.root();
  h5::create_group(root, "vars");  // the model's own (empty) variables: Keras 3.5 requires the group
  for (size_t i = 0; i < layers.size(); ++i) {
    if (group_paths[i].empty()) continue;
    const H5Handle vars = h5::create_group(root, group_paths[i] + "/vars");
    h5::write_string_attribute(vars, "name", layers[i].layer);
    for (size_t k = 0; k < layers[i].weights.size(); ++k)
      h5::write_float_dataset(vars, std::to_string(k), layers[i].weights[k].shape,
                              layers[i].weights[k].values.data());
  }
  file.commit();
}

#else  // !TL_HAVE_HDF5

KerasWeightsFile read_keras_weights(const std::string& path) {
  fail("cannot read '", path, "': this build has no HDF5 support; install libhdf5-dev and rebuild");
}

void write_keras_legacy_h5(const std::string& path, const std::vector<LayerWeights>&, const std::string&) {
  fail("cannot write '", path, "': this build has no HDF5 support; install libhdf5-dev and rebuild");
}

void write_keras3_weights_h5(const std::string& path, const std::vector<LayerWeights>&,
                             const std::vector<std::string>&) {
  fail("cannot write '", path, "': this build has no HDF5 support; install libhdf5-dev and rebuild");
}

#endif  // TL_HAVE_HDF5

}  // namespace tl
