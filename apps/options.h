// Command-line options of apps/train_cifar: one struct and one flag table
// (apps/flag_table.h), which parses them and writes --help and
// docs/flags.md. Everything else in tl takes plain values; only apps/ parses
// flags (docs/DESIGN.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "apps/flag_table.h"

namespace tl::app {

struct TrainOptions {
  // data
  std::string dataset = "auto";  // auto | cifar10 | folder | synthetic
  std::string data_dir = "data";
  int64_t subset = 0;            // N training images (0: all); CIFAR-10: the first N; image folder: a class-stratified sample
  int64_t test_subset = 0;       // N test images (0: all), chosen the same way
  double val_split = 0.1;        // fraction for validation: CIFAR-10's last part (Keras); folders: stratified
  bool augment = true;           // random flip + pad-4 crop
  int64_t synthetic_size = 6000; // images in the synthetic set (train + test)
  // model
  int64_t image_size = 224;      // at most kMaxImageSize
  std::string pool = "flatten";  // flatten | avg
  std::string weights = "weights-cache/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5";
  bool require_weights = false;
  std::string init_from;         // a whole Keras model (backbone + head): .keras, .weights.h5, .h5
  std::string export_keras;      // write the trained model for Keras here (.keras, .weights.h5, .h5)
  std::string freeze = "none";   // none | backbone | up-to:<stage>
  std::string frozen_bn = "inference";  // inference | train
  std::string feature_cache = "auto";   // auto | on | off (layers/feature_cache.h)
  float dropout = 0.5f;
  float bn_momentum = 0.99f;     // Keras's default
  // optimisation
  int64_t epochs = 10;
  int64_t batch_size = 32;
  std::string optimizer = "sgd";  // sgd | adam | adamw
  float lr = 0.01f;               // head
  float backbone_lr = -1.0f;      // < 0: lr / 10
  float momentum = 0.9f;
  bool nesterov = false;
  float weight_decay = 5e-4f;     // never on BN parameters or biases
  std::string schedule = "cosine";  // constant | step | cosine
  double warmup_epochs = 0.0;
  int64_t step_epochs = 3;        // step schedule: every N epochs ...
  float step_gamma = 0.1f;        // ... multiply by gamma
  // run
  std::string device = "auto";    // auto | cpu | cuda
  std::string precision = "fp32"; // fp32 | tf32 (GPU) | bf16
  bool deterministic = false;     // GPU: only cuDNN algorithms that repeat bit for bit
  std::string cuda_graph = "on";  // on | off: GPU steps replayed as one CUDA graph
  uint64_t seed = 0;
  std::string output_dir = "runs/train_cifar";
  std::string checkpoint_dir;     // default: <output_dir>/checkpoints
  std::string resume;             // "" | "auto" | path of a checkpoint
  bool resume_inexact = false;    // allow --resume with flags or data that differ
  int64_t stop_after_epochs = 0;  // stop this run after N epochs (0: run to --epochs)
  bool quick = false;             // the few-minute CPU demo preset
  // The flags whose value came from --quick rather than from the command
  // line, so that errors can say where a value the user never typed came from.
  std::vector<std::string> quick_defaults;
  bool help = false;
  bool help_markdown = false;
};

// Larger inputs are refused by the parser: at 8192x8192 one ResNet50 training
// image needs hundreds of GiB, and the memory estimates stay far from int64's
// range. (Sizes below it are checked against the memory there is.)
inline constexpr int64_t kMaxImageSize = 8192;

// train_cifar's flags, bound to the fields of `o`; the defaults shown are
// o's values now (a default-constructed TrainOptions for --help).
FlagTable train_flags(TrainOptions& o);

// Parses argv; throws tl::Error naming the flag on anything unknown or
// malformed. --quick rewrites the defaults it names; flags given explicitly
// win wherever they stand on the command line.
TrainOptions parse_train_options(int argc, char** argv);

// True when `flag`'s value was set by --quick, not typed by the user.
bool from_quick(const TrainOptions& o, const std::string& flag);
// " (set by --quick)" for such a flag, "" otherwise: for error messages,
// e.g. fail("--subset ", o.subset, flag_origin(o, "--subset"), ": ...").
std::string flag_origin(const TrainOptions& o, const std::string& flag);

// The command that continues this run exactly: the same arguments without
// any --resume [PATH], then "--resume" (the run's own last checkpoint),
// quoted for a POSIX shell. The arguments are read as the parser reads them,
// so a VALUE spelled "--resume" (--data-dir --resume) stays. For a command
// line that parse_train_options accepts.
std::string resume_command_line(int argc, char** argv);

// "" when `path` ends as a Keras model file does (.keras, .weights.h5, .h5),
// else what is expected: the check of --export-keras and of export's --out.
std::string keras_path_problem(const std::string& path);

// Every app's main: runs `body` and turns any exception into ONE line,
// "<app>: error: <message>", on stderr and exit code 1 (never a crash).
int run_app(const char* app, int (*body)(int, char**), int argc, char** argv);

}  // namespace tl::app
