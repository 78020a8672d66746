#include "apps/options.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <iostream>
#include <map>

#include "runtime/check.h"
#include "weights/keras_model_file.h"

namespace tl::app {

int run_app(const char* app, int (*body)(int, char**), int argc, char** argv) {
  try {
    return body(argc, argv);
  } catch (const std::exception& e) {
    std::cout << std::flush;  // what the run printed so far comes first
    std::cerr << app << ": error: " << e.what() << "\n";
    return 1;
  }
}

int64_t parse_int(const std::string& flag, const std::string& value, int64_t min_value) {
  size_t used = 0;
  int64_t v = 0;
  try {
    v = std::stoll(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size()) fail(flag, ": expected an integer, got '", value, "'");
  if (v < min_value) fail(flag, ": must be at least ", min_value, ", got ", v);
  return v;
}

double parse_double(const std::string& flag, const std::string& value) {
  const double v = parse_double_any(flag, value);
  if (!std::isfinite(v) || v < 0) fail(flag, ": expected a finite number >= 0, got '", value, "'");
  return v;
}

double parse_double_any(const std::string& flag, const std::string& value) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != value.size()) fail(flag, ": expected a number, got '", value, "'");
  return v;
}

namespace {

void check_choice(const std::string& flag, const std::string& value,
                  std::initializer_list<const char*> choices) {
  std::string list;
  for (const char* c : choices) {
    if (value == c) return;
    list += (list.empty() ? "" : ", ") + std::string(c);
  }
  fail(flag, ": expected one of ", list, ", got '", value, "'");
}

// The few-minute CPU demo: small images, a small training set, few epochs,
// Adam (fast to converge from scratch), global average pooling. Applied
// before the explicit flags, which therefore win wherever they stand; the
// flags it set are remembered for error messages (flag_origin).
void apply_quick(TrainOptions& o) {
  o.image_size = 32;
  o.pool = "avg";
  o.epochs = 3;
  o.batch_size = 32;
  o.subset = 2000;
  o.test_subset = 1000;
  o.synthetic_size = 3000;
  o.optimizer = "adam";
  o.lr = 1e-3f;
  o.backbone_lr = 1e-3f;
  o.weight_decay = 0.0f;
  o.schedule = "constant";
  o.bn_momentum = 0.9f;  // ~60 steps an epoch: 0.99 would leave the BN statistics near their init
  o.output_dir = "runs/quick";
  o.quick_defaults = {"--image-size", "--pool", "--epochs", "--batch-size", "--subset",
                      "--test-subset", "--synthetic-size", "--optimizer", "--lr", "--backbone-lr",
                      "--weight-decay", "--schedule", "--bn-momentum", "--output-dir"};
}

// Drops --resume and its value (if any) from an argument list, reading it as
// the parser does.
std::vector<std::string> without_resume(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--resume") {
      if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) ++i;  // its PATH
      continue;
    }
    if (args[i].rfind("--resume=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

std::string shell_quote(const std::string& arg) {
  const bool plain = !arg.empty() && arg.find_first_not_of(
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+@%") == std::string::npos;
  if (plain) return arg;
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

}  // namespace

TrainOptions parse_train_options(int argc, char** argv) {
  TrainOptions o;
  using Setter = std::function<void(const std::string&)>;
  const std::map<std::string, Setter> with_value = {
      {"--dataset", [&](const std::string& v) { check_choice("--dataset", v, {"auto", "cifar10", "folder", "synthetic"}); o.dataset = v; }},
      {"--data-dir", [&](const std::string& v) { o.data_dir = v; }},
      {"--subset", [&](const std::string& v) { o.subset = parse_int("--subset", v, 0); }},
      {"--test-subset", [&](const std::string& v) { o.test_subset = parse_int("--test-subset", v, 0); }},
      {"--val-split", [&](const std::string& v) {
         o.val_split = parse_double("--val-split", v);
         if (o.val_split < 0 || o.val_split >= 1) fail("--val-split: must be in [0, 1), got ", v);
       }},
      {"--synthetic-size", [&](const std::string& v) { o.synthetic_size = parse_int("--synthetic-size", v, 20); }},
      {"--image-size", [&](const std::string& v) {
         o.image_size = parse_int("--image-size", v, 32);
         if (o.image_size > kMaxImageSize)
           fail("--image-size: at most ", kMaxImageSize, ", got ", v,
                " (ResNet50 at that size needs far more memory than any machine has)");
       }},
      {"--pool", [&](const std::string& v) { check_choice("--pool", v, {"flatten", "avg"}); o.pool = v; }},
      {"--weights", [&](const std::string& v) { o.weights = v; }},
      {"--init-from", [&](const std::string& v) { o.init_from = v; }},
      {"--export-keras", [&](const std::string& v) {
         if (!is_keras_model_path(v))
           fail("--export-keras ", v, ": the format is chosen by the ending: .keras, .weights.h5 or .h5");
         o.export_keras = v;
       }},
      {"--freeze", [&](const std::string& v) { o.freeze = v; }},
      {"--frozen-bn", [&](const std::string& v) { check_choice("--frozen-bn", v, {"inference", "train"}); o.frozen_bn = v; }},
      {"--dropout", [&](const std::string& v) {
         o.dropout = static_cast<float>(parse_double("--dropout", v));
         if (o.dropout < 0 || o.dropout >= 1) fail("--dropout: must be in [0, 1), got ", v);
       }},
      {"--bn-momentum", [&](const std::string& v) {
         o.bn_momentum = static_cast<float>(parse_double("--bn-momentum", v));
         if (o.bn_momentum < 0 || o.bn_momentum >= 1) fail("--bn-momentum: must be in [0, 1), got ", v);
       }},
      {"--epochs", [&](const std::string& v) { o.epochs = parse_int("--epochs", v, 1); }},
      {"--batch-size", [&](const std::string& v) { o.batch_size = parse_int("--batch-size", v, 2); }},
      {"--optimizer", [&](const std::string& v) { check_choice("--optimizer", v, {"sgd", "adam", "adamw"}); o.optimizer = v; }},
      {"--lr", [&](const std::string& v) { o.lr = static_cast<float>(parse_double("--lr", v)); }},
      {"--backbone-lr", [&](const std::string& v) { o.backbone_lr = static_cast<float>(parse_double("--backbone-lr", v)); }},
      {"--momentum", [&](const std::string& v) { o.momentum = static_cast<float>(parse_double("--momentum", v)); }},
      {"--weight-decay", [&](const std::string& v) { o.weight_decay = static_cast<float>(parse_double("--weight-decay", v)); }},
      {"--schedule", [&](const std::string& v) { check_choice("--schedule", v, {"constant", "step", "cosine"}); o.schedule = v; }},
      {"--warmup-epochs", [&](const std::string& v) { o.warmup_epochs = parse_double("--warmup-epochs", v); }},
      {"--step-epochs", [&](const std::string& v) { o.step_epochs = parse_int("--step-epochs", v, 1); }},
      {"--step-gamma", [&](const std::string& v) { o.step_gamma = static_cast<float>(parse_double("--step-gamma", v)); }},
      {"--device", [&](const std::string& v) { check_choice("--device", v, {"auto", "cpu", "cuda"}); o.device = v; }},
      {"--precision", [&](const std::string& v) { check_choice("--precision", v, {"fp32", "tf32"}); o.precision = v; }},
      {"--seed", [&](const std::string& v) { o.seed = static_cast<uint64_t>(parse_int("--seed", v, 0)); }},
      {"--output-dir", [&](const std::string& v) { o.output_dir = v; }},
      {"--checkpoint-dir", [&](const std::string& v) { o.checkpoint_dir = v; }},
      {"--stop-after-epochs", [&](const std::string& v) { o.stop_after_epochs = parse_int("--stop-after-epochs", v, 0); }},
  };
  const std::map<std::string, std::function<void()>> switches = {
      {"--no-augment", [&] { o.augment = false; }},
      {"--require-weights", [&] { o.require_weights = true; }},
      {"--resume-inexact", [&] { o.resume_inexact = true; }},
      {"--nesterov", [&] { o.nesterov = true; }},
      {"--deterministic", [&] { o.deterministic = true; }},
      {"--quick", [&] { o.quick = true; }},
      {"--help", [&] { o.help = true; }},
      {"-h", [&] { o.help = true; }},
  };
  // Read every flag first, then apply --quick, then the explicit flags in
  // their order: so an explicit flag wins over --quick wherever it stands.
  std::vector<std::pair<std::string, std::function<void()>>> explicit_flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "--resume") {  // optional value: --resume, --resume=PATH, --resume PATH
      if (!has_value && i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) value = argv[++i], has_value = true;
      o.resume = has_value ? value : "auto";
      continue;
    }
    if (auto s = switches.find(arg); s != switches.end()) {
      if (has_value) fail(arg, " takes no value");
      if (arg == "--quick") s->second();
      else explicit_flags.emplace_back(arg, s->second);
      continue;
    }
    auto w = with_value.find(arg);
    if (w == with_value.end()) fail("unknown flag '", arg, "'; run with --help to see the flags");
    if (!has_value) {
      if (i + 1 >= argc) fail(arg, ": missing value");
      value = argv[++i];
    }
    explicit_flags.emplace_back(arg, [setter = w->second, value] { setter(value); });
  }
  if (o.quick) apply_quick(o);
  for (const auto& [flag, apply] : explicit_flags) {
    apply();
    std::erase(o.quick_defaults, flag);  // typed by the user: no longer --quick's
  }
  if (o.resume_inexact && o.resume.empty())
    fail("--resume-inexact: only with --resume (it allows resuming with other flags or data)");
  if (o.checkpoint_dir.empty()) o.checkpoint_dir = o.output_dir + "/checkpoints";
  if (o.backbone_lr < 0) o.backbone_lr = o.lr / 10;
  return o;
}

bool from_quick(const TrainOptions& o, const std::string& flag) {
  return std::find(o.quick_defaults.begin(), o.quick_defaults.end(), flag) != o.quick_defaults.end();
}

std::string flag_origin(const TrainOptions& o, const std::string& flag) {
  return from_quick(o, flag) ? " (set by --quick)" : "";
}

std::string resume_command_line(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string line = shell_quote(argc > 0 ? argv[0] : "train_cifar");
  for (const std::string& a : without_resume(args)) line += " " + shell_quote(a);
  return line + " --resume";
}

std::string train_help_text() {
  return R"(train_cifar: fine-tune an ImageNet-pretrained ResNet50 on CIFAR-10 (or your images).

Defaults are the reference recipe: CIFAR-10 upsampled to 224x224, ResNet50 with
Keras's ImageNet weights, the reference head (Flatten -> 3 x [BN -> Dense ReLU ->
Dropout 0.5] -> Dense 10), 10 epochs of end-to-end fine-tuning.

