// train_cifar: fine-tune an ImageNet-pretrained ResNet50 on CIFAR-10.
// The flags are in apps/options.cpp (--help); the loop in apps/trainer.cpp.
#include <filesystem>
#include <iostream>
#include <sstream>

#include "apps/data_setup.h"
#include "apps/evaluation.h"
#include "apps/options.h"
#include "apps/run_config.h"
#include "apps/trainer.h"
#include "kernels/gemm.h"
#include "weights/hdf5.h"
#include "weights/model_weights.h"

#ifdef TL_WITH_CUDA
#include "engine/cuda/cuda_state.h"
#endif

namespace tl::app {
namespace {
namespace fs = std::filesystem;

Device choose_device(const std::string& flag) {
  if (flag == "cpu") return Device::CPU;
  if (flag == "cuda") return Device::CUDA;  // Context says why when it cannot
#ifdef TL_WITH_CUDA
  if (cuda::device_count() > 0) return Device::CUDA;
#endif
  return Device::CPU;
}

void make_writable_dir(const std::string& dir, const char* flag) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec || !fs::is_directory(dir)) fail(flag, " ", dir, ": cannot create it (", ec.message(), ")");
  const fs::path probe = fs::path(dir) / ".tl-write-test";
  FILE* f = std::fopen(probe.c_str(), "w");
  if (!f) fail(flag, " ", dir, ": the directory is not writable");
  std::fclose(f);
  fs::remove(probe, ec);
}

std::string megabytes(int64_t bytes) {
  std::ostringstream os;
  os.precision(1);
  os << std::fixed << double(bytes) / (1 << 20) << " MiB";
  return os.str();
}

int run(int argc, char** argv) {
  const TrainOptions o = parse_train_options(argc, argv);
  if (o.help) {
    std::cout << train_help_text();
    return 0;
  }
  make_writable_dir(o.output_dir, "--output-dir");
  make_writable_dir(o.checkpoint_dir, "--checkpoint-dir");

  Context ctx(choose_device(o.device), o.seed);
  if (o.precision == "tf32") {
    if (ctx.device() != Device::CUDA) fail("--precision tf32 needs the GPU (--device cuda)");
    ctx.set_allow_tf32(true);  // tensor-core TF32 in cuDNN convolutions and cuBLAS
  }
  std::cout << "tl train_cifar\n";
  std::cout << "Device: " << device_name(ctx.device());
#ifdef TL_WITH_CUDA
  if (ctx.cuda()) std::cout << ": " << ctx.cuda()->describe();
#endif
  std::cout << (ctx.device() == Device::CUDA ? std::string(", precision ") + o.precision : std::string());
  std::cout << "\nLibraries: GEMM " << gemm_backend_name() << ", HDF5 " << h5::hdf5_version() << "\n";

  const DataSplits data = load_data(o, std::cout);
  ModelRecord record;
  record.model.input_size = o.image_size;
  record.model.pool = o.pool == "avg" ? HeadPool::kAverage : HeadPool::kFlatten;
  record.model.classes = static_cast<int64_t>(data.train.class_names.size());
  record.model.dropout = o.dropout;
  record.model.bn_momentum = o.bn_momentum;
  record.model.seed = o.seed;
  record.class_names = data.train.class_names;
  record.dataset = data.train.source;
  const std::string config_json = run_config_json(o, record);

  Classifier model(record.model);
  if (o.weights == "none") {
    if (o.require_weights) fail("--require-weights with --weights none: nothing to load");
    std::cout << "Weights: none (random initialisation, as asked)\n";
  } else if (!fs::exists(o.weights)) {
    if (o.require_weights)
      fail("--weights ", o.weights, ": no such file (--require-weights). Get it with "
           "scripts/get_resnet50_weights.sh");
    std::cout << "Weights: " << o.weights << " not found: starting from random initialisation. "
              << "Get the ImageNet weights with scripts/get_resnet50_weights.sh (or pass --weights none).\n";
  } else {
    const LoadReport report = load_keras_weights(model.backbone(), o.weights);
    std::cout << "Weights: " << report.summary() << "\n";
  }
  FreezeSpec freeze = FreezeSpec::parse(o.freeze);
  freeze.frozen_bn_inference = o.frozen_bn == "inference";
  model.apply_freeze(freeze);

  std::unique_ptr<LoadedCheckpoint> resume;
  std::string resume_path;
  if (!o.resume.empty()) {
    resume_path = o.resume == "auto" ? o.checkpoint_dir + "/last.h5" : o.resume;
    if (!fs::exists(resume_path)) fail("--resume: no checkpoint at ", resume_path);
    resume = std::make_unique<LoadedCheckpoint>(load_checkpoint(resume_path, model));
    check_resume_compatible(parse_run_config(resume->progress.config_json, resume_path), record, resume_path);
  }
  model.to(ctx);

  const int64_t states = o.optimizer == "sgd" ? 1 : 2;
  std::cout << "Model: ResNet50 + reference head (" << (o.pool == "avg" ? "global average pool" : "flatten")
            << "), input " << o.image_size << "x" << o.image_size << ": " << model.count_trainable()
            << " trainable, " << model.count_frozen() << " frozen parameters, " << model.count_buffers()
            << " BN statistics; freeze " << freeze.str() << "\n";
  std::cout << "Memory: about " << megabytes(estimate_training_bytes(model, o.batch_size, o.image_size, states))
            << " for a training step at batch " << o.batch_size << " (estimate)\n";
  std::cout << "Training: " << o.epochs << " epochs, batch " << o.batch_size << ", " << o.optimizer
            << " (head lr " << o.lr << ", backbone lr " << o.backbone_lr << "), " << o.schedule
            << " schedule, weight decay " << o.weight_decay << ", augmentation "
            << (o.augment ? "flip + pad-4 crop" : "off") << ", seed " << o.seed << "\n";

  auto optimizer = make_optimizer(model, o);
  const TrainResult result = train(ctx, model, *optimizer, data, o, config_json, resume.get());
  if (result.stopped_early) return 0;

  RunSummary summary = result.summary;
  const Evaluation test = evaluate(ctx, model, data.test, o.batch_size, o.image_size);
  summary.test_loss = test.loss;
  summary.test_accuracy = test.accuracy;
  write_run_outputs(o.output_dir, summary);
  std::cout.precision(4);
  std::cout << "Test: loss " << test.loss << ", accuracy " << 100 * test.accuracy << "% on "
            << test.samples << " images\n";
  std::cout << "Wrote " << o.output_dir << "/metrics.csv, metrics.json, curves.svg; checkpoint "
            << result.last_checkpoint << "\n";
  return 0;
}

}  // namespace
}  // namespace tl::app

int main(int argc, char** argv) { return tl::app::run_app("train_cifar", tl::app::run, argc, argv); }
