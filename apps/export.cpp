// export: a train_cifar checkpoint (or any model file evaluate reads) written
// for Keras, the format chosen by the output's name.
#include <iostream>

#include "apps/options.h"
#include "apps/run_config.h"
#include "weights/keras_model_file.h"

namespace tl::app {
namespace {

const char* kHelp = R"(export: write a train_cifar checkpoint for Keras.

  export --checkpoint FILE --out PATH

  --checkpoint FILE   a checkpoint written by train_cifar (or a Keras model file, to convert it)
  --out PATH          .keras      Keras 3 archive (nested Sequential: ResNet50 + the head)
                      .weights.h5 Keras 3 weights (flat functional model)
                      .h5         legacy weights (flat functional model; Keras 3 and tf_keras)
  Keras loads each with model.load_weights(PATH) into ResNet50(include_top=False,
  weights=None) + the reference head built as docs/keras_weights.md shows.
)";

int run(int argc, char** argv) {
  std::string checkpoint, out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) fail(a, ": missing value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") return std::cout << kHelp, 0;
    else if (a == "--checkpoint" || a == "--model") checkpoint = value();
    else if (a == "--out") out = value();
    else fail("unknown flag '", a, "'; run with --help to see the flags");
  }
  if (checkpoint.empty() || out.empty()) fail("--checkpoint FILE and --out PATH are required (see --help)");
  if (!is_keras_model_path(out)) fail("--out ", out, ": the format is chosen by the ending: .keras, .weights.h5 or .h5");
  ModelRecord record;
  auto model = load_classifier(checkpoint, record);
  export_keras_model(*model, out);
  std::cout << "Wrote " << out << " (input " << record.model.input_size << ", "
            << (record.model.pool == HeadPool::kFlatten ? "flatten" : "average pool") << ", "
            << record.model.classes << " classes)\n";
  return 0;
}

}  // namespace
}  // namespace tl::app

int main(int argc, char** argv) { return tl::app::run_app("export", tl::app::run, argc, argv); }
