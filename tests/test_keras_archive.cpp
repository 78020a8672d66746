// .keras archives (weights/keras_model_file.h) and the two small readers
// under them: JSON (weights/json.h) and stored ZIP (weights/stored_zip.h).
// The archive fixtures are written by tests/reference/make_h5_fixtures.py
// with Python's zipfile, as Keras 3 writes them.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/support/compare.h"
#include "weights/json.h"
#include "weights/keras_model_file.h"
#include "weights/stored_zip.h"

namespace tl::test {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tl_test_keras_archive_" + name)).string();
}

template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Json, ParsesNestedValues) {
  const JsonValue v = parse_json(R"( {"a": [1, -2.5e1, true, null, "x\u00e9\n"], "b": {"c": {}} } )", "test");
  ASSERT_TRUE(v.is_object());
  const JsonValue* a = v.get("a");
  ASSERT_TRUE(a && a->is_array() && a->array.size() == 5u);
  EXPECT_EQ(a->array[1].number, -25.0);
  EXPECT_TRUE(a->array[2].boolean);
  EXPECT_EQ(a->array[3].kind, JsonValue::Kind::Null);
  EXPECT_EQ(a->array[4].string, "x\xc3\xa9\n");
  EXPECT_TRUE(v.get("b")->get("c")->is_object());
}

TEST(Json, ErrorsNameTheDocumentAndTheOffset) {
  for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01", "\"abc", "tru", "[1] x", "{\"a\": NaN}", "\"\\q\""}) {
    const std::string msg = error_of([&] { parse_json(bad, "doc.json"); });
    EXPECT_NE(msg.find("doc.json: malformed JSON"), std::string::npos) << bad << " -> " << msg;
    EXPECT_NE(msg.find("at byte"), std::string::npos) << msg;
  }
  const std::string deep(100000, '[');
  EXPECT_NE(error_of([&] { parse_json(deep, "deep"); }).find("nested deeper"), std::string::npos);
}

TEST(StoredZip, RoundTripAndCrc) {
  EXPECT_EQ(zip_crc32("123456789", 9), 0xCBF43926u);  // the standard check value
  const std::string path = temp_path("rt.zip");
  write_stored_zip(path, {{"a.json", "{}"}, {"b.bin", std::string("\0\1\2", 3)}, {"empty", ""}});
  const std::vector<ZipMember> m = read_stored_zip(path);
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[1].name, "b.bin");
  EXPECT_EQ(m[1].data, std::string("\0\1\2", 3));
  EXPECT_EQ(m[2].data, "");
  std::remove(path.c_str());
}

TEST(StoredZip, DamagedArchivesAreRefused) {
  const std::string path = temp_path("damaged.zip");
  write_stored_zip(path, {{"config.json", "{\"x\": 1}"}});
  std::ifstream in(path, std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(error_of([&] { read_stored_zip_bytes(good.substr(0, good.size() - 5), "t.keras"); }).find("end-of-central"),
            std::string::npos);
  std::string flipped = good;
  flipped[32] ^= 1;  // inside the member name of the local header
  EXPECT_NE(error_of([&] { read_stored_zip_bytes(flipped, "t.keras"); }).find("local header names another"),
            std::string::npos);
  std::string data = good;
  data[good.find("{\"x\"") + 2] ^= 1;
  EXPECT_NE(error_of([&] { read_stored_zip_bytes(data, "t.keras"); }).find("CRC-32"), std::string::npos);
  EXPECT_NE(error_of([&] { read_stored_zip_bytes("PK", "t.keras"); }).find("t.keras"), std::string::npos);
  std::remove(path.c_str());
}

#ifdef TL_H5_FIXTURE_DIR
std::string fixture(const std::string& name) { return std::string(TL_H5_FIXTURE_DIR) + "/" + name; }

TEST(KerasArchive, ReadsConfigAndWeightsOfAKerasWrittenArchive) {
  const KerasModelFile f = read_keras_model_file(fixture("keras_archive.keras"));
  EXPECT_EQ(f.architecture.source, "config.json");
  EXPECT_EQ(f.architecture.input_size, 48);
  EXPECT_EQ(f.architecture.pool, "avg");
  EXPECT_EQ(f.architecture.dense_units, (std::vector<int64_t>{256, 128, 64, 100}));
  ASSERT_EQ(f.architecture.dropout_rates.size(), 3u);
  EXPECT_DOUBLE_EQ(f.architecture.dropout_rates[0], 0.3);
  ASSERT_EQ(f.weights.layers.size(), 1u);  // the optimizer's variables are not a layer
  EXPECT_EQ(f.weights.layers[0].layer, "dense_3");
  EXPECT_TRUE(f.weights.layers_named_by_class);
  EXPECT_EQ(f.weights.layers[0].weights[0].shape, (Shape{64, 100}));
  EXPECT_NE(f.weights.format.find("keras-archive"), std::string::npos);
}

TEST(KerasArchive, ArchitectureMismatchesAreAllNamed) {
  ClassifierConfig c;
  c.input_size = 32;
  c.pool = HeadPool::kFlatten;
  Classifier model(c);
  const std::string msg = error_of([&] { load_keras_model(model, fixture("keras_archive.keras")); });
  for (const char* needle : {"keras_archive.keras", "input size: file 48, model 32", "pooling: file avg, model flatten",
                             "Dense widths: file [256, 128, 64, 100], model [256, 128, 64, 10]", "dropout"})
    EXPECT_NE(msg.find(needle), std::string::npos) << needle << " not in: " << msg;
  // What the file says becomes the model's configuration.
  const ClassifierConfig from_file =
      classifier_config_from(read_keras_model_file(fixture("keras_archive.keras")).architecture, c, "f");
  EXPECT_EQ(from_file.input_size, 48);
  EXPECT_EQ(from_file.classes, 100);
  EXPECT_EQ(from_file.pool, HeadPool::kAverage);
}

TEST(KerasArchive, CompressedAndDamagedArchivesAreRefusedClearly) {
  EXPECT_NE(error_of([] { read_keras_model_file(fixture("keras_archive_deflated.keras")); })
                .find("is compressed (deflate)"),
            std::string::npos);
  EXPECT_NE(error_of([] { read_keras_model_file(fixture("keras_archive_truncated.keras")); }).find("keras_archive_truncated"),
            std::string::npos);
  EXPECT_NE(error_of([] { read_keras_model_file(fixture("keras_archive_bad_crc.keras")); }).find("CRC-32"),
            std::string::npos);
}
#endif

TEST(KerasArchive, ExportThenLoadIsBitIdentical) {
  ClassifierConfig c;
  c.input_size = 32;
  c.pool = HeadPool::kAverage;
  c.seed = 11;
  Classifier source(c);
  c.seed = 12;
  Classifier target(c);
  const std::string path = temp_path("model.keras");
  export_keras_model(source, path);
  const std::vector<ZipMember> members = read_stored_zip(path);
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].name, "metadata.json");
  EXPECT_EQ(members[1].name, "config.json");
  EXPECT_EQ(members[2].name, "model.weights.h5");
  const LoadReport report = load_keras_model(target, path);
  EXPECT_EQ(report.tensors_loaded, 338);
  Context ctx;
  NoGradGuard no_grad(ctx);
  source.eval();
  target.eval();
  const Tensor x = Tensor::full({1, 32, 32, 3}, 0.5f);
  EXPECT_TRUE(all_close(target.forward(ctx, x), source.forward(ctx, x), {0.0, 0.0}, "logits"));
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tl::test
