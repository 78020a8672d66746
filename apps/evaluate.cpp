// evaluate: test loss and accuracy, per-class accuracy and the confusion
// matrix of a train_cifar checkpoint.
#include <iostream>

#include "apps/data_setup.h"
#include "apps/device_flag.h"
#include "apps/evaluation.h"
#include "apps/json.h"
#include "apps/metrics.h"
#include "apps/run_config.h"
#include "data/dataset.h"

namespace tl::app {
namespace {

const char* kHelp = R"(evaluate: test a train_cifar checkpoint or a Keras model.

  evaluate --checkpoint FILE | --model KERAS_FILE [--image-size S] [--data-dir DIR] [--dataset cifar10|folder|synthetic]
           [--test-subset N] [--batch-size N] [--device cpu|cuda] [--json FILE]

  --checkpoint FILE   a checkpoint written by train_cifar (e.g. runs/train_cifar/checkpoints/last.h5)
  --model FILE        a whole Keras model, ResNet50 + the reference head: .keras, .weights.h5
                      or .h5 (Keras 3, tf_keras, or a tl export); same as --checkpoint
  --image-size S      the Keras model's input size where its file does not say it
                      (.h5 / .weights.h5 with average pooling; else 224)
  --dataset D         default: the kind the checkpoint was trained on (cifar10 if its
                      source was a CIFAR-10 folder, synthetic for the synthetic set)
  --data-dir DIR      CIFAR-10 (cifar-10-batches-bin/) or an image folder, laid out as for
                      train_cifar: DIR/test/<class>/..., or one DIR/<class>/... tree whose
                      held-out tenth is rebuilt from the run's seed (default data)
  --test-subset N     the first N test images only (in train_cifar's order: image
                      folders are shuffled with the run's seed, stratified by class);
                      more than the test set holds is an error
  --batch-size N      (64)
  --device cpu|cuda   (cpu)
  --json FILE         also write the results as JSON
)";

int run(int argc, char** argv) {
  std::string checkpoint, data_dir = "data", dataset, device = "cpu", json_path;
  int64_t keras_image_size = 0;
  int64_t batch = 64, test_subset = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(a, ": missing value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") return std::cout << kHelp, 0;
    else if (a == "--checkpoint" || a == "--model") checkpoint = value();
    else if (a == "--image-size") keras_image_size = parse_int(a, value(), 32);
    else if (a == "--data-dir") data_dir = value();
    else if (a == "--dataset") dataset = value();
    else if (a == "--device") device = value();
    else if (a == "--json") json_path = value();
    else if (a == "--batch-size") batch = parse_int(a, value(), 1);
    else if (a == "--test-subset") test_subset = parse_int(a, value(), 0);
    else fail("unknown flag '", a, "'; run with --help to see the flags");
  }
  if (checkpoint.empty()) fail("--checkpoint FILE (or --model FILE) is required (see --help)");
  device_from_flag(device);  // checks the value before the model is read

  ModelRecord record;
  auto model = load_classifier(checkpoint, record, keras_image_size);
  check_class_names_fit_head(record, checkpoint);
  const std::unique_ptr<Context> context = open_context(device_from_flag(device));
  Context& ctx = *context;
  model->to(ctx);

  // The test set exactly as train_cifar built it from the same data: the
  // same order (image folders are shuffled with the run's seed) and the same
  // --test-subset. Nothing of the training set is described.
  if (dataset.empty()) dataset = record.dataset.rfind("synthetic", 0) == 0 ? "synthetic" : "cifar10";
  if (dataset != "cifar10" && dataset != "folder" && dataset != "synthetic")
    fail("--dataset: expected cifar10, folder or synthetic, got '", dataset, "'");
  TrainOptions o;
  o.dataset = dataset;
  o.data_dir = data_dir;
  o.image_size = record.model.input_size;
  o.seed = record.seed;
  o.synthetic_size = record.synthetic_size;
  o.test_subset = test_subset;
  const ImageSet test = load_test_set(o, std::cout);
  // The outputs mean the checkpoint's classes, in its order: scoring them
  // against other labels would print a meaningless accuracy.
  const std::string differences = class_list_differences(record.class_names, test.class_names, test.source);
  if (!differences.empty())
    fail("--checkpoint ", checkpoint, " was trained on other classes than ", test.source, " holds: ", differences,
         ". Evaluate it on data with the classes it was trained on (--dataset, --data-dir)");

  const Evaluation e = evaluate(ctx, *model, test, batch, record.model.input_size);
  std::cout.precision(4);
  std::cout << "Checkpoint " << checkpoint << " on " << test.source << " (" << e.samples << " images)\n"
            << "Test loss " << e.loss << ", accuracy " << 100 * e.accuracy << "%\n\n"
            << format_confusion(e, record.class_names);
  if (!json_path.empty()) {
    JsonObject j;
    j.add("checkpoint", checkpoint).add("samples", e.samples).add("loss", e.loss).add("accuracy", e.accuracy);
    std::string rows = "[";
    for (size_t r = 0; r < e.confusion.size(); ++r) {
      rows += r ? ", [" : "[";
      for (size_t c = 0; c < e.confusion[r].size(); ++c) rows += (c ? ", " : "") + std::to_string(e.confusion[r][c]);
      rows += "]";
    }
    j.add("class_names", record.class_names).add_raw("confusion", rows + "]");
    write_file_atomically(json_path, j.str() + "\n");
  }
  return 0;
}

}  // namespace
}  // namespace tl::app

int main(int argc, char** argv) { return tl::app::run_app("evaluate", tl::app::run, argc, argv); }
