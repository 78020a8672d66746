// Fuzzes the JSON a .keras archive carries (config.json): the strict JSON
// reader (weights/json.h parse_json) and what tl reads from it
// (weights/keras_model_file.h parse_keras_config, classifier_config_from).
// The input is the config.json text.
//
// Properties: a document parse_json accepts nests no deeper than the reader's
// limit allows without exhausting the stack (ASan would report it); an
// architecture classifier_config_from accepts gives a model tl can build:
// an input size in 32..8192 (apps' kMaxImageSize: a larger one is refused as
// a flag, and its Flatten head would need hundreds of GB), at least one class
// and a dropout rate in [0, 1).
#include <cmath>
#include <string>

#include "fuzz/fuzz_util.h"
#include "weights/json.h"
#include "weights/keras_model_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  tl::fuzz::expect_tl_error_only("parse_json", [&] { (void)tl::parse_json(text, "config.json"); });

  tl::KerasArchitecture arch;
  if (!tl::fuzz::expect_tl_error_only("parse_keras_config",
                                      [&] { arch = tl::parse_keras_config(text, "config.json"); }))
    return 0;
  for (const tl::HeadPool pool : {tl::HeadPool::kFlatten, tl::HeadPool::kAverage}) {
    tl::ClassifierConfig defaults;
    defaults.pool = pool;
    tl::ClassifierConfig c;
    if (!tl::fuzz::expect_tl_error_only("classifier_config_from",
                                        [&] { c = tl::classifier_config_from(arch, defaults, "fuzz.keras"); }))
      continue;
    // Known finding (docs/fuzzing.md, "keras-config-ranges"): none of these
    // is checked yet; under TL_FUZZ_LENIENT they are stepped over.
    if (!tl::fuzz::lenient()) {
      TL_FUZZ_REQUIRE(c.input_size >= 32 && c.input_size <= 8192, "accepted input size ", c.input_size);
      TL_FUZZ_REQUIRE(c.classes >= 1, "accepted ", c.classes, " classes");
      TL_FUZZ_REQUIRE(std::isfinite(c.dropout) && c.dropout >= 0 && c.dropout < 1, "accepted dropout ", c.dropout);
    }
    TL_FUZZ_REQUIRE(tl::architecture_mismatches(arch, c).empty(), "accepted, yet mismatched");
  }
  return 0;
}
