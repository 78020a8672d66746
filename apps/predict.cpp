// predict: classify image files with a train_cifar checkpoint; prints the
// top-k classes with their probabilities.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <numeric>

#include "apps/device_flag.h"
#include "apps/evaluation.h"
#include "apps/flag_table.h"
#include "apps/options.h"
#include "apps/run_config.h"
#include "data/image_folder.h"
#include "engine/ops.h"

namespace tl::app {
namespace {

struct PredictOptions {
  std::string checkpoint;   // --checkpoint or --model
  int64_t image_size = 0;   // a Keras model's input size where its file does not say it (0: 224)
  int64_t top_k = 3;
  std::string device = "cpu";
  std::vector<std::string> images;
  bool help = false;
  bool help_markdown = false;
};

FlagTable predict_flags(PredictOptions& o) {
  FlagTable t("predict", "classify images with a train_cifar checkpoint or a Keras model.");
  t.usage("(--checkpoint FILE | --model FILE) [FLAGS] IMAGE...");
  t.add(text_flag("--checkpoint", o.checkpoint, "FILE",
                  "a checkpoint written by train_cifar; this or --model is required"));
  t.add(text_flag("--model", o.checkpoint, "FILE",
                  "a whole Keras model, ResNet50 + the reference head: .keras, .weights.h5 or .h5 "
                  "(Keras 3, tf_keras, or a tl export); its 10 outputs are named as CIFAR-10's "
                  "classes"));
  t.add(int_flag("--image-size", o.image_size, {.min = 32, .max = kMaxImageSize},
                 "the Keras model's input size where its file does not say it (.h5 / .weights.h5 "
                 "with average pooling)")
            .shows_default("224"));
  t.add(int_flag("--top-k", o.top_k, {.min = 1},
                 "print the K most probable classes of each image"));
  t.add(choice_flag("--device", o.device, {"cpu", "cuda", "auto"},
                    "auto: cuda when a GPU is usable"));
  t.add(positional_args("IMAGE", o.images, "the image files to classify (at least one)"));
  t.add_help_flags(o.help, o.help_markdown);
  t.notes(
      "Images are JPEG, PNG or binary PPM/PGM of any size up to 89,478,485 pixels (Pillow's limit; "
      "set TL_MAX_IMAGE_PIXELS to change it); each is resized bilinearly to the checkpoint's input "
      "size and 'caffe'-preprocessed, as in training.");
  return t;
}

int run(int argc, char** argv) {
  PredictOptions opts;
  if (parse_or_print_help(predict_flags(opts), argc, argv, opts.help, opts.help_markdown)) return 0;
  if (opts.checkpoint.empty()) fail("--checkpoint FILE (or --model FILE) is required (see --help)");
  if (opts.images.empty()) fail("no image files given (see --help)");

  ModelRecord record;
  auto model = load_classifier(opts.checkpoint, record, opts.image_size);
  check_class_names_fit_head(record, opts.checkpoint);  // predict reads no labels: the names are all it can check
  const std::unique_ptr<Context> context = open_context(device_from_flag(opts.device));
  Context& ctx = *context;
  model->to(ctx);
  model->eval();
  NoGradGuard no_grad(ctx);
  const int64_t size = record.model.input_size, classes = record.model.classes;
  const int64_t top_k = std::min(opts.top_k, classes);
  for (const std::string& path : opts.images) {
    const Tensor rgb = read_image_rgb(path);  // (H, W, 3)
    const Tensor batch = rgb.view({1, rgb.size(0), rgb.size(1), 3});
    const Tensor logits = model->forward(ctx, ops::preprocess_caffe(ctx, ctx.to_device(batch), size, size));
    std::vector<float> z = logits.to_vector();
    const float max = *std::max_element(z.begin(), z.end());
    double sum = 0;
    for (float& v : z) sum += (v = std::exp(v - max));
    std::vector<int64_t> order(static_cast<size_t>(classes));
    std::iota(order.begin(), order.end(), 0);
    std::partial_sort(order.begin(), order.begin() + top_k, order.end(),
                      [&](int64_t a, int64_t b) { return z[a] > z[b]; });
    std::cout << path << ":";
    for (int64_t k = 0; k < top_k; ++k) {
      const int64_t c = order[static_cast<size_t>(k)];
      std::cout << "  " << record.class_names[static_cast<size_t>(c)] << " " << std::fixed << std::setprecision(1) << 100.0 * z[c] / sum << "%";
    }
    std::cout << "\n";
  }
  return 0;
}

}  // namespace
}  // namespace tl::app

int main(int argc, char** argv) { return tl::app::run_app("predict", tl::app::run, argc, argv); }
