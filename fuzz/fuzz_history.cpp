// Fuzzes the metrics history a checkpoint carries (apps/trainer.h
// parse_training_history: a JSON array of flat objects, one per completed
// epoch, then the partial epoch of an interrupted run), which --resume reads
// to continue the curves and an interrupted epoch's running sums.
//
// Property: a history that was accepted, written with training_history_json
// and read again, is accepted and, written once more, gives the same text
// (what we write we can read, and the numbers are stable).
#include <cmath>
#include <cstdlib>
#include <string>

#include "apps/json.h"
#include "apps/trainer.h"
#include "fuzz/fuzz_util.h"

using namespace tl::app;

namespace {

// Known finding (docs/fuzzing.md, "history-epoch-cast"): parse_epoch casts
// the "epoch" number to int64_t unchecked, undefined behaviour for NaN
// (null), infinities and |v| >= 2^63. True when an object of the history,
// split as parse_training_history splits it, holds such an "epoch".
bool has_unrepresentable_epoch(const std::string& text) {
  size_t pos = 0;
  while ((pos = text.find('{', pos)) != std::string::npos) {
    const size_t end = text.find('}', pos);
    if (end == std::string::npos) return false;
    try {
      const JsonFlat f = parse_json_flat(text.substr(pos, end - pos + 1), "screen");
      if (auto it = f.scalars.find("epoch"); it != f.scalars.end()) {
        const double v = it->second == "null" ? std::nan("") : std::strtod(it->second.c_str(), nullptr);
        if (!(v > -9.2e18 && v < 9.2e18)) return true;
      }
    } catch (const std::exception&) {
    }
    pos = end + 1;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  // Under TL_FUZZ_LENIENT the known finding above is stepped over.
  if (tl::fuzz::lenient() && has_unrepresentable_epoch(text)) return 0;
  TrainingHistory history;
  if (!tl::fuzz::expect_tl_error_only("parse_training_history",
                                      [&] { history = parse_training_history(text, "checkpoint history"); }))
    return 0;

  const std::string written = training_history_json(history);
  TrainingHistory back;
  TL_FUZZ_REQUIRE(tl::fuzz::expect_tl_error_only("parse_training_history (round trip)",
                                                 [&] { back = parse_training_history(written, "round trip"); }),
                  "training_history_json wrote a history that parse_training_history refuses: ", written);
  TL_FUZZ_REQUIRE(back.epochs.size() == history.epochs.size() && back.partial.has_value() == history.partial.has_value(),
                  "round trip changed the history's shape: ", written);
  const std::string again = training_history_json(back);
  TL_FUZZ_REQUIRE(again == written, "round trip changed the numbers: ", written, " -> ", again);
  return 0;
}
