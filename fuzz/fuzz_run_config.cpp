// Fuzzes the checkpoint's metadata: the run configuration JSON that every
// train_cifar checkpoint carries (an HDF5 string attribute) and that
// evaluate, predict and --resume read back. The input is that JSON text.
//
//  - parse_json_flat (apps/json.h): every JSON reader in the apps uses it;
//  - parse_run_config (apps/run_config.h): the model record;
//  - resume_differences / check_resume_compatible against a valid config
//    (what --resume does with a checkpoint's config).
// Properties: an object parse_json_flat accepts, written back with
// JsonObject (every scalar as a string), parses to the same keys and values;
// a record parse_run_config accepts, written with run_config_json, is read
// back to the same record (a checkpoint we write must be readable).
#include <cmath>
#include <cstdio>
#include <string>

#include "apps/json.h"
#include "apps/run_config.h"
#include "fuzz/fuzz_util.h"

namespace {

using namespace tl::app;

std::string exact(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%a", double(v));
  return buf;
}

std::string describe(const ModelRecord& r) {
  std::string s = std::to_string(r.model.input_size) + "|" + std::to_string(int(r.model.pool)) + "|" +
                  std::to_string(r.model.classes) + "|" + exact(r.model.dropout) + "|" +
                  exact(r.model.bn_momentum) + "|" + r.dataset + "|" + std::to_string(r.synthetic_size) +
                  "|" + std::to_string(r.seed) + "|" + r.weights + "|" + r.weights_missing + "|";
  for (const std::string& n : r.class_names) s += n + ",";
  return s;
}

// A configuration as a real run writes it, for the --resume comparison.
const std::string& valid_config() {
  static const std::string json = [] {
    TrainOptions o;
    ModelRecord r;
    r.model.input_size = 32;
    r.model.pool = tl::HeadPool::kAverage;
    r.model.classes = 10;
    r.class_names = {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"};
    r.dataset = "cifar10";
    DataIdentity d{45000, 5000, 10000, "0123456789abcdef", "fedcba9876543210", "00112233445566ff"};
    return run_config_json(o, r, d);
  }();
  return json;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string what = "fuzz.h5";

  JsonFlat flat;
  if (tl::fuzz::expect_tl_error_only("parse_json_flat", [&] { flat = parse_json_flat(text, what); })) {
    JsonObject again;
    for (const auto& [key, value] : flat.scalars) again.add(key, value);
    for (const auto& [key, values] : flat.string_arrays) again.add(key, values);
    const std::string written = again.str();
    JsonFlat back;
    TL_FUZZ_REQUIRE(tl::fuzz::expect_tl_error_only("parse_json_flat (round trip)",
                                                   [&] { back = parse_json_flat(written, what); }),
                    "JsonObject wrote JSON that parse_json_flat refuses: ", written);
    // A key given as a scalar and as an array lands in both maps on both sides.
    TL_FUZZ_REQUIRE(back.scalars == flat.scalars && back.string_arrays == flat.string_arrays,
                    "round trip changed the values: ", written);
  }

  ModelRecord record;
  // Known finding (docs/fuzzing.md, "run-config-non-finite"): a NaN or
  // infinite dropout / bn_momentum is accepted, then written as null, which
  // parse_run_config cannot read. Under TL_FUZZ_LENIENT it is stepped over.
  auto known_non_finite = [&] {
    return tl::fuzz::lenient() && !(std::isfinite(record.model.dropout) && std::isfinite(record.model.bn_momentum));
  };
  if (tl::fuzz::expect_tl_error_only("parse_run_config", [&] { record = parse_run_config(text, what); }) &&
      !known_non_finite()) {
    TrainOptions o;
    o.synthetic_size = record.synthetic_size;
    o.seed = record.seed;
    const std::string written = run_config_json(o, record);
    ModelRecord back;
    TL_FUZZ_REQUIRE(tl::fuzz::expect_tl_error_only("parse_run_config (round trip)",
                                                   [&] { back = parse_run_config(written, what); }),
                    "run_config_json wrote a config that parse_run_config refuses: ", written);
    TL_FUZZ_REQUIRE(describe(back) == describe(record), "round trip changed the record: ", describe(record),
                    " -> ", describe(back));
  }

  tl::fuzz::expect_tl_error_only("resume_differences", [&] {
    for (const ResumeDifference& d : resume_differences(text, valid_config(), what)) (void)d.str();
  });
  tl::fuzz::expect_tl_error_only("check_resume_compatible", [&] {
    check_resume_compatible(text, valid_config(), what, /*allow_inexact=*/true);
  });
  return 0;
}
