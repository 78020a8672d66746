#include "apps/run_config.h"

#include "apps/json.h"
#include "weights/checkpoint.h"
#include "weights/hdf5.h"

namespace tl::app {

std::string run_config_json(const TrainOptions& o, const ModelRecord& r) {
  JsonObject j;
  j.add("format", "tl-run-config-1")
      .add("image_size", r.model.input_size)
      .add("pool", r.model.pool == HeadPool::kFlatten ? "flatten" : "avg")
      .add("classes", r.model.classes)
      .add("dropout", double(r.model.dropout))
      .add("bn_momentum", double(r.model.bn_momentum))
      .add("class_names", r.class_names)
      .add("dataset", r.dataset)
      .add("synthetic_size", o.synthetic_size)
      .add("seed", static_cast<int64_t>(o.seed))
      .add("epochs", o.epochs)
      .add("batch_size", o.batch_size)
      .add("optimizer", o.optimizer)
      .add("lr", double(o.lr))
      .add("backbone_lr", double(o.backbone_lr))
      .add("weight_decay", double(o.weight_decay))
      .add("schedule", o.schedule)
      .add("freeze", o.freeze)
      .add("frozen_bn", o.frozen_bn)
      .add("augment", o.augment)
      .add("weights", o.weights);
  return j.str();
}

ModelRecord parse_run_config(const std::string& json, const std::string& what) {
  const JsonFlat f = parse_json_flat(json, what);
  ModelRecord r;
  r.model.input_size = std::stoll(f.get("image_size", what));
  r.model.pool = f.get("pool", what) == "avg" ? HeadPool::kAverage : HeadPool::kFlatten;
  r.model.classes = std::stoll(f.get("classes", what));
  r.model.dropout = std::stof(f.get("dropout", what));
  r.model.bn_momentum = std::stof(f.get("bn_momentum", what));
  auto names = f.string_arrays.find("class_names");
  if (names != f.string_arrays.end()) r.class_names = names->second;
  r.dataset = f.get("dataset", what);
  r.synthetic_size = std::stoll(f.get("synthetic_size", what));
  r.seed = std::stoull(f.get("seed", what));
  return r;
}

void check_resume_compatible(const ModelRecord& saved, const ModelRecord& now, const std::string& path) {
  auto differ = [&](const char* flag, const std::string& a, const std::string& b) {
    if (a != b)
      fail("--resume ", path, ": the checkpoint was made with ", flag, " ", a, ", this run has ", b,
           "; resume with the same flags");
  };
  differ("--image-size", std::to_string(saved.model.input_size), std::to_string(now.model.input_size));
  differ("--pool", saved.model.pool == HeadPool::kAverage ? "avg" : "flatten",
         now.model.pool == HeadPool::kAverage ? "avg" : "flatten");
  differ("(number of classes)", std::to_string(saved.model.classes), std::to_string(now.model.classes));
  differ("--dropout", std::to_string(saved.model.dropout), std::to_string(now.model.dropout));
  differ("--bn-momentum", std::to_string(saved.model.bn_momentum), std::to_string(now.model.bn_momentum));
}

}  // namespace tl::app

namespace tl::app {

std::unique_ptr<Classifier> load_classifier(const std::string& checkpoint, ModelRecord& record) {
  // The configuration first (a model of the right shape), then the tensors.
  const h5::H5Handle file = h5::open_file_readonly(checkpoint);
  if (!h5::has_attribute(file, "config"))
    fail(checkpoint, ": not a train_cifar checkpoint (no config attribute)");
  record = parse_run_config(h5::read_string_attribute(file, "config"), checkpoint);
  auto model = std::make_unique<Classifier>(record.model);
  load_checkpoint(checkpoint, *model);
  return model;
}

}  // namespace tl::app
