#include "weights/checkpoint.h"

#include <cmath>
#include <cstring>
#include <filesystem>

#include "runtime/device_copy.h"
#include "weights/crc32c.h"
#include "weights/hdf5.h"
#include "weights/value_checks.h"

namespace tl {
namespace {

constexpr const char* kFormat = "tl-checkpoint";
// Version 2 added a CRC32C beside every tensor and one over the metadata
// attributes. Version 1 (no checksums) still loads, with a note.
constexpr int64_t kVersion = 2;
constexpr int64_t kFirstVersionWithChecksums = 2;
constexpr const char* kMetadataChecksum = "metadata_crc32c";
constexpr const char* kIntSuffix = "@int32";
// int32 values are stored as float32, exact up to 2^24.
constexpr int64_t kMaxExactInt = int64_t(1) << 24;

std::vector<NamedTensor> model_tensors(const Module& model) {
  std::vector<NamedTensor> all = model.named_parameters();
  for (auto& b : model.named_buffers()) all.push_back(std::move(b));
  return all;
}

// Adam's second moment ("g0.p3.v"): a running mean of squares, never negative.
bool is_second_moment(const std::string& state_name) {
  return state_name.size() >= 2 && state_name.compare(state_name.size() - 2, 2, ".v") == 0;
}

std::vector<float> int_tensor_as_floats(const Tensor& t, const std::string& what) {
  const Tensor host = t;  // int32 state lives on the host (see engine/optimizer.h)
  TL_CHECK(host.device() == Device::CPU, what, ": int32 state must be on the host");
  std::vector<float> values(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) {
    const int32_t v = host.data<int32_t>()[i];
    TL_CHECK(v >= -kMaxExactInt && v <= kMaxExactInt, what, ": value ", v, " too large to store exactly");
    values[static_cast<size_t>(i)] = static_cast<float>(v);
  }
  return values;
}

// The metadata attributes as one byte string for their checksum: each
// field length-prefixed, so no two different sets of values give the same
// string. A flipped byte in the epoch or the seed would otherwise resume a
// run from the wrong place without a word.
struct Metadata {
  int64_t version = 0;
  TrainingProgress progress;
  std::string optimizer_kind;
  int64_t optimizer_steps = 0;
};

uint32_t metadata_checksum(const Metadata& m) {
  std::string text;
  auto add = [&text](const std::string& field) { text += std::to_string(field.size()) + ":" + field + ";"; };
  add(kFormat);
  add(std::to_string(m.version));
  add(std::to_string(m.progress.epoch));
  add(std::to_string(m.progress.step));
  add(std::to_string(m.progress.seed));
  add(std::to_string(m.progress.random_stream_position));
  add(m.progress.config_json);
  add(m.progress.history_json);
  add(m.optimizer_kind);
  add(std::to_string(m.optimizer_steps));
  return crc32c(text.data(), text.size());
}

// Refuses to write what load_checkpoint would refuse: a run that diverged
// must not replace the last good checkpoint with one that cannot be resumed.
void check_before_saving(const std::string& path, const char* kind, const std::string& name,
                         const std::vector<float>& values, bool variance) {
  const std::string problem = value_problem(values.data(), values.size(), variance);
  if (!problem.empty())
    fail("cannot write checkpoint '", path, "': ", kind, " '", name, "' ", problem,
         "; nothing was written and the previous checkpoint, if any, is unchanged (did the training diverge?)");
}

void write_tensor(const h5::H5Handle& root, const std::string& path, const char* kind, const std::string& group,
                  const std::string& name, const Shape& shape, const std::vector<float>& values, bool variance) {
  check_before_saving(path, kind, name, values, variance);
  h5::write_float_dataset(root, group + "/" + name, shape, values.data());
}

// The value checks of load_checkpoint, one tensor at a time.
void check_loaded(const std::string& path, const char* kind, const std::string& name, const h5::FloatArray& a,
                  bool has_checksums, bool variance) {
  if (has_checksums && !a.checksum_verified)
    fail("'", path, "': ", kind, " '", name, "' has no checksum, unlike every tensor of a version-",
         kFirstVersionWithChecksums, " checkpoint: the file is damaged; use an earlier copy");
  const std::string problem = value_problem(a.values.data(), a.values.size(), variance);
  if (!problem.empty())
    fail("'", path, "': ", kind, " '", name, "' ", problem,
         ": this checkpoint cannot be used (damaged, or saved by a run that diverged); "
         "use an earlier checkpoint or train from the start");
}

// Integer state stored as floats must hold whole numbers in int32's exact range.
void check_whole_numbers(const std::string& path, const std::string& name, const std::vector<float>& values) {
  for (size_t i = 0; i < values.size(); ++i) {
    const float v = values[i];
    if (v != std::nearbyint(v) || v < -float(kMaxExactInt) || v > float(kMaxExactInt))
      fail("'", path, "': optimizer state '", name, "' holds ", v, " at index ", i,
           ", but it must be a whole number (a step count): the file is damaged; use an earlier checkpoint");
  }
}

}  // namespace

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const TrainingProgress& progress) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent))
    fail("checkpoint ", path, ": directory ", parent.string(), " does not exist");
  Metadata meta{kVersion, progress, optimizer ? optimizer->kind() : "", optimizer ? optimizer->steps() : 0};
  h5::AtomicFile file(path);
  const h5::H5Handle& root = file.root();
  h5::write_string_attribute(root, "format", kFormat);
  h5::write_int64_attribute(root, "version", meta.version);
  h5::write_int64_attribute(root, "epoch", progress.epoch);
  h5::write_int64_attribute(root, "step", progress.step);
  // uint64 values stored bit for bit in int64 attributes.
  h5::write_int64_attribute(root, "seed", static_cast<int64_t>(progress.seed));
  h5::write_int64_attribute(root, "random_stream_position",
                            static_cast<int64_t>(progress.random_stream_position));
  h5::write_string_attribute(root, "config", progress.config_json);
  h5::write_string_attribute(root, "history", progress.history_json);
  h5::write_string_attribute(root, "optimizer_kind", meta.optimizer_kind);
  h5::write_int64_attribute(root, "optimizer_steps", meta.optimizer_steps);
  h5::write_int64_attribute(root, kMetadataChecksum, metadata_checksum(meta));

  // Each tensor gets its CRC32C from write_float_dataset.
  for (const NamedTensor& nt : model_tensors(model))
    write_tensor(root, path, "tensor", "model", nt.name, nt.tensor.shape(), nt.tensor.to_vector(),
                 is_variance_name(nt.name));
  h5::create_group(root, "optimizer");
  if (optimizer) {
    for (const auto& [name, t] : optimizer->state()) {
      if (t.dtype() == DType::I32)
        write_tensor(root, path, "optimizer state", "optimizer", name + kIntSuffix, t.shape(),
                     int_tensor_as_floats(t, name), false);
      else
        write_tensor(root, path, "optimizer state", "optimizer", name, t.shape(), t.to_vector(),
                     is_second_moment(name));
    }
  }
  file.commit();
}

