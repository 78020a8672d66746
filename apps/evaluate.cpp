// evaluate: test loss and accuracy, per-class accuracy and the confusion
// matrix of a train_cifar checkpoint.
#include <iostream>

#include "apps/data_setup.h"
#include "apps/device_flag.h"
#include "apps/evaluation.h"
#include "apps/flag_table.h"
#include "apps/json.h"
#include "apps/metrics.h"
#include "apps/run_config.h"
#include "data/dataset.h"

namespace tl::app {
namespace {

struct EvaluateOptions {
  std::string checkpoint;   // --checkpoint or --model
  int64_t image_size = 0;   // a Keras model's input size where its file does not say it (0: 224)
  std::string dataset;      // "": the kind the checkpoint was trained on
  std::string data_dir = "data";
  int64_t test_subset = 0;
  int64_t batch_size = 64;
  std::string device = "cpu";
  std::string json;
  bool help = false;
  bool help_markdown = false;
};

FlagTable evaluate_flags(EvaluateOptions& o) {
  FlagTable t("evaluate", "test a train_cifar checkpoint or a Keras model.");
  t.usage("(--checkpoint FILE | --model FILE) [FLAGS]");
  t.about(
      "Prints the test loss and accuracy, the accuracy of each class and the confusion matrix, on "
      "the test set exactly as train_cifar built it from the same data.");
  t.add(text_flag("--checkpoint", o.checkpoint, "FILE",
                  "a checkpoint written by train_cifar (e.g. "
                  "runs/train_cifar/checkpoints/last.h5); this or --model is required"));
  t.add(text_flag("--model", o.checkpoint, "FILE",
                  "a whole Keras model, ResNet50 + the reference head: .keras, .weights.h5 or .h5 "
                  "(Keras 3, tf_keras, or a tl export); same as --checkpoint"));
  t.add(int_flag("--image-size", o.image_size, {.min = 32, .max = kMaxImageSize},
                 "the Keras model's input size where its file does not say it (.h5 / .weights.h5 "
                 "with average pooling)")
            .shows_default("224"));
  t.add(choice_flag("--dataset", o.dataset, {"cifar10", "cifar10-sample", "folder", "synthetic"},
                    "the kind of data to test on")
            .shows_default("the kind the checkpoint was trained on (synthetic, cifar10-sample), "
                           "else cifar10"));
  t.add(text_flag("--data-dir", o.data_dir, "DIR",
                  "CIFAR-10 (cifar-10-batches-bin/) or an image folder, laid out as for "
                  "train_cifar: DIR/test/<class>/..., or one DIR/<class>/... tree whose held-out "
                  "tenth is rebuilt from the run's seed"));
  t.add(int_flag("--test-subset", o.test_subset, {.min = 0},
                 "the first N test images only (0: all), in train_cifar's order (image folders are "
                 "shuffled with the run's seed, stratified by class); more than the test set holds "
                 "is an error"));
  t.add(int_flag("--batch-size", o.batch_size, {.min = 1}, "images per forward pass"));
  t.add(choice_flag("--device", o.device, {"cpu", "cuda", "auto"},
                    "auto: cuda when a GPU is usable"));
  t.add(text_flag("--json", o.json, "FILE", "also write the results as JSON"));
  t.add_help_flags(o.help, o.help_markdown);
  return t;
}

int run(int argc, char** argv) {
  EvaluateOptions opts;
  if (parse_or_print_help(evaluate_flags(opts), argc, argv, opts.help, opts.help_markdown)) return 0;
  if (opts.checkpoint.empty()) fail("--checkpoint FILE (or --model FILE) is required (see --help)");
  const std::string& checkpoint = opts.checkpoint;

  ModelRecord record;
  auto model = load_classifier(checkpoint, record, opts.image_size);
  check_class_names_fit_head(record, checkpoint);
  const std::unique_ptr<Context> context = open_context(device_from_flag(opts.device));
  Context& ctx = *context;
  model->to(ctx);

  // The test set exactly as train_cifar built it from the same data: the
  // same order (image folders are shuffled with the run's seed) and the same
  // --test-subset. Nothing of the training set is described.
  TrainOptions o;
  o.dataset = opts.dataset;
  const bool synthetic = record.dataset.rfind("synthetic", 0) == 0;
  const bool sample = record.dataset.find("cifar10-sample") != std::string::npos;
  if (o.dataset.empty()) o.dataset = synthetic ? "synthetic" : sample ? "cifar10-sample" : "cifar10";
  o.data_dir = opts.data_dir;
  o.image_size = record.model.input_size;
  o.seed = record.seed;
  o.synthetic_size = record.synthetic_size;
  o.test_subset = opts.test_subset;
  const ImageSet test = load_test_set(o, std::cout);
  // The outputs mean the checkpoint's classes, in its order: scoring them
  // against other labels would print a meaningless accuracy.
  const std::string differences = class_list_differences(record.class_names, test.class_names, test.source);
  if (!differences.empty())
    fail("--checkpoint ", checkpoint, " was trained on other classes than ", test.source, " holds: ", differences,
         ". Evaluate it on data with the classes it was trained on (--dataset, --data-dir)");

  const Evaluation e = evaluate(ctx, *model, test, opts.batch_size, record.model.input_size);
  std::cout.precision(4);
  std::cout << "Checkpoint " << checkpoint << " on " << test.source << " (" << e.samples << " images)\n"
            << "Test loss " << e.loss << ", accuracy " << 100 * e.accuracy << "%\n\n"
            << format_confusion(e, record.class_names);
  if (!opts.json.empty()) {
    JsonObject j;
    j.add("checkpoint", checkpoint).add("samples", e.samples).add("loss", e.loss).add("accuracy", e.accuracy);
    std::string rows = "[";
    for (size_t r = 0; r < e.confusion.size(); ++r) {
      rows += r ? ", [" : "[";
      for (size_t c = 0; c < e.confusion[r].size(); ++c) rows += (c ? ", " : "") + std::to_string(e.confusion[r][c]);
      rows += "]";
    }
    j.add("class_names", record.class_names).add_raw("confusion", rows + "]");
    write_file_atomically(opts.json, j.str() + "\n");
  }
  return 0;
}

}  // namespace
}  // namespace tl::app

int main(int argc, char** argv) { return tl::app::run_app("evaluate", tl::app::run, argc, argv); }
