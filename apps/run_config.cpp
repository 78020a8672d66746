#include "apps/run_config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>

#include "apps/json.h"
#include "data/cifar10.h"
#include "weights/checkpoint.h"
#include "weights/hdf5.h"
#include "weights/keras_model_file.h"

namespace tl::app {
namespace {

// A 64-bit hash over 8-byte words (multiply and xor-shift, as in
// MurmurHash's finaliser): for telling data sets apart, not for security.
// 150 MB of CIFAR-10 take well under a second.
struct Hash64 {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  void word(uint64_t w) {
    h ^= w;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  void bytes(const uint8_t* p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      word(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, n - i);
    word(tail ^ (uint64_t(n - i) << 56));
  }
};

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string pool_name(HeadPool pool) { return pool == HeadPool::kAverage ? "avg" : "flatten"; }

// How a recorded value reads in a message: numbers written for exactness
// ("0.00100000005") shortened to what the user typed ("0.001").
std::string shown(const std::string& text) {
  if (text.find_first_of(".eE") == std::string::npos) return text;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0') return text;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// The names in `a` that are not in `b`.
std::vector<std::string> missing_from(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  std::vector<std::string> out;
  for (const std::string& n : a)
    if (std::find(b.begin(), b.end(), n) == b.end()) out.push_back(n);
  return out;
}

}  // namespace

std::string fingerprint(const ImageSet& set) {
  if (set.size() == 0) return "";
  Hash64 hash;
  hash.word(static_cast<uint64_t>(set.size()));
  hash.word(static_cast<uint64_t>(set.height()));
  hash.word(static_cast<uint64_t>(set.width()));
  hash.bytes(set.images.data<uint8_t>(), static_cast<size_t>(set.images.numel()));
  hash.bytes(reinterpret_cast<const uint8_t*>(set.labels.data<int32_t>()),
             static_cast<size_t>(set.labels.numel()) * sizeof(int32_t));
  return hex64(hash.h);
}

DataIdentity identify_data(const ImageSet& train, const ImageSet& val, const ImageSet& test) {
  DataIdentity d;
  d.train_images = train.size();
  d.val_images = val.size();
  d.test_images = test.size();
  d.train_fingerprint = fingerprint(train);
  d.val_fingerprint = fingerprint(val);
  d.test_fingerprint = fingerprint(test);
  return d;
}

std::string run_config_json(const TrainOptions& o, const ModelRecord& r, const DataIdentity& data) {
  JsonObject j;
  j.add("format", "tl-run-config-1")
      .add("image_size", r.model.input_size)
      .add("pool", pool_name(r.model.pool))
      .add("classes", r.model.classes)
      .add("dropout", double(r.model.dropout))
      .add("bn_momentum", double(r.model.bn_momentum))
      .add("class_names", r.class_names)
      .add("dataset", r.dataset)
      .add("synthetic_size", o.synthetic_size)
      // What decides the samples and their order (compared by --resume).
      .add("train_images", data.train_images)
      .add("train_fingerprint", data.train_fingerprint)
      .add("val_images", data.val_images)
      .add("val_fingerprint", data.val_fingerprint)
      .add("test_images", data.test_images)
      .add("test_fingerprint", data.test_fingerprint)
      .add("subset", o.subset)
      .add("test_subset", o.test_subset)
      .add("val_split", o.val_split)
      .add("seed", static_cast<int64_t>(o.seed))
      .add("epochs", o.epochs)
      .add("batch_size", o.batch_size)
      .add("optimizer", o.optimizer)
      .add("lr", double(o.lr))
      .add("backbone_lr", double(o.backbone_lr))
      .add("momentum", double(o.momentum))
      .add("nesterov", o.nesterov)
      .add("weight_decay", double(o.weight_decay))
      .add("schedule", o.schedule)
      .add("warmup_epochs", o.warmup_epochs)
      .add("step_epochs", o.step_epochs)
      .add("step_gamma", double(o.step_gamma))
      .add("freeze", o.freeze)
      .add("frozen_bn", o.frozen_bn)
      .add("augment", o.augment)
      .add("weights", r.weights);
  if (!r.weights_missing.empty()) j.add("weights_missing", r.weights_missing);
  return j.str();
}

namespace {

// A number of the configuration as a tl::Error-checked value: the text comes
// from a file a user hands us (std::stoll / std::stof threw std exceptions on
// "x" or 1e39, and a NaN dropout could be written but not read back: found by
// fuzz/).
double config_number(const JsonFlat& f, const char* key, const std::string& what, double lo, double hi) {
  const std::string& text = f.get(key, what);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v >= lo && v <= hi))
    fail(what, ": the run configuration's \"", key, "\" is ", text, ", expected a number in [", lo, ", ", hi,
         "]; the checkpoint is damaged or was not written by train_cifar");
  return v;
}

int64_t config_count(const JsonFlat& f, const char* key, const std::string& what, int64_t lo, int64_t hi) {
  const double v = config_number(f, key, what, double(lo), double(hi));
  if (v != std::floor(v))
    fail(what, ": the run configuration's \"", key, "\" is ", v, ", expected a whole number");
  return static_cast<int64_t>(v);
}

}  // namespace

ModelRecord parse_run_config(const std::string& json, const std::string& what) {
  const JsonFlat f = parse_json_flat(json, what);
  ModelRecord r;
  r.model.input_size = config_count(f, "image_size", what, 1, 8192);  // train_cifar's own bound
  r.model.pool = f.get("pool", what) == "avg" ? HeadPool::kAverage : HeadPool::kFlatten;
  r.model.classes = config_count(f, "classes", what, 1, 1 << 20);
  r.model.dropout = static_cast<float>(config_number(f, "dropout", what, 0.0, 1.0));
  r.model.bn_momentum = static_cast<float>(config_number(f, "bn_momentum", what, 0.0, 1.0));
  auto names = f.string_arrays.find("class_names");
  if (names != f.string_arrays.end()) r.class_names = names->second;
  r.dataset = f.get("dataset", what);
  r.synthetic_size = config_count(f, "synthetic_size", what, 0, int64_t(1) << 40);
  // The seed is a uint64 that JsonObject writes as an int64 (2^64 - 1 reads
  // "-1"): parsed as an integer either way, never through a double.
  const std::string& seed = f.get("seed", what);
  const char *first = seed.data(), *last = seed.data() + seed.size();
  int64_t as_signed = 0;
  if (auto [stop, error] = std::from_chars(first, last, as_signed); error == std::errc() && stop == last)
    r.seed = static_cast<uint64_t>(as_signed);
  else if (auto [stop2, error2] = std::from_chars(first, last, r.seed); error2 != std::errc() || stop2 != last)
    fail(what, ": the run configuration's \"seed\" is ", seed, ", expected a whole number");
  if (auto w = f.scalars.find("weights"); w != f.scalars.end()) r.weights = w->second;
  if (auto w = f.scalars.find("weights_missing"); w != f.scalars.end()) r.weights_missing = w->second;
  return r;
}

std::string read_checkpoint_config(const std::string& path) {
  const h5::H5Handle file = h5::open_file_readonly(path);
  if (!h5::has_attribute(file, "config")) fail(path, ": not a train_cifar checkpoint (no config attribute)");
  return h5::read_string_attribute(file, "config");
}

std::string ResumeDifference::str() const {
  return flag + " " + (now.empty() ? "(none)" : shown(now)) + " (checkpoint: " +
         (saved.empty() ? "not recorded" : shown(saved)) + ")";
}

std::vector<ResumeDifference> resume_differences(const std::string& saved_config, const std::string& now_config,
                                                 const std::string& what) {
  const JsonFlat saved = parse_json_flat(saved_config, what);
  const JsonFlat now = parse_json_flat(now_config, "this run's configuration");
  auto value = [](const JsonFlat& f, const std::string& key) {
    auto it = f.scalars.find(key);
    return it == f.scalars.end() ? std::string() : it->second;
  };
  std::vector<ResumeDifference> out;
  auto compare = [&](const std::string& key, const std::string& flag, bool inexact_allowed = true) {
    const std::string a = value(saved, key), b = value(now, key);
    if (a != b) out.push_back({flag, a, b, inexact_allowed});
  };
  // A switch reads as the flag that sets it: given or not.
  auto compare_switch = [&](const std::string& key, const std::string& flag, const std::string& when_given) {
    const std::string a = value(saved, key), b = value(now, key);
    auto as_flag = [&](const std::string& v) {
      return v.empty() ? std::string() : v == when_given ? "given" : "not given";
    };
    if (a != b) out.push_back({flag, as_flag(a), as_flag(b), true});
  };
  // A data set: its size and fingerprint together.
  auto compare_data = [&](const std::string& set, const std::string& name) {
    auto describe = [&](const JsonFlat& f) {
      const std::string count = value(f, set + "_images"), print = value(f, set + "_fingerprint");
      return count.empty() ? std::string() : count + " images, fingerprint " + (print.empty() ? "-" : print);
    };
    const std::string a = describe(saved), b = describe(now);
    if (a != b) out.push_back({name, a, b, true});
  };

  // The model itself: a checkpoint only continues the model it was made with.
  compare("pool", "--pool", false);
  compare("classes", "number of classes", false);
  const auto saved_names = saved.string_arrays.find("class_names");
  const auto now_names = now.string_arrays.find("class_names");
  const std::vector<std::string> a = saved_names == saved.string_arrays.end() ? std::vector<std::string>{}
                                                                             : saved_names->second;
  const std::vector<std::string> b = now_names == now.string_arrays.end() ? std::vector<std::string>{}
                                                                         : now_names->second;
  if (a != b) {
    std::string detail;
    if (const auto gone = missing_from(a, b); !gone.empty()) detail += "; only in the checkpoint: " + joined(gone);
    if (const auto added = missing_from(b, a); !added.empty()) detail += "; only now: " + joined(added);
    if (detail.empty()) detail = "; the same names in another order";
    out.push_back({"class names", "[" + joined(a) + "]", "[" + joined(b) + detail + "]", false});
  }
  // With Flatten the head's first layer is sized by the input; with global
  // average pooling a new input size is a new (inexact) run of the same model.
  compare("image_size", "--image-size", value(saved, "pool") != "flatten");

  // The samples and their order.
  const size_t before_data_flags = out.size();
  if (value(saved, "dataset").rfind("synthetic", 0) == 0) compare("synthetic_size", "--synthetic-size");
  compare("subset", "--subset");
  compare("test_subset", "--test-subset");
  compare("val_split", "--val-split");
  compare("seed", "--seed");
  // Other data under the same flags (another --data-dir, files changed);
  // when one of the flags above differs, the data differ as a consequence
  // and the flag is the better name for it.
  if (out.size() == before_data_flags) {
    compare_data("train", "training data");
    compare_data("val", "validation data");
    compare_data("test", "test data");
  }
  compare_switch("augment", "--no-augment", "false");
  compare("batch_size", "--batch-size");
  // The model's training.
  compare("freeze", "--freeze");
  compare("frozen_bn", "--frozen-bn");
  compare("dropout", "--dropout");
  compare("bn_momentum", "--bn-momentum");
  compare("epochs", "--epochs");
  compare("optimizer", "--optimizer");
  compare("lr", "--lr");
  compare("backbone_lr", "--backbone-lr");
  compare("momentum", "--momentum");
  compare_switch("nesterov", "--nesterov", "true");
  compare("weight_decay", "--weight-decay");
  compare("schedule", "--schedule");
  compare("warmup_epochs", "--warmup-epochs");
  compare("step_epochs", "--step-epochs");
  compare("step_gamma", "--step-gamma");
  return out;
}

std::vector<ResumeDifference> check_resume_compatible(const std::string& saved_config,
                                                      const std::string& now_config, const std::string& path,
                                                      bool allow_inexact) {
  const std::vector<ResumeDifference> differences = resume_differences(saved_config, now_config, path);
  std::string model, run;
  bool data = false;
  for (const ResumeDifference& d : differences) {
    std::string& list = d.inexact_allowed ? run : model;
    list += (list.empty() ? "" : "; ") + d.str();
    data = data || d.flag.find("data") != std::string::npos;
  }
  if (!model.empty())
    fail("--resume ", path, ": the checkpoint holds another model: ", model,
         ". A checkpoint continues only the model it was made with; start a new run (another "
         "--output-dir) or resume with the checkpoint's settings");
  if (!run.empty() && !allow_inexact)
    fail("--resume ", path, ": this run would not continue the checkpoint's exactly: ", run, ".",
         data ? " The flags that choose and cut the data are the same, so --dataset / --data-dir read other "
                "images now (or the files changed)."
              : "",
         " Resume with the checkpoint's flags and data, or add --resume-inexact to continue anyway "
         "(the run then no longer matches an uninterrupted one)");
  return differences;
}

namespace {

std::unique_ptr<Classifier> load_keras_classifier(const KerasModelFile& file, ModelRecord& record,
                                                  int64_t image_size) {
  const std::string& path = file.weights.path;
  ClassifierConfig defaults;
  if (image_size > 0) defaults.input_size = image_size;
  if (image_size > 0 && file.architecture.input_size > 0 && file.architecture.input_size != image_size)
    fail("'", path, "' is a model for ", file.architecture.input_size, "x", file.architecture.input_size,
         " inputs, not ", image_size, " (--image-size)");
  record = ModelRecord{};
  record.model = classifier_config_from(file.architecture, defaults, path);
  if (record.model.classes == 10) {
    record.class_names = cifar10_class_names();
  } else {
    for (int64_t c = 0; c < record.model.classes; ++c) record.class_names.push_back("class_" + std::to_string(c));
  }
  record.dataset = "cifar10";
  record.weights = path;
  auto model = std::make_unique<Classifier>(record.model);
  const LoadReport report = load_keras_weights(*model, file.weights);
  std::cout << "Keras model: " << report.summary() << "; input " << record.model.input_size
            << (file.architecture.input_size > 0 || image_size > 0 ? "" : " (the file does not say; pass --image-size)")
            << "\n";
  return model;
}

}  // namespace

std::unique_ptr<Classifier> load_classifier(const std::string& checkpoint, ModelRecord& record,
                                            int64_t keras_image_size) {
  // The configuration first (a model of the right shape), then the tensors.
  std::string config;
  try {
    config = read_checkpoint_config(checkpoint);
  } catch (const Error& not_a_checkpoint) {
    // Not a train_cifar checkpoint: a whole Keras model? If it is not one
    // either, the checkpoint's own error says best what is wrong.
    std::optional<KerasModelFile> keras;
    try {
      keras = read_keras_model_file(checkpoint);
    } catch (const Error&) {
      throw not_a_checkpoint;
    }
    return load_keras_classifier(*keras, record, keras_image_size);
  }
  record = parse_run_config(config, checkpoint);
  auto model = std::make_unique<Classifier>(record.model);
  const LoadedCheckpoint loaded = load_checkpoint(checkpoint, *model);
  if (!loaded.note.empty()) std::cout << "Note: " << loaded.note << "\n";  // e.g. an older checkpoint format
  return model;
}

}  // namespace tl::app
