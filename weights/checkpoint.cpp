#include "weights/checkpoint.h"

#include <cstring>
#include <filesystem>

#include "engine/device_copy.h"
#include "weights/hdf5.h"

namespace tl {
namespace {

constexpr const char* kFormat = "tl-checkpoint";
constexpr int64_t kVersion = 1;
constexpr const char* kIntSuffix = "@int32";
// int32 values are stored as float32, exact up to 2^24.
constexpr int64_t kMaxExactInt = int64_t(1) << 24;

std::vector<NamedTensor> model_tensors(const Module& model) {
  std::vector<NamedTensor> all = model.named_parameters();
  for (auto& b : model.named_buffers()) all.push_back(std::move(b));
  return all;
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

}  // namespace

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const TrainingProgress& progress) {
  const std::filesystem::path parent = std::filesystem::path(path).parent_path();
  if (!parent.empty() && !std::filesystem::is_directory(parent))
    fail("checkpoint ", path, ": directory ", parent.string(), " does not exist");
  h5::AtomicFile file(path);
  const h5::H5Handle& root = file.root();
  h5::write_string_attribute(root, "format", kFormat);
  h5::write_int64_attribute(root, "version", kVersion);
  h5::write_int64_attribute(root, "epoch", progress.epoch);
  h5::write_int64_attribute(root, "step", progress.step);
  // uint64 values stored bit for bit in int64 attributes.
  h5::write_int64_attribute(root, "seed", static_cast<int64_t>(progress.seed));
  h5::write_int64_attribute(root, "random_stream_position",
                            static_cast<int64_t>(progress.random_stream_position));
  h5::write_string_attribute(root, "config", progress.config_json);
  h5::write_string_attribute(root, "history", progress.history_json);
  h5::write_string_attribute(root, "optimizer_kind", optimizer ? optimizer->kind() : "");
  h5::write_int64_attribute(root, "optimizer_steps", optimizer ? optimizer->steps() : 0);

  for (const NamedTensor& nt : model_tensors(model)) {
    const std::vector<float> values = nt.tensor.to_vector();
    h5::write_float_dataset(root, "model/" + nt.name, nt.tensor.shape(), values.data());
  }
  h5::create_group(root, "optimizer");
  if (optimizer) {
    for (const auto& [name, t] : optimizer->state()) {
      if (t.dtype() == DType::I32) {
        const std::vector<float> values = int_tensor_as_floats(t, name);
        h5::write_float_dataset(root, "optimizer/" + name + kIntSuffix, t.shape(), values.data());
      } else {
        const std::vector<float> values = t.to_vector();
        h5::write_float_dataset(root, "optimizer/" + name, t.shape(), values.data());
      }
    }
  }
  file.commit();
}

LoadedCheckpoint load_checkpoint(const std::string& path, const Module& model) {
  const h5::H5Handle root = h5::open_file_readonly(path);
  if (!h5::has_attribute(root, "format") || h5::read_string_attribute(root, "format") != kFormat)
    fail(path, ": not a tl checkpoint (no format=\"", kFormat, "\" attribute)");
  const int64_t version = h5::read_int64_attribute(root, "version");
  if (version != kVersion)
    fail(path, ": checkpoint version ", version, ", this build reads version ", kVersion);

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

  for (const NamedTensor& nt : model_tensors(model)) {
    const std::string where = "model/" + nt.name;
    if (!h5::is_dataset(root, where))
      fail(path, ": checkpoint has no tensor '", nt.name, "': it was saved from a different model "
           "(check --pool, --image-size and the number of classes)");
    h5::FloatArray a = h5::read_float_dataset(root, where);
    if (a.shape != nt.tensor.shape())
      fail(path, ": tensor '", nt.name, "' has shape ", shape_str(a.shape), " in the checkpoint, ",
           shape_str(nt.tensor.shape()), " in the model");
    nt.tensor.copy_from_host(a.values);
  }
  const h5::H5Handle opt = h5::open_group(root, "optimizer");
  for (const std::string& child : h5::list_children(opt)) {
    h5::FloatArray a = h5::read_float_dataset(opt, child);
    const size_t at = child.rfind(kIntSuffix);
    if (at != std::string::npos && at + std::strlen(kIntSuffix) == child.size()) {
      Tensor t = Tensor::empty(a.shape, DType::I32);
      for (size_t i = 0; i < a.values.size(); ++i) t.data<int32_t>()[i] = static_cast<int32_t>(a.values[i]);
      out.optimizer_state.emplace_back(child.substr(0, at), t);
    } else {
      out.optimizer_state.emplace_back(child, Tensor::from_vector(a.shape, a.values));
    }
  }
  return out;
}

}  // namespace tl
