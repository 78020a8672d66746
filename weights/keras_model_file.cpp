#include "weights/keras_model_file.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "runtime/check.h"
#include "weights/atomic_write.h"
#include "weights/json.h"
#include "weights/keras_layout.h"
#include "weights/stored_zip.h"

namespace tl {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool starts_like_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  return in.read(magic, 4) && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

// A temporary file that removes itself: HDF5 reads model.weights.h5 from it.
class ScratchFile {
 public:
  ScratchFile(const std::string& data, const std::string& tag) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("tl_" + tag + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++) + ".h5"))
                .string();
    std::ofstream out(path_, std::ios::binary);
    out.write(data.data(), static_cast<std::streamsize>(data.size()));
    if (!out) fail("cannot write the temporary file '", path_, "' (disk full? TMPDIR writable?)");
  }
  ~ScratchFile() { std::remove(path_.c_str()); }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  if (!in) fail("cannot read '", path, "'");
  return s.str();
}

// The layers of the model in config.json, in order; a nested Functional
// (the ResNet50) is one entry, its own layers are not listed.
void collect_layers(const JsonValue& model, std::vector<const JsonValue*>& out) {
  const JsonValue* config = model.get("config");
  const JsonValue* layers = config ? config->get("layers") : nullptr;
  if (!layers || !layers->is_array()) return;
  for (const JsonValue& l : layers->array) out.push_back(&l);
}

// The first [null, S, S, 3] "batch_shape" (Keras 3) / "batch_input_shape" (Keras 2) anywhere.
int64_t find_input_size(const JsonValue& v, int depth = 0) {
  if (depth > 64) return 0;
  if (v.is_object()) {
    for (const char* key : {"batch_shape", "batch_input_shape"}) {
      const JsonValue* s = v.get(key);
      if (s && s->is_array() && s->array.size() == 4 && s->array[1].is_number()) {
        const double side = s->array[1].number;  // from a file: range-checked before the cast
        if (side >= 1 && side <= 1e6 && side == std::floor(side)) return static_cast<int64_t>(side);
      }
    }
    for (const auto& [k, child] : v.object)
      if (int64_t n = find_input_size(child, depth + 1)) return n;
  }
  if (v.is_array())
    for (const JsonValue& child : v.array)
      if (int64_t n = find_input_size(child, depth + 1)) return n;
  return 0;
}

double number_or(const JsonValue* layer_config, const std::string& key, double fallback) {
  const JsonValue* v = layer_config ? layer_config->get(key) : nullptr;
  return v && v->is_number() ? v->number : fallback;
}

KerasArchitecture architecture_from_weights(const KerasWeightsFile& file) {
  KerasArchitecture arch;
  arch.source = "weights";
  std::vector<LayerWeights> dense;
  for (const LayerWeights& l : file.layers)
    if (keras3_class_of(l) == "dense") dense.push_back(l);
  // Legacy files list layers in model order; a .weights.h5's Dense groups
  // come in counter order (dense, dense_1, ...), the same thing here.
  for (const LayerWeights& l : dense) arch.dense_units.push_back(l.weights[0].shape[1]);
  if (!dense.empty()) {
    const int64_t in = dense[0].weights[0].shape[0];
    arch.pool = in == 2048 ? "avg" : (in % 2048 == 0 ? "flatten" : "");
    arch.flatten_features = in;
  }
  return arch;
}

std::string join_numbers(const std::vector<int64_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return "[" + s + "]";
}

int64_t features_at(int64_t input_size) {
  int64_t s = input_size;
  for (int k = 0; k < 5; ++k) s = (s + 1) / 2;  // ResNet50's five stride-2 steps, 'same' padding
  return s * s * 2048;
}

std::string pool_name(HeadPool pool) { return pool == HeadPool::kFlatten ? "flatten" : "avg"; }

}  // namespace

KerasArchitecture parse_keras_config(const std::string& config_json, const std::string& what) {
  const JsonValue root = parse_json(config_json, what);
  KerasArchitecture arch;
  arch.source = "config.json";
  arch.input_size = find_input_size(root);
  std::vector<const JsonValue*> layers;
  collect_layers(root, layers);
  if (layers.empty()) fail(what, ": no model layers found (expected config.layers of a Sequential or Functional model)");
  for (const JsonValue* l : layers) {
    const std::string cls = l->get_string("class_name");
    const JsonValue* cfg = l->get("config");
    if (cls == "Flatten") arch.pool = "flatten";
    else if (cls == "GlobalAveragePooling2D") arch.pool = "avg";
    else if (cls == "Dense") {
      const double units = number_or(cfg, "units", 0);  // from a file: range-checked before the cast
      if (!(units >= 1 && units <= 1e9) || units != std::floor(units))
        fail(what, ": config.json gives a Dense layer ", units, " units; expected a whole number >= 1");
      arch.dense_units.push_back(static_cast<int64_t>(units));
    }
    else if (cls == "Dropout") arch.dropout_rates.push_back(number_or(cfg, "rate", 0));
  }
  return arch;
}

