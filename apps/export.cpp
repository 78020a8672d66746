// export: a train_cifar checkpoint (or any model file evaluate reads) written
// for Keras, the format chosen by the output's name.
#include <iostream>

#include "apps/flag_table.h"
#include "apps/options.h"
#include "apps/run_config.h"
#include "weights/keras_model_file.h"

namespace tl::app {
namespace {

struct ExportOptions {
  std::string checkpoint;  // --checkpoint or --model
  std::string out;
  bool help = false;
  bool help_markdown = false;
};

FlagTable export_flags(ExportOptions& o) {
  FlagTable t("export", "write a train_cifar checkpoint for Keras.");
  t.usage("--checkpoint FILE --out PATH");
  t.add(text_flag("--checkpoint", o.checkpoint, "FILE",
                  "a checkpoint written by train_cifar (or a Keras model file, to convert it); "
                  "required"));
  t.add(text_flag("--model", o.checkpoint, "FILE", "the same as --checkpoint"));
  t.add(text_flag("--out", o.out, "PATH",
                  "where to write, the format chosen by the ending: .keras (Keras 3 archive, a "
                  "nested Sequential: ResNet50 + the head), .weights.h5 (Keras 3 weights of the "
                  "flat functional model) or .h5 (legacy weights of the flat functional model; "
                  "Keras 3 and tf_keras); required",
                  keras_path_problem));
  t.add_help_flags(o.help, o.help_markdown);
  t.notes(
      "Keras loads each with model.load_weights(PATH) into ResNet50(include_top=False, "
      "weights=None) + the reference head built as docs/keras_weights.md shows.");
  return t;
}

int run(int argc, char** argv) {
  ExportOptions opts;
  if (parse_or_print_help(export_flags(opts), argc, argv, opts.help, opts.help_markdown)) return 0;
  if (opts.checkpoint.empty() || opts.out.empty())
    fail("--checkpoint FILE and --out PATH are required (see --help)");
  ModelRecord record;
  auto model = load_classifier(opts.checkpoint, record);
  export_keras_model(*model, opts.out);
  std::cout << "Wrote " << opts.out << " (input " << record.model.input_size << ", "
            << (record.model.pool == HeadPool::kFlatten ? "flatten" : "average pool") << ", "
            << record.model.classes << " classes)\n";
  return 0;
}

}  // namespace
}  // namespace tl::app

int main(int argc, char** argv) { return tl::app::run_app("export", tl::app::run, argc, argv); }
