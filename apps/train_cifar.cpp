// train_cifar: fine-tune an ImageNet-pretrained ResNet50 on CIFAR-10.
// The flags are in apps/options.cpp (--help, docs/flags.md); the loop in apps/trainer.cpp.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "apps/data_setup.h"
#include "apps/device_flag.h"
#include "apps/evaluation.h"
#include "apps/folder_lock.h"
#include "apps/interrupts.h"
#include "apps/memory_estimate.h"
#include "apps/options.h"
#include "apps/run_config.h"
#include "apps/trainer.h"
#include "kernels/gemm.h"
#include "weights/hdf5.h"
#include "weights/keras_model_file.h"
#include "weights/model_weights.h"

#ifdef TL_WITH_CUDA
#include "runtime/cuda/cuda_state.h"
#endif

namespace tl::app {
namespace {
namespace fs = std::filesystem;

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

// Bytes the training step may use, and where they are: free GPU memory on the
// GPU, available RAM (MemAvailable: free plus reclaimable cache) on the CPU.
// -1 when unknown.
std::pair<int64_t, std::string> available_memory(const Context& ctx) {
#ifdef TL_WITH_CUDA
  if (ctx.device() == Device::CUDA) {
    size_t free_bytes = 0, total_bytes = 0;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess)
      return {static_cast<int64_t>(free_bytes), "free GPU memory"};
    return {-1, ""};
  }
#endif
  const int64_t host = available_host_memory();
  return {host, host < 0 ? "" : "available RAM"};
}

// Takes the output folders for this run alone (a second run on them fails at
// once) and clears what a killed run left there.
std::vector<std::unique_ptr<FolderLock>> lock_output_dirs(const TrainOptions& o) {
  std::vector<std::unique_ptr<FolderLock>> locks;
  locks.push_back(std::make_unique<FolderLock>(o.output_dir, "--output-dir"));
  std::error_code ec;
  // One lock per folder: a second flock on the same file from this process
  // would block on the first.
  if (!fs::equivalent(o.output_dir, o.checkpoint_dir, ec))
    locks.push_back(std::make_unique<FolderLock>(o.checkpoint_dir, "--checkpoint-dir"));
  remove_stale_temp_files(o.output_dir, std::cout);
  remove_stale_temp_files(o.checkpoint_dir, std::cout);
  return locks;
}

// The checkpoint to resume from, checked against this run before its tensors
// are read: a different run is refused naming the flags (or, with
// --resume-inexact, accepted and listed). Sets record.weights to what the
// resumed run started from.
std::unique_ptr<LoadedCheckpoint> open_resume(const std::string& path, const TrainOptions& o, const Classifier& model,
                                              ModelRecord& record, const DataIdentity& data, bool& exact) {
  if (!fs::exists(path)) fail("--resume: no checkpoint at ", path);
  const std::string saved_config = read_checkpoint_config(path);
  const std::vector<ResumeDifference> accepted =
      check_resume_compatible(saved_config, run_config_json(o, record, data), path, o.resume_inexact);
  exact = accepted.empty();
  if (!exact) {
    std::string list;
    for (const ResumeDifference& d : accepted) list += (list.empty() ? "" : "; ") + d.str();
    std::cout << "Resuming inexactly (--resume-inexact), with " << list
              << ": this run no longer matches an uninterrupted one" << std::endl;
  }
  const ModelRecord saved = parse_run_config(saved_config, path);
  record.weights = saved.weights;
  record.weights_missing = saved.weights_missing;
  auto loaded = std::make_unique<LoadedCheckpoint>(load_checkpoint(path, model));
  if (!loaded->note.empty()) std::cout << "Note: " << loaded->note << "\n";  // e.g. an older checkpoint format
  return loaded;
}

// The one line an interrupted run ends with: where it stopped, what was saved
// and the command that continues it.
std::string interrupted_line(const TrainResult& r, int argc, char** argv) {
  std::ostringstream os;
  os << "interrupted by " << (r.interrupted_by == SIGTERM ? "SIGTERM" : "SIGINT") << " ";
  if (r.batch > 0) os << "in epoch " << r.epoch + 1 << " after batch " << r.batch << " of " << r.batches_per_epoch;
  else os << "after epoch " << r.epoch;
  os << " (step " << r.step << "); ";
  if (r.last_checkpoint.empty()) {
    os << "nothing saved (this build has no HDF5, so no checkpoints): the run cannot be resumed";
  } else {
    os << "saved " << r.last_checkpoint << ". Continue exactly from there with: " << resume_command_line(argc, argv);
  }
  return os.str();
}

int run(int argc, char** argv) {
  const TrainOptions o = parse_train_options(argc, argv);
  TrainOptions defaults;  // --help shows the defaults, not this command line's values
  if (print_help_if_asked(train_flags(defaults), o.help, o.help_markdown)) return 0;
  const CheckpointPolicy checkpoints = checkpoint_policy(h5::hdf5_available(), o);
  make_writable_dir(o.output_dir, "--output-dir");
  make_writable_dir(o.checkpoint_dir, "--checkpoint-dir");
  const auto locks = lock_output_dirs(o);

  const std::unique_ptr<Context> context = open_context(device_from_flag(o.device), o.seed);
  Context& ctx = *context;
  if (o.precision == "tf32") {
    if (ctx.device() != Device::CUDA) fail("--precision tf32 needs the GPU (--device cuda)");
    ctx.set_allow_tf32(true);  // tensor-core TF32 in cuDNN convolutions and cuBLAS
  }
  ctx.set_deterministic(o.deterministic);  // GPU: deterministic cuDNN algorithms only
  std::cout << "tl train_cifar\n";
  std::cout << "Device: " << device_name(ctx.device());
#ifdef TL_WITH_CUDA
  if (ctx.cuda()) std::cout << ": " << ctx.cuda()->describe();
#endif
  if (ctx.device() == Device::CUDA || o.precision != "fp32") std::cout << ", precision " << o.precision;
  if (ctx.device() == Device::CUDA && o.deterministic) std::cout << ", deterministic cuDNN algorithms";
  std::cout << "\nLibraries: GEMM " << gemm_backend_name() << ", HDF5 " << h5::hdf5_version() << "\n";
  if (!checkpoints.enabled) std::cout << checkpoints.notice << "\n";
  std::cout << std::flush;
  // Before the data (folders are read at --image-size) or the model (with
  // Flatten its head grows with the input) take any memory.
  const auto [available, where] = available_memory(ctx);
  check_memory_fits(minimum_training_bytes(o), available, where, o);

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
  const DataIdentity identity = identify_data(data.train, data.val, data.test);

  Classifier model(record.model);
  if (o.precision == "bf16") model.set_backbone_dtype(DType::BF16);
  std::unique_ptr<LoadedCheckpoint> resume;
  const std::string resume_path = o.resume == "auto" ? o.checkpoint_dir + "/last.h5" : o.resume;
  bool exact_resume = true;
  if (!o.resume.empty()) {
    resume = open_resume(resume_path, o, model, record, identity, exact_resume);
    std::cout << "Weights: from the checkpoint (the run started from "
              << (record.weights == "none" ? std::string("random initialisation") : record.weights) << ")\n";
  } else if (!o.init_from.empty()) {
    // A whole Keras model: its architecture must be this run's.
    const KerasModelFile file = read_keras_model_file(o.init_from);
    const std::vector<std::string> problems = architecture_mismatches(file.architecture, record.model);
    if (!problems.empty()) {
      std::string s;
      for (const std::string& p : problems) s += (s.empty() ? "" : "; ") + p;
      fail("--init-from ", o.init_from, " is another model than this run builds (from its ",
           file.architecture.source, "): ", s, ". Pass the file's --image-size / --pool, or data with its classes");
    }
    const LoadReport report = load_keras_weights(model, file.weights);
    record.weights = o.init_from;
    std::cout << "Weights: whole model from " << report.summary() << "\n";
  } else if (o.weights == "none") {
    if (o.require_weights) fail("--require-weights with --weights none: nothing to load");
    std::cout << "Weights: none (random initialisation, as asked)\n";
  } else if (!fs::exists(o.weights)) {
    if (o.require_weights)
      fail("--weights ", o.weights, ": no such file (--require-weights). Get it with "
           "scripts/get_resnet50_weights.sh");
    record.weights_missing = o.weights;  // metrics.json says what really happened
    std::cout << "Weights: " << o.weights << " not found: starting from random initialisation. "
              << "Get the ImageNet weights with scripts/get_resnet50_weights.sh (or pass --weights none).\n";
  } else {
    const LoadReport report = load_keras_weights(model.backbone(), o.weights);
    record.weights = o.weights;
    std::cout << "Weights: " << report.summary() << "\n";
  }
  const std::string config_json = run_config_json(o, record, identity);
  FreezeSpec freeze;
  try {
    freeze = FreezeSpec::parse(o.freeze);
  } catch (const Error& e) {
    fail("--freeze ", e.what());
  }
  freeze.frozen_bn_inference = o.frozen_bn == "inference";
  model.apply_freeze(freeze);
  model.to(ctx);

  const int64_t states = o.optimizer == "sgd" ? 1 : 2;
  const int64_t estimate = estimate_training_bytes(model, o.batch_size, o.image_size, states);
  std::cout << "Model: ResNet50 + reference head (" << (o.pool == "avg" ? "global average pool" : "flatten")
            << "), input " << o.image_size << "x" << o.image_size << ": " << model.count_trainable()
            << " trainable, " << model.count_frozen() << " frozen parameters, " << model.count_buffers()
            << " BN statistics; freeze " << freeze.str() << "\n";
  std::cout << "Memory: about " << megabytes(estimate) << " for a training step at batch " << o.batch_size
            << " (estimate)";
  // The graph's private pool keeps a step's activations; the eager steps
  // beside it (a smaller last batch, validation) take theirs from the cache.
  if (ctx.device() == Device::CUDA && o.cuda_graph == "on")
    std::cout << "; the CUDA graph of the step holds up to as much again (--cuda-graph off saves it)";
  std::cout << "\n";
  check_memory_fits(double(estimate), available, where, o);  // what was free before data and model
  std::cout << "Training: " << o.epochs << " epochs, batch " << o.batch_size << ", " << o.optimizer
            << " (head lr " << o.lr << ", backbone lr " << o.backbone_lr << "), " << o.schedule
            << " schedule, weight decay " << o.weight_decay << ", augmentation "
            << (o.augment ? "flip + pad-4 crop" : "off") << ", seed " << o.seed << std::endl;

  auto optimizer = make_optimizer(model, o);
  TrainSetup setup;
  setup.config_json = config_json;
  setup.resume = resume.get();
  setup.exact_resume = exact_resume;
  setup.checkpoints = checkpoints.enabled;
  TrainResult result;
  {
    // Ctrl-C and SIGTERM stop at a step boundary with a checkpoint while
    // training; outside it (loading before, the test evaluation after) they
    // end the process as usual, losing nothing that a --resume cannot redo.
    const InterruptHandler interrupts;
    result = train(ctx, model, *optimizer, data, o, setup);
  }
  if (ctx.device() == Device::CUDA && result.graph_replays + result.eager_steps > 0) {
    // How the steps ran (layers/training_step_graph.h): the eager ones are
    // the warm-up, a smaller last batch per epoch, or all after the reason.
    std::cout << "CUDA graph: " << result.graph_captures << " capture(s), " << result.graph_replays
              << " replayed steps, " << result.eager_steps << " eager steps";
    if (!result.graph_off_reason.empty()) std::cout << "; eager because " << result.graph_off_reason;
    std::cout << std::endl;
  }
  if (result.interrupted_by != 0) {
    std::cout << std::flush;
    std::cerr << "train_cifar: " << interrupted_line(result, argc, argv) << std::endl;
    return 130;
  }
  if (result.stopped_early) return 0;

  RunSummary summary = result.summary;
  const Evaluation test = evaluate(ctx, model, data.test, o.batch_size, o.image_size);
  summary.test_loss = test.loss;
  summary.test_accuracy = test.accuracy;
  write_run_outputs(o.output_dir, summary);
  std::cout.precision(4);
  std::cout << "Test: loss " << test.loss << ", accuracy " << 100 * test.accuracy << "% on "
            << test.samples << " images\n";
  const std::string checkpoint = !checkpoints.enabled             ? "none (no HDF5 in this build)"
                                 : !result.last_checkpoint.empty() ? result.last_checkpoint
                                                                   : resume_path;  // all its epochs were done
  std::cout << "Wrote " << o.output_dir << "/metrics.csv, metrics.json, curves.svg; checkpoint " << checkpoint
            << std::endl;
  if (!o.export_keras.empty()) {
    export_keras_model(model, o.export_keras);
    std::cout << "Exported for Keras: " << o.export_keras << " (model.load_weights)" << std::endl;
  }
  return 0;
}

}  // namespace
}  // namespace tl::app

int main(int argc, char** argv) { return tl::app::run_app("train_cifar", tl::app::run, argc, argv); }