KerasModelFile read_keras_model_file(const std::string& path) {
  KerasModelFile out;
  if (!starts_like_zip(path)) {
    out.weights = read_keras_weights(path);
    out.architecture = architecture_from_weights(out.weights);
    return out;
  }
  std::string weights, config;
  bool has_weights = false, has_config = false;
  for (ZipMember& m : read_stored_zip(path)) {
    if (m.name == "model.weights.h5") weights = std::move(m.data), has_weights = true;
    if (m.name == "config.json") config = std::move(m.data), has_config = true;
  }
  if (!has_weights)
    fail("'", path, "' is a zip file but has no member model.weights.h5: not a Keras 3 .keras archive");
  const ScratchFile scratch(weights, "keras_archive");
  out.weights = read_keras_weights(scratch.path());
  out.weights.path = path;
  out.weights.format = "keras-archive (.keras, " + out.weights.format + ")";
  out.architecture = has_config ? parse_keras_config(config, "'" + path + "' config.json")
                                : architecture_from_weights(out.weights);
  return out;
}

std::vector<std::string> architecture_mismatches(const KerasArchitecture& arch, const ClassifierConfig& config) {
  std::vector<std::string> out;
  if (arch.input_size != 0 && arch.input_size != config.input_size)
    out.push_back("input size: file " + std::to_string(arch.input_size) + ", model " + std::to_string(config.input_size));
  if (!arch.pool.empty() && arch.pool != pool_name(config.pool))
    out.push_back("pooling: file " + arch.pool + ", model " + pool_name(config.pool));
  const std::vector<int64_t> want = {256, 128, 64, config.classes};
  if (!arch.dense_units.empty() && arch.dense_units != want)
    out.push_back("Dense widths: file " + join_numbers(arch.dense_units) + ", model " + join_numbers(want));
  if (arch.pool == "flatten" && config.pool == HeadPool::kFlatten && arch.flatten_features != 0 &&
      arch.flatten_features != features_at(config.input_size))
    out.push_back("Flatten features: file " + std::to_string(arch.flatten_features) + ", model " +
                  std::to_string(features_at(config.input_size)) + " (another input size)");
  for (size_t i = 0; i < arch.dropout_rates.size(); ++i)
    if (std::fabs(arch.dropout_rates[i] - config.dropout) > 1e-6) {
      out.push_back("dropout " + std::to_string(i) + ": file " + std::to_string(arch.dropout_rates[i]) +
                    ", model " + std::to_string(config.dropout));
      break;
    }
  return out;
}

ClassifierConfig classifier_config_from(const KerasArchitecture& arch, ClassifierConfig c, const std::string& path) {
  if (arch.input_size > 0) c.input_size = arch.input_size;
  if (arch.pool == "flatten") c.pool = HeadPool::kFlatten;
  if (arch.pool == "avg") c.pool = HeadPool::kAverage;
  if (!arch.dense_units.empty()) c.classes = arch.dense_units.back();
  if (!arch.dropout_rates.empty()) c.dropout = static_cast<float>(arch.dropout_rates[0]);
  if (arch.input_size == 0 && arch.pool == "flatten" && arch.flatten_features != features_at(c.input_size)) {
    // Flatten's width is (ceil(S / 32))^2 * 2048: S = 32 k is the size that
    // gives k x k features without padding (33..64 give the same as 64).
    const auto k = static_cast<int64_t>(std::llround(std::sqrt(static_cast<double>(arch.flatten_features) / 2048)));
    if (k > 0 && k * k * 2048 == arch.flatten_features) c.input_size = 32 * k;
  }
  const std::vector<std::string> left = architecture_mismatches(arch, c);
  if (!left.empty()) {
    std::string s;
    for (const std::string& m : left) s += (s.empty() ? "" : "; ") + m;
    fail("'", path, "' is not ResNet50 + the reference head tl builds (Flatten or GlobalAveragePooling2D, then "
         "BN-Dense 256-Dropout, BN-Dense 128-Dropout, BN-Dense 64-Dropout, Dense classes): ", s);
  }
  return c;
}