LoadedCheckpoint load_checkpoint(const std::string& path, const Module& model) {
  const h5::H5Handle root = h5::open_file_readonly(path);
  if (!h5::has_attribute(root, "format") || h5::read_string_attribute(root, "format") != kFormat)
    fail(path, ": not a tl checkpoint (no format=\"", kFormat, "\" attribute)");
  const int64_t version = h5::read_int64_attribute(root, "version");
  if (version < 1 || version > kVersion)
    fail(path, ": checkpoint version ", version, ", this build reads versions 1 to ", kVersion);
  const bool has_checksums = version >= kFirstVersionWithChecksums;

  LoadedCheckpoint out;
  out.progress.epoch = h5::read_int64_attribute(root, "epoch");
  out.progress.step = h5::read_int64_attribute(root, "step");
  out.progress.seed = static_cast<uint64_t>(h5::read_int64_attribute(root, "seed"));
  out.progress.random_stream_position =
      static_cast<uint64_t>(h5::read_int64_attribute(root, "random_stream_position"));
  out.progress.config_json = h5::read_string_attribute(root, "config");
  out.progress.history_json = h5::read_string_attribute(root, "history");
  out.optimizer_kind = h5::read_string_attribute(root, "optimizer_kind");
  out.optimizer_steps = h5::read_int64_attribute(root, "optimizer_steps");
  if (has_checksums) {
    const Metadata meta{version, out.progress, out.optimizer_kind, out.optimizer_steps};
    if (!h5::has_attribute(root, kMetadataChecksum) ||
        h5::read_int64_attribute(root, kMetadataChecksum) != static_cast<int64_t>(metadata_checksum(meta)))
      fail("'", path, "': the checkpoint's metadata (epoch, step, seed, configuration, history) does not match "
           "its checksum: the file is damaged; use an earlier copy");
  } else {
    out.note = "'" + path + "' is a version-1 checkpoint and has no checksums: damage to it cannot be detected "
               "(its values were checked for NaN, infinities and negative variances); the next checkpoint "
               "written will carry them";
  }

  for (const NamedTensor& nt : model_tensors(model)) {
    const std::string where = "model/" + nt.name;
    if (!h5::is_dataset(root, where))
      fail(path, ": checkpoint has no tensor '", nt.name, "': it was saved from a different model "
           "(check the pooling, the image size and the number of classes)");
    h5::FloatArray a = h5::read_float_dataset(root, where);  // verifies the checksum
    if (a.shape != nt.tensor.shape())
      fail(path, ": tensor '", nt.name, "' has shape ", shape_str(a.shape), " in the checkpoint, ",
           shape_str(nt.tensor.shape()), " in the model");
    check_loaded(path, "tensor", nt.name, a, has_checksums, is_variance_name(nt.name));
    nt.tensor.copy_from_host(a.values);
  }
  const h5::H5Handle opt = h5::open_group(root, "optimizer");
  for (const std::string& child : h5::list_children(opt)) {
    h5::FloatArray a = h5::read_float_dataset(opt, child);
    const size_t at = child.rfind(kIntSuffix);
    if (at != std::string::npos && at + std::strlen(kIntSuffix) == child.size()) {
      const std::string name = child.substr(0, at);
      check_loaded(path, "optimizer state", name, a, has_checksums, false);
      check_whole_numbers(path, name, a.values);
      Tensor t = Tensor::empty(a.shape, DType::I32);
      for (size_t i = 0; i < a.values.size(); ++i) t.data<int32_t>()[i] = static_cast<int32_t>(a.values[i]);
      out.optimizer_state.emplace_back(name, t);
    } else {
      check_loaded(path, "optimizer state", child, a, has_checksums, is_second_moment(child));
      out.optimizer_state.emplace_back(child, Tensor::from_vector(a.shape, a.values));
    }
  }
  return out;
}

}  // namespace tl
