#include "apps/options.h"

#include <algorithm>
#include <iostream>

#include "layers/classifier.h"
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

namespace {

// The few-minute CPU demo: small images, a small training set, few epochs,
// Adam (fast to converge from scratch), global average pooling. Applied
// before the explicit flags, which therefore win wherever they stand; the
// flags it set are remembered for error messages (flag_origin).
void apply_quick(TrainOptions& o) {
  o.image_size = 32;
  o.pool = "avg";
  o.epochs = 10;       // on the shipped 1,800 real training images: ~33% test accuracy (3 gave ~17%)
  o.dropout = 0.2f;    // 0.5 three times over starves so short a run from scratch (19% after 10)
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
  o.quick_defaults = {"--image-size", "--pool", "--epochs", "--dropout", "--batch-size", "--subset",
                      "--test-subset", "--synthetic-size", "--optimizer", "--lr", "--backbone-lr",
                      "--weight-decay", "--schedule", "--bn-momentum", "--output-dir"};
}

std::string shell_quote(const std::string& arg) {
  const bool plain = !arg.empty() && arg.find_first_not_of(
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=.,/:+@%") == std::string::npos;
  if (plain) return arg;
  std::string quoted = "'";
  for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// What --freeze accepts is what FreezeSpec::parse reads: checked here, so a
// typo fails at once rather than after the data and the model are loaded.
std::string freeze_problem(const std::string& value) {
  try {
    FreezeSpec::parse(value);
    return "";
  } catch (const Error&) {
    return "expected none, backbone or up-to:<stage> (stage 1..5 or conv1..conv5)";
  }
}

}  // namespace

std::string keras_path_problem(const std::string& path) {
  if (is_keras_model_path(path)) return "";
  return "expected a path ending in .keras, .weights.h5 or .h5 (the ending chooses the format)";
}

FlagTable train_flags(TrainOptions& o) {
  FlagTable t("train_cifar",
              "fine-tune an ImageNet-pretrained ResNet50 on CIFAR-10 (or your images).");
  t.about("Defaults are the reference recipe: CIFAR-10 upsampled to 224x224, ResNet50 with Keras's "
          "ImageNet weights, the reference head (Flatten -> 3 x [BN -> Dense ReLU -> Dropout 0.5] "
          "-> Dense 10), 10 epochs of end-to-end fine-tuning.");
  t.section("Data");
  t.add(choice_flag("--dataset", o.dataset, {"auto", "cifar10", "cifar10-sample", "folder", "synthetic"},
                    "auto: CIFAR-10 if found under --data-dir, else cifar10-sample: the 2,000 training "
                    "and 1,000 test images of real CIFAR-10 that ship with tl (datasets/cifar10-sample)"));
  t.add(text_flag("--data-dir", o.data_dir, "DIR",
                  "CIFAR-10 (DIR/cifar-10-batches-bin/) or an image folder (DIR/<class>/*.jpg|png, "
                  "or DIR/train/<class>/... and DIR/test/<class>/...)"));
  t.add(int_flag("--subset", o.subset, {.min = 0},
                 "train on N training images (0: all; more than the set holds is an error): "
                 "CIFAR-10's first N, an image folder's class-stratified sample (shuffled per "
                 "class with --seed)"));
  t.add(int_flag("--test-subset", o.test_subset, {.min = 0},
                 "evaluate on N test images, chosen the same way (0: all; more than the set holds "
                 "is an error)"));
  t.add(number_flag("--val-split", o.val_split, {.below = 1},
                    "fraction of the training set held out for validation: CIFAR-10's last F in "
                    "the official order (Keras's validation_split); an image folder is shuffled "
                    "with --seed and split per class, so every class is in training and validation "
                    "in proportion"));
  t.add(switch_flag("--no-augment", o.augment, "no random flip / pad-4 crop", false));
  t.add(int_flag("--synthetic-size", o.synthetic_size, {.min = 20},
                 "images in the synthetic set (training + test)"));
  t.section("Model");
  t.add(int_flag("--image-size", o.image_size, {.min = 32, .max = kMaxImageSize},
                 "input resolution (CIFAR is upsampled bilinearly); refused when the estimated "
                 "memory exceeds what is free"));
  t.add(choice_flag("--pool", o.pool, {"flatten", "avg"},
                    "head input: Flatten (the reference) or global average pooling"));
  t.add(text_flag("--weights", o.weights, "FILE",
                  "Keras ResNet50 ImageNet weights, .h5 (scripts/get_resnet50_weights.sh fetches "
                  "them); none: random initialisation"));
  t.add(switch_flag("--require-weights", o.require_weights,
                    "refuse to start from random initialisation"));
  t.add(text_flag("--init-from", o.init_from, "FILE",
                  "start from a whole Keras model, backbone + head (.keras, .weights.h5 or .h5 "
                  "from Keras 3 / tf_keras, or a tl export); its input size, pooling and classes "
                  "must match the flags and the data (checked; replaces --weights)"));
  t.add(text_flag("--export-keras", o.export_keras, "PATH",
                  "at the end, write the model for Keras: .keras, .weights.h5 (Keras 3) or .h5 "
                  "(legacy; Keras 3 and tf_keras); load it with model.load_weights(PATH) "
                  "(docs/keras_weights.md)",
                  keras_path_problem));
  t.add(text_flag("--freeze", o.freeze, "none|backbone|up-to:<stage>",
                  "freeze nothing, the backbone, or the stem and stages up to conv<stage> (1..5)",
                  freeze_problem));
  t.add(choice_flag("--frozen-bn", o.frozen_bn, {"inference", "train"},
                    "BN mode of the frozen parts (inference, as Keras)"));
  t.add(choice_flag("--feature-cache", o.feature_cache, {"auto", "on", "off"},
                    "with the backbone frozen in inference mode and --no-augment, compute its "
                    "outputs once and train the head on them (the same run, up to the last bits "
                    "of the backbone's rounding); auto: when they fit in half the available RAM; "
                    "on: or fail saying why"));
  t.add(number_flag("--dropout", o.dropout, {.below = 1}, "head dropout rate"));
  t.add(number_flag("--bn-momentum", o.bn_momentum, {.below = 1},
                    "BN moving-average momentum, Keras's convention"));
  t.section("Optimisation");
  t.add(int_flag("--epochs", o.epochs, {.min = 1}, "epochs to train"));
  t.add(int_flag("--batch-size", o.batch_size, {.min = 2}, "images per step"));
  t.add(choice_flag("--optimizer", o.optimizer, {"sgd", "adam", "adamw"}, "the optimiser"));
  t.add(number_flag("--lr", o.lr, {}, "learning rate of the head"));
  t.add(number_flag("--backbone-lr", o.backbone_lr, {}, "learning rate of the backbone")
            .shows_default("lr / 10"));
  t.add(number_flag("--momentum", o.momentum, {}, "SGD momentum"));
  t.add(switch_flag("--nesterov", o.nesterov, "Nesterov momentum (SGD)"));
  t.add(number_flag("--weight-decay", o.weight_decay, {},
                    "L2 / decoupled (adamw) weight decay, never on BN parameters or biases"));
  t.add(choice_flag("--schedule", o.schedule, {"constant", "step", "cosine"},
                    "learning-rate schedule"));
  t.add(number_flag("--warmup-epochs", o.warmup_epochs, {},
                    "ramp the learning rate up linearly over the first F epochs"));
  t.add(int_flag("--step-epochs", o.step_epochs, {.min = 1},
                 "--schedule step: multiply the learning rate by --step-gamma every N epochs"));
  t.add(number_flag("--step-gamma", o.step_gamma, {}, "--schedule step: the factor"));
  t.section("Run");
  t.add(choice_flag("--device", o.device, {"auto", "cpu", "cuda"},
                    "auto: cuda when a GPU is usable"));
  t.add(choice_flag("--precision", o.precision, {"fp32", "tf32", "bf16"},
                    "tf32: tensor-core TF32 on the GPU; bf16: the backbone's activations in "
                    "bfloat16, float32 weights and head (on the CPU, the slow reference of that "
                    "arithmetic)"));
  t.add(switch_flag("--deterministic", o.deterministic,
                    "GPU: only cuDNN algorithms that repeat bit for bit, so two runs with one "
                    "--seed agree exactly (may be slower; the CPU always is)"));
  t.add(choice_flag("--cuda-graph", o.cuda_graph, {"on", "off"},
                    "GPU: capture the training step into a CUDA graph once and replay it for "
                    "every batch (the same results, bit for bit, with one launch a step); off: "
                    "launch every kernel of every step"));
  t.add(int_flag("--seed", o.seed, {.min = 0}, "initialisation, shuffling, augmentation, dropout"));
  t.add(text_flag("--output-dir", o.output_dir, "DIR",
                  "metrics.csv, metrics.json, curves.svg; one run at a time per folder (it holds "
                  "DIR/.lock)"));
  t.add(text_flag("--checkpoint-dir", o.checkpoint_dir, "DIR",
                  "a checkpoint after every epoch; Ctrl-C or SIGTERM saves one at the current step "
                  "and exits with status 130 (press Ctrl-C twice to quit at once)")
            .shows_default("<output-dir>/checkpoints"));
  t.add(optional_value_flag("--resume", o.resume, "PATH", "auto",
                            "continue from PATH or <checkpoint-dir>/last.h5, exactly where it "
                            "stopped, even mid-epoch after Ctrl-C; flags or data that change the "
                            "result (batch size, seed, subset, split, augmentation, schedule, ...) "
                            "are refused, naming them"));
  t.add(switch_flag("--resume-inexact", o.resume_inexact,
                    "with --resume: accept such differences anyway (the run then no longer "
                    "continues bit for bit)"));
  t.add(int_flag("--stop-after-epochs", o.stop_after_epochs, {.min = 0},
                 "end this run after N epochs (0: run to --epochs); the schedule still spans "
                 "--epochs (continue later with --resume)"));
  t.add(switch_flag("--quick", o.quick,
                    "few-minute CPU demo: 32x32, avg pool, 10 epochs, 2000 training images, "
                    "dropout 0.2, Adam 1e-3, BN momentum 0.9, output in runs/quick (flags you give "
                    "explicitly win, before or after it)"));
  t.add_help_flags(o.help, o.help_markdown);
  return t;
}

TrainOptions parse_train_options(int argc, char** argv) {
  TrainOptions o;
  const FlagTable flags = train_flags(o);
  const std::vector<FlagUse> uses = flags.scan(argc, argv);
  // --quick first, then the explicit flags in their order: so an explicit
  // flag wins over --quick wherever it stands.
  auto is_quick = [](const FlagUse& use) { return use.flag->name == "--quick"; };
  if (std::any_of(uses.begin(), uses.end(), is_quick)) apply_quick(o);
  for (const FlagUse& use : uses) {
    use.flag->store(use.value);
    std::erase(o.quick_defaults, use.flag->name);  // typed by the user: no longer --quick's
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
  TrainOptions unused;
  const FlagTable flags = train_flags(unused);
  std::string line = shell_quote(argc > 0 ? argv[0] : "train_cifar");
  // The words as the parser reads them: a --resume (with its PATH) is a flag
  // only where the parser reads one, never where it is another flag's value.
  for (const FlagUse& use : flags.scan(argc, argv)) {
    if (use.flag->name == "--resume") continue;
    for (int i = use.first_arg; i <= use.last_arg; ++i)
      line.append(" ").append(shell_quote(argv[i]));
  }
  return line.append(" --resume");
}

}  // namespace tl::app