LoadReport load_keras_model(Classifier& model, const std::string& path) {
  const KerasModelFile file = read_keras_model_file(path);
  const std::vector<std::string> problems = architecture_mismatches(file.architecture, model.config());
  if (!problems.empty()) {
    std::string s;
    for (const std::string& m : problems) s += (s.empty() ? "" : "; ") + m;
    fail("'", path, "' describes another model (from its ", file.architecture.source, "): ", s,
         ". Build the model with the file's settings (classifier_config_from reads them from the file)");
  }
  return load_keras_weights(model, file.weights);
}

namespace {

std::string keras_config_json(const ClassifierConfig& c) {
  std::ostringstream os;
  auto layer = [&](const std::string& cls, const std::string& config) {
    os << ", {\"module\": \"keras.layers\", \"class_name\": \"" << cls << "\", \"config\": {" << config
       << "}, \"registered_name\": null}";
  };
  const std::string size = std::to_string(c.input_size);
  os << "{\"module\": \"keras\", \"class_name\": \"Sequential\", \"config\": {\"name\": \"sequential\", "
        "\"trainable\": true, \"dtype\": \"float32\", \"layers\": [";
  os << "{\"module\": \"keras.layers\", \"class_name\": \"InputLayer\", \"config\": {\"batch_shape\": [null, "
     << size << ", " << size << ", 3], \"dtype\": \"float32\", \"sparse\": false, \"name\": \"input_layer\"}, "
        "\"registered_name\": null}";
  // The backbone is named, not spelled out: tl writes the weights, and
  // Keras rebuilds ResNet50 itself (keras.applications.ResNet50).
  os << ", {\"module\": \"keras.src.models.functional\", \"class_name\": \"Functional\", \"config\": {\"name\": "
        "\"resnet50\", \"trainable\": true, \"note\": \"keras.applications.ResNet50(include_top=False, "
        "weights=None, input_shape=("
     << size << ", " << size << ", 3)); layers not listed by tl\"}, \"registered_name\": \"Functional\"}";
  if (c.pool == HeadPool::kFlatten) layer("Flatten", "\"name\": \"flatten\", \"data_format\": \"channels_last\"");
  else layer("GlobalAveragePooling2D", "\"name\": \"global_average_pooling2d\", \"data_format\": \"channels_last\", \"keepdims\": false");
  const int64_t widths[] = {256, 128, 64};
  for (int i = 0; i < 3; ++i) {
    const std::string suffix = i == 0 ? "" : "_" + std::to_string(i);
    std::ostringstream bn, dense, drop;
    bn << "\"name\": \"batch_normalization" << suffix << "\", \"axis\": -1, \"momentum\": 0.99, \"epsilon\": 0.001, "
          "\"center\": true, \"scale\": true";
    dense << "\"name\": \"dense" << suffix << "\", \"units\": " << widths[i] << ", \"activation\": \"relu\", \"use_bias\": true";
    drop << "\"name\": \"dropout" << suffix << "\", \"rate\": " << c.dropout;
    layer("BatchNormalization", bn.str());
    layer("Dense", dense.str());
    layer("Dropout", drop.str());
  }
  layer("Dense", "\"name\": \"dense_3\", \"units\": " + std::to_string(c.classes) +
                     ", \"activation\": \"softmax\", \"use_bias\": true");
  os << "]}, \"registered_name\": null}";
  return os.str();
}

}  // namespace

void export_keras_archive(Classifier& model, const std::string& path) {
  // model.weights.h5 is written by the .weights.h5 writer into a temp
  // file, then packed with the JSON members.
  const std::string h5_path = temp_path_for(path) + ".weights.h5";
  struct Remove {
    std::string p;
    ~Remove() { std::remove(p.c_str()); }
  } remove_after{h5_path};
  export_keras_weights_h5(model, h5_path, KerasConstruction::kSequential);
  const std::vector<ZipMember> members = {
      {"metadata.json", "{\"keras_version\": \"3.6.0\", \"date_saved\": \"1980-01-01@00:00:00\", \"writer\": \"tl\"}"},
      {"config.json", keras_config_json(model.config())},
      {"model.weights.h5", read_whole(h5_path)},
  };
  write_stored_zip(path, members);
}

bool is_keras_model_path(const std::string& path) {
  return ends_with(path, ".keras") || ends_with(path, ".h5");
}

void export_keras_model(Classifier& model, const std::string& path) {
  if (ends_with(path, ".keras")) return export_keras_archive(model, path);
  export_keras(model, path);  // .weights.h5 / .h5, or the error listing the suffixes
}

}  // namespace tl