Data
  --dataset auto|cifar10|folder|synthetic   auto: CIFAR-10 if found under --data-dir,
                                 else the built-in synthetic set (default auto)
  --data-dir DIR                 CIFAR-10 (cifar-10-batches-bin/) or an image folder
                                 root/<class>/*.jpg|png (default data)
  --subset N                     train on N training images (0 = all; more than the set
                                 holds is an error): CIFAR-10's first N; an image folder's
                                 stratified sample (shuffled per class with --seed)
  --test-subset N                evaluate on N test images, chosen the same way (0 = all;
                                 more than the set holds is an error)
  --val-split F                  fraction F of the training set for validation (0.1).
                                 CIFAR-10 keeps Keras's validation_split: the last F of the
                                 official order. An image folder is shuffled with --seed and
                                 split per class, so every class is in training and
                                 validation in proportion
  --no-augment                   no random flip / pad-4 crop
  --synthetic-size N             images in the synthetic set (6000)
Model
  --image-size S                 input resolution; CIFAR is upsampled bilinearly (224);
                                 refused when the estimated memory exceeds what is free
  --pool flatten|avg             head input: Flatten (reference) or global average pool
  --weights FILE                 Keras ResNet50 weights .h5 (default
                                 weights-cache/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5;
                                 scripts/get_resnet50_weights.sh fetches it); 'none' = random init
  --require-weights              refuse to start from random initialisation
  --init-from FILE               start from a whole Keras model, backbone + head (.keras,
                                 .weights.h5 or .h5 from Keras 3 / tf_keras, or a tl export);
                                 its input size, pooling and classes must match the flags
                                 and the data (checked; replaces --weights)
  --export-keras PATH            at the end, write the model for Keras: .keras, .weights.h5
                                 (Keras 3) or .h5 (legacy; Keras 3 and tf_keras); load it
                                 with model.load_weights(PATH) (docs/keras_weights.md)
  --freeze none|backbone|up-to:<stage>   freeze nothing, the backbone, or the stem and
                                 stages up to conv<stage> (1..5) (none)
  --frozen-bn inference|train    BN mode of frozen parts (inference, as Keras)
  --dropout F                    head dropout rate (0.5)
  --bn-momentum F                BN moving-average momentum, Keras convention (0.99)
Optimisation
  --epochs N (10)   --batch-size N (32)
  --optimizer sgd|adam|adamw     (sgd, momentum 0.9)
  --lr F                         head learning rate (0.01)
  --backbone-lr F                backbone learning rate (default lr/10)
  --momentum F (0.9)  --nesterov
  --weight-decay F               L2 / decoupled decay, never on BN parameters or biases (5e-4)
  --schedule constant|step|cosine  (cosine)   --warmup-epochs F (0)
  --step-epochs N (3)  --step-gamma F (0.1)   for --schedule step
Run
  --device auto|cpu|cuda         (auto: cuda when a GPU is usable)
  --precision fp32|tf32          tensor-core TF32 on the GPU (fp32)
  --deterministic                GPU: only cuDNN algorithms that repeat bit for bit, so two
                                 runs with one --seed agree exactly (may be slower; the CPU
                                 always is)
  --seed N                       initialisation, shuffling, augmentation, dropout (0)
  --output-dir DIR               metrics.csv, metrics.json, curves.svg (runs/train_cifar);
                                 one run at a time per folder (it holds DIR/.lock)
  --checkpoint-dir DIR           a checkpoint after every epoch (<output-dir>/checkpoints);
                                 Ctrl-C or SIGTERM saves one at the current step and exits
                                 with status 130 (press Ctrl-C twice to quit at once)
  --resume [PATH]                continue from PATH or <checkpoint-dir>/last.h5, exactly
                                 where it stopped, even mid-epoch after Ctrl-C. Flags or
                                 data that change the result (batch size, seed, subset,
                                 split, augmentation, schedule, ...) are refused, naming them
  --resume-inexact               with --resume: accept such differences anyway (the run
                                 then no longer continues bit for bit)
  --stop-after-epochs N          end this run after N epochs; the schedule still spans
                                 --epochs (continue later with --resume)
  --quick                        few-minute CPU demo: 32x32, avg pool, 3 epochs, 2000
                                 training images, Adam 1e-3, BN momentum 0.9, output in
                                 runs/quick (flags you give explicitly win, before or after it)
  --help
)";
}

}  // namespace tl::app
