// predict: classify image files with a train_cifar checkpoint; prints the
// top-k classes with their probabilities.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <numeric>

#include "apps/device_flag.h"
#include "apps/evaluation.h"
#include "apps/options.h"
#include "apps/run_config.h"
#include "data/image_folder.h"
#include "engine/ops.h"

namespace tl::app {
namespace {

const char* kHelp = R"(predict: classify images with a train_cifar checkpoint or a Keras model.

  predict --checkpoint FILE [--top-k K] [--device cpu|cuda] IMAGE...
  predict --model KERAS_FILE [--image-size S] [--top-k K] [--device cpu|cuda] IMAGE...

  --model FILE is a whole Keras model, ResNet50 + the reference head: .keras,
  .weights.h5 or .h5 (Keras 3, tf_keras, or a tl export); --image-size gives its
  input size where the file does not say it (.h5 / .weights.h5 with average
  pooling; else 224). Its 10 outputs are named as CIFAR-10's classes.

  Images are JPEG, PNG or binary PPM/PGM of any size up to 89,478,485 pixels (Pillow's limit;
  set TL_MAX_IMAGE_PIXELS to change it); each is resized bilinearly to the
  checkpoint's input size and 'caffe'-preprocessed, as in training.
)";

int run(int argc, char** argv) {
  std::string checkpoint, device = "cpu";
  int64_t keras_image_size = 0;
  int64_t top_k = 3;
  std::vector<std::string> images;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(a, ": missing value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") return std::cout << kHelp, 0;
    else if (a == "--checkpoint" || a == "--model") checkpoint = value();
    else if (a == "--image-size") keras_image_size = parse_int(a, value(), 32);
    else if (a == "--device") device = value();
    else if (a == "--top-k") top_k = parse_int(a, value(), 1);
    else if (a.rfind("--", 0) == 0) fail("unknown flag '", a, "'; run with --help to see the flags");
    else images.push_back(a);
  }
  if (checkpoint.empty()) fail("--checkpoint FILE (or --model FILE) is required (see --help)");
  if (images.empty()) fail("no image files given (see --help)");
  device_from_flag(device);  // checks the value before the model is read

  ModelRecord record;
  auto model = load_classifier(checkpoint, record, keras_image_size);
  check_class_names_fit_head(record, checkpoint);  // predict reads no labels: the names are all it can check
  const std::unique_ptr<Context> context = open_context(device_from_flag(device));
  Context& ctx = *context;
  model->to(ctx);
  model->eval();
  NoGradGuard no_grad(ctx);
  const int64_t size = record.model.input_size, classes = record.model.classes;
  top_k = std::min(top_k, classes);
  for (const std::string& path : images) {
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
