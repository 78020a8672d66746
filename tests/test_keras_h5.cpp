// Keras HDF5 weight files (weights/keras_h5.h, weights/hdf5.h): every layout
// Keras and h5py write, read from fixtures that
// tests/reference/make_h5_fixtures.py builds with h5py at build time; bad
// files (each must be a tl::Error naming the path, never a crash); and the
// legacy writer, read back and inspected with the HDF5 C API.
//
// Values follow the fixture script's integer pattern (exact in float32), so
// every comparison here is exact.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "runtime/check.h"
#include "weights/hdf5.h"
#include "weights/keras_h5.h"
#include "weights/legacy_names.h"
#include "tests/support/temp_files.h"

#ifdef TL_HAVE_HDF5
#include <hdf5.h>
#endif

namespace tl::test {
namespace {

namespace fs = std::filesystem;

static_assert(!std::is_copy_constructible_v<h5::H5Handle> && !std::is_copy_assignable_v<h5::H5Handle>,
              "two owners of one HDF5 id would close it twice");
static_assert(std::is_nothrow_move_constructible_v<h5::H5Handle> && std::is_nothrow_move_assignable_v<h5::H5Handle>);

// Runs fn; passes when it throws tl::Error whose message contains every needle.
template <typename Fn>
::testing::AssertionResult throws_error_with(Fn&& fn, const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string message = e.what();
    for (const std::string& needle : needles)
      if (message.find(needle) == std::string::npos)
        return ::testing::AssertionFailure() << "message \"" << message << "\" lacks \"" << needle << "\"";
    return ::testing::AssertionSuccess() << message;
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw a non-tl::Error: " << e.what();
  }
  return ::testing::AssertionFailure() << "did not throw";
}

TEST(KerasH5, LegacyResnetNameMapping) {
  const std::vector<std::pair<std::string, std::string>> table = {
      {"conv1", "conv1_conv"},
      {"bn_conv1", "conv1_bn"},
      {"fc1000", "predictions"},
      {"res2a_branch2a", "conv2_block1_1_conv"},
      {"bn2a_branch2b", "conv2_block1_2_bn"},
      {"res2c_branch2c", "conv2_block3_3_conv"},
      {"res4f_branch2c", "conv4_block6_3_conv"},
      {"bn4f_branch2a", "conv4_block6_1_bn"},
      {"res5a_branch1", "conv5_block1_0_conv"},
      {"bn3a_branch1", "conv3_block1_0_bn"},
  };
  for (const auto& [legacy, current] : table) EXPECT_EQ(map_legacy_resnet_name(legacy), current) << legacy;
  // Current names and near misses come back unchanged.
  for (const std::string same : {"conv1_conv", "conv1_pad", "conv2_block1_1_bn", "res2a", "res2a_branch3",
                                 "res2A_branch2a", "bn_conv2", "resnet50", "input_1", "avg_pool", ""})
    EXPECT_EQ(map_legacy_resnet_name(same), same);
  EXPECT_FALSE(uses_legacy_resnet_names({"input_1", "conv1", "fc1000"}));  // too common to decide on
  EXPECT_TRUE(uses_legacy_resnet_names({"input_1", "conv1", "bn_conv1"}));
  EXPECT_TRUE(uses_legacy_resnet_names({"res3b_branch2c"}));
  EXPECT_FALSE(uses_legacy_resnet_names({"conv1_conv", "conv1_bn", "conv2_block1_0_conv"}));
}

// HDF5's I/O error descriptions embed ctime()'s newline: the one seen when
// a checkpoint filled the disk split the app's error over two lines.
TEST(KerasH5, Hdf5IoErrorDescriptionBecomesOneLine) {
  const std::string seen =
      "file write failed: time = Sun Nov 29 15:29:16 2026\n, filename = '/tmp/x.h5.tmp', file descriptor = 3, "
      "errno = 27, error message = 'File too large', buf = 0x55f8f8eae880, total write size = 4096, bytes this "
      "sub-write = 4096, bytes actually written = 18446744073709551615, offset = 0";
  EXPECT_EQ(h5::one_line_error(seen), "file write failed: File too large (errno 27)");
  EXPECT_EQ(h5::one_line_error("first\nsecond\r\nthird"), "first second  third");
  EXPECT_EQ(h5::one_line_error("truncated file: eof = 1000"), "truncated file: eof = 1000");
}

#ifdef TL_HAVE_HDF5

// ---- fixtures and expectations ----------------------------------------------

std::string fixture_path(const std::string& name) { return std::string(TL_H5_FIXTURE_DIR) + "/" + name; }

// A missing fixture fails the test (it must never pass or skip silently).
#define REQUIRE_FIXTURE(var, name)                                                               \
  const std::string var = fixture_path(name);                                                   \
  ASSERT_TRUE(fs::exists(var)) << "missing fixture " << var                                     \
                               << ": it is written at build time by "                           \
                                  "tests/reference/make_h5_fixtures.py (target h5_fixtures)"

// make_h5_fixtures.py value_pattern: value(k, i) = ((k*7919 + i*31) % 2001 - 1000) / 64.
std::vector<float> pattern(int k, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(double((k * 7919LL + i * 31) % 2001 - 1000) / 64.0);
  return v;
}

struct ExpectedWeight {
  std::string name;
  Shape shape;
  int k;
};
struct ExpectedLayer {
  std::string layer;
  std::vector<ExpectedWeight> weights;
};

// A layer of a spec-built legacy fixture: weight w of spec layer l has k = 16*l + w + 1.
ExpectedLayer spec_layer(const std::string& name, int spec_index,
                         const std::vector<std::pair<std::string, Shape>>& weights) {
  ExpectedLayer l{name, {}};
  for (size_t w = 0; w < weights.size(); ++w)
    l.weights.push_back({weights[w].first, weights[w].second, 16 * spec_index + int(w) + 1});
  return l;
}

const std::vector<std::pair<std::string, Shape>> kBn4 = {
    {"gamma", {4}}, {"beta", {4}}, {"moving_mean", {4}}, {"moving_variance", {4}}};
const std::vector<std::pair<std::string, Shape>> kBn2 = {
    {"gamma", {2}}, {"beta", {2}}, {"moving_mean", {2}}, {"moving_variance", {2}}};

// MODEL in make_h5_fixtures.py.
std::vector<ExpectedLayer> model_spec() {
  return {spec_layer("input_1", 0, {}),
          spec_layer("conv1_conv", 1, {{"kernel", {3, 3, 2, 4}}, {"bias", {4}}}),
          spec_layer("conv1_bn", 2, kBn4),
          spec_layer("conv1_relu", 3, {}),
          spec_layer("predictions", 4, {{"kernel", {4, 3}}, {"bias", {3}}})};
}

std::string layer_names_of(const KerasWeightsFile& f) {
  std::string s;
  for (const LayerWeights& l : f.layers) s += l.layer + " ";
  return s;
}

// Every layer, weight name, shape and value, in order, exactly.
void expect_layers(const KerasWeightsFile& f, const std::vector<ExpectedLayer>& want) {
  ASSERT_EQ(f.layers.size(), want.size()) << "layers read: " << layer_names_of(f);
  for (size_t i = 0; i < want.size(); ++i) {
    const LayerWeights& got = f.layers[i];
    SCOPED_TRACE("layer " + want[i].layer);
    EXPECT_EQ(got.layer, want[i].layer);
    ASSERT_EQ(got.weights.size(), want[i].weights.size());
    for (size_t j = 0; j < want[i].weights.size(); ++j) {
      const ExpectedWeight& w = want[i].weights[j];
      EXPECT_EQ(got.weights[j].name, w.name);
      EXPECT_EQ(got.weights[j].shape, w.shape) << w.name;
      EXPECT_EQ(got.weights[j].values, pattern(w.k, shape_numel(w.shape))) << w.name;
    }
  }
}

// The HDF5 type of an attribute, straight from the C API, to prove that a
// fixture (or the writer's output) has the form a test claims to cover.
struct AttrInfo {
  H5T_class_t cls = H5T_NO_CLASS;
  bool vlen = false;
  H5T_str_t pad = H5T_STR_ERROR;
  H5T_cset_t cset = H5T_CSET_ERROR;
  size_t size = 0;
  hssize_t count = -1;
};

AttrInfo attr_info(const std::string& file, const std::string& object, const std::string& attr) {
  const h5::H5Handle f = h5::open_file_readonly(file);
  const h5::H5Handle a(H5Aopen_by_name(f.get(), object.c_str(), attr.c_str(), H5P_DEFAULT, H5P_DEFAULT),
                       h5::H5Kind::Attribute);
  AttrInfo info;
  if (!a) return info;
  const h5::H5Handle t(H5Aget_type(a.get()), h5::H5Kind::Datatype);
  const h5::H5Handle s(H5Aget_space(a.get()), h5::H5Kind::Dataspace);
  info.cls = H5Tget_class(t.get());
  info.size = H5Tget_size(t.get());
  info.count = H5Sget_simple_extent_npoints(s.get());
  if (info.cls == H5T_STRING) {
    info.vlen = H5Tis_variable_str(t.get()) > 0;
    info.pad = H5Tget_strpad(t.get());
    info.cset = H5Tget_cset(t.get());
  }
  return info;
}

// A scratch directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("tl_keras_h5_" + std::to_string(::getpid()) + "_" + std::string(info ? info->name() : "x"));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

 private:
  fs::path dir_;
};

std::vector<LayerWeights> to_layer_weights(const std::vector<ExpectedLayer>& spec) {
  std::vector<LayerWeights> layers;
  for (const ExpectedLayer& l : spec) {
    LayerWeights lw{l.layer, {}};
    for (const ExpectedWeight& w : l.weights) lw.weights.push_back({w.name, w.shape, pattern(w.k, shape_numel(w.shape))});
    layers.push_back(std::move(lw));
  }
  return layers;
}

// ---- the layouts Keras writes -------------------------------------------------

TEST(KerasH5, LegacyH5py2FixedLengthNames) {
  REQUIRE_FIXTURE(path, "legacy_h5py2.h5");
  // The fixture must really be the h5py 2 form: fixed-length NULLPAD, as
  // wide as the longest name ("predictions", 11 bytes, no NUL).
  const AttrInfo info = attr_info(path, "/", "layer_names");
  ASSERT_EQ(info.cls, H5T_STRING);
  EXPECT_FALSE(info.vlen);
  EXPECT_EQ(info.pad, H5T_STR_NULLPAD);
  EXPECT_EQ(info.size, 11u);

  const KerasWeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.path, path);
  EXPECT_EQ(f.format, "keras-legacy-h5");
  EXPECT_EQ(f.keras_version, "2.2.4");
  EXPECT_EQ(f.backend, "tensorflow");
  EXPECT_FALSE(f.legacy_names_mapped);
  expect_layers(f, model_spec());
  ASSERT_NE(f.find("predictions"), nullptr) << "longest name truncated (NULLPAD read as NULLTERM?)";
  EXPECT_EQ(f.find("prediction"), nullptr);
  EXPECT_EQ(f.num_values(), 72 + 4 + 16 + 12 + 3);
  ASSERT_NE(f.find("conv1_bn"), nullptr);
  EXPECT_NE(f.find("conv1_bn")->find("moving_variance"), nullptr);
  EXPECT_EQ(f.find("conv1_bn")->find("kernel"), nullptr);
}

TEST(KerasH5, LongestFixedLengthNameIsNotTruncated) {
  REQUIRE_FIXTURE(path, "legacy_h5py2.h5");
  const h5::H5Handle file = h5::open_file_readonly(path);
  EXPECT_EQ(h5::read_string_list_attribute(file, "layer_names"),
            (std::vector<std::string>{"input_1", "conv1_conv", "conv1_bn", "conv1_relu", "predictions"}));
  const h5::H5Handle bn = h5::open_group(file, "conv1_bn");
  // "conv1_bn/moving_variance:0" is the longest weight name of its list.
  EXPECT_EQ(h5::read_string_list_attribute(bn, "weight_names").back(), "conv1_bn/moving_variance:0");
  EXPECT_EQ(h5::read_string_attribute(file, "backend"), "tensorflow");
}

TEST(KerasH5, EmptyWeightNamesIsFloat64) {
  REQUIRE_FIXTURE(path, "legacy_h5py2.h5");
  const AttrInfo info = attr_info(path, "/input_1", "weight_names");
  EXPECT_EQ(info.cls, H5T_FLOAT) << "h5py stores [] as float64 (0,)";
  EXPECT_EQ(info.count, 0);
  const h5::H5Handle file = h5::open_file_readonly(path);
  EXPECT_TRUE(h5::read_string_list_attribute(h5::open_group(file, "input_1"), "weight_names").empty());
  const KerasWeightsFile f = read_keras_weights(path);
  ASSERT_NE(f.find("input_1"), nullptr);
  EXPECT_TRUE(f.find("input_1")->weights.empty());
}

TEST(KerasH5, LegacyH5py3VlenNames) {
  REQUIRE_FIXTURE(path, "legacy_h5py3.h5");
  const AttrInfo info = attr_info(path, "/", "layer_names");
  ASSERT_EQ(info.cls, H5T_STRING);
  EXPECT_TRUE(info.vlen);
  EXPECT_EQ(info.cset, H5T_CSET_ASCII);
  // Groups were created in name order, a float64 kernel and a big-endian
  // bias: the layer order still comes from layer_names, the values convert.
  const KerasWeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.format, "keras-legacy-h5");
  EXPECT_EQ(f.keras_version, "2.15.0");
  expect_layers(f, model_spec());
}

TEST(KerasH5, ChunkedLayerAndWeightNames) {
  REQUIRE_FIXTURE(path, "legacy_chunked.h5");
  {
    const h5::H5Handle file = h5::open_file_readonly(path);
    ASSERT_FALSE(h5::has_attribute(file, "layer_names"));
    ASSERT_TRUE(h5::has_attribute(file, "layer_names2"));
    ASSERT_TRUE(h5::has_attribute(h5::open_group(file, "conv1_bn"), "weight_names1"));
  }
  expect_layers(read_keras_weights(path), model_spec());
}

TEST(KerasH5, FullModelFile) {
  REQUIRE_FIXTURE(path, "full_model.h5");
  EXPECT_EQ(attr_info(path, "/", "keras_version").cset, H5T_CSET_UTF8);
  EXPECT_EQ(attr_info(path, "/model_weights", "layer_names").cset, H5T_CSET_UTF8);
  const AttrInfo fixed_utf8 = attr_info(path, "/model_weights/t\xc3\xaate", "weight_names");
  EXPECT_FALSE(fixed_utf8.vlen);
  EXPECT_EQ(fixed_utf8.cset, H5T_CSET_UTF8);

  const KerasWeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.format, "keras-legacy-h5 (full model)");
  EXPECT_EQ(f.keras_version, "2.15.0");
  EXPECT_EQ(f.backend, "tensorflow");
  std::vector<ExpectedLayer> want = model_spec();
  want.push_back(spec_layer("t\xc3\xaate", 5, {{"kernel", {2, 2}}}));  // "tête", UTF-8 bytes
  expect_layers(f, want);

  // The root's str attributes are vlen UTF-8.
  const h5::H5Handle file = h5::open_file_readonly(path);
  EXPECT_EQ(h5::read_string_attribute(file, "keras_version"), "2.15.0");
  EXPECT_NE(h5::read_string_attribute(file, "model_config").find("Functional"), std::string::npos);
}

TEST(KerasH5, WeightNamesWithoutColonZero) {
  REQUIRE_FIXTURE(path, "legacy_no_colon.h5");
  {
    const h5::H5Handle file = h5::open_file_readonly(path);
    EXPECT_EQ(h5::read_string_list_attribute(h5::open_group(file, "conv1_conv"), "weight_names"),
              (std::vector<std::string>{"conv1_conv/kernel", "conv1_conv/bias"}));
  }
  const KerasWeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.keras_version, "3.3.3");
  expect_layers(f, model_spec());
}

TEST(KerasH5, LegacyFcholletNamesAreMapped) {
  REQUIRE_FIXTURE(path, "legacy_fchollet.h5");
  const KerasWeightsFile f = read_keras_weights(path);
  EXPECT_TRUE(f.legacy_names_mapped);
  const std::vector<std::pair<std::string, Shape>> conv = {{"kernel", {1, 1, 2, 2}}, {"bias", {2}}};
  const std::vector<std::pair<std::string, Shape>> proj = {{"kernel", {1, 1, 2, 4}}, {"bias", {4}}};
  expect_layers(f, {spec_layer("input_1", 0, {}),
                    spec_layer("conv1_pad", 1, {}),
                    spec_layer("conv1_conv", 2, {{"kernel", {3, 3, 3, 2}}, {"bias", {2}}}),
                    spec_layer("conv1_bn", 3, kBn2),
                    spec_layer("activation_1", 4, {}),
                    spec_layer("max_pooling2d_1", 5, {}),
                    spec_layer("conv2_block1_1_conv", 6, conv),
                    spec_layer("conv2_block1_1_bn", 7, kBn2),
                    spec_layer("conv2_block1_0_conv", 8, proj),
                    spec_layer("conv2_block1_0_bn", 9, kBn4),
                    spec_layer("conv3_block2_3_conv", 10, proj),
                    spec_layer("conv3_block2_3_bn", 11, kBn4),
                    spec_layer("conv5_block3_2_conv", 12, {{"kernel", {3, 3, 2, 2}}, {"bias", {2}}}),
                    spec_layer("avg_pool", 13, {}),
                    spec_layer("predictions", 14, {{"kernel", {4, 3}}, {"bias", {3}}})});
  ASSERT_NE(f.find("conv2_block1_1_conv"), nullptr);
  EXPECT_EQ(f.find("conv2_block1_1_conv")->source, "res2a_branch2a");
}

TEST(KerasH5, Keras1WeightNames) {
  REQUIRE_FIXTURE(path, "legacy_keras1.h5");
  const KerasWeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.keras_version, "");  // not recorded by that fixture
  EXPECT_TRUE(f.legacy_names_mapped);
  expect_layers(f, {spec_layer("conv1_conv", 0, {{"kernel", {3, 3, 3, 2}}, {"bias", {2}}}),
                    spec_layer("conv1_bn", 1, kBn2),
                    spec_layer("predictions", 2, {{"kernel", {2, 3}}, {"bias", {3}}})});
}

TEST(KerasH5, NestedModelLayersAreListedByName) {
  REQUIRE_FIXTURE(path, "legacy_nested.h5");
  const KerasWeightsFile f = read_keras_weights(path);
  // resnet50 (spec layer 1) holds conv1_conv's and conv1_bn's weights, k = 17..22;
  // "dense" holds TF1-uniquified names "dense_1/...", and stays "dense".
  expect_layers(f, {spec_layer("input_2", 0, {}),
                    {"conv1_conv", {{"kernel", {3, 3, 3, 2}, 17}, {"bias", {2}, 18}}},
                    {"conv1_bn", {{"gamma", {2}, 19}, {"beta", {2}, 20}, {"moving_mean", {2}, 21},
                                  {"moving_variance", {2}, 22}}},
                    spec_layer("flatten", 2, {}),
                    spec_layer("dense", 3, {{"kernel", {2, 3}}, {"bias", {3}}})});
  EXPECT_FALSE(f.legacy_names_mapped);
  ASSERT_EQ(f.layers.size(), 5u);
  EXPECT_EQ(f.layers[1].source, "resnet50");
  EXPECT_EQ(f.layers[4].source, "dense");
}

TEST(KerasH5, Keras3WeightsFile) {
  REQUIRE_FIXTURE(path, "keras3.weights.h5");
  const KerasWeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.format, "keras3-weights-h5");
  EXPECT_EQ(f.keras_version, "");
  // Names from the vars "name" attribute, else the group name; natural
  // order of the groups (conv2d_2 before conv2d_10); vars/i named by count.
  expect_layers(f, {{"conv1_bn", {{"gamma", {4}, 1}, {"beta", {4}, 2}, {"moving_mean", {4}, 3},
                                  {"moving_variance", {4}, 4}}},
                    {"conv1_conv", {{"kernel", {3, 3, 2, 4}, 5}, {"bias", {4}, 6}}},
                    {"conv2d_2", {{"kernel", {1, 1, 4, 4}, 7}}},
                    {"conv2d_10", {{"0", {2}, 8}, {"1", {2}, 9}, {"2", {2}, 10}}},
                    {"predictions", {{"kernel", {4, 3}, 11}, {"bias", {3}, 12}}},
                    {"input_layer", {}},
                    {"conv1_relu", {}}});
  ASSERT_NE(f.find("conv1_conv"), nullptr);
  EXPECT_EQ(f.find("conv1_conv")->source, "layers/conv2d/vars");
}

TEST(KerasH5, Keras2V3FileFollowsCreationOrder) {
  REQUIRE_FIXTURE(path, "keras2_v3.weights.h5");
  const KerasWeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.format, "keras3-weights-h5");
  // Creation order is tracked in this file and is not name order.
  expect_layers(f, {{"input_1", {}},
                    {"zeta_conv", {{"kernel", {1, 1, 2, 2}, 20}, {"bias", {2}, 21}}},
                    {"alpha_bn", {{"gamma", {2}, 22}, {"beta", {2}, 23}, {"moving_mean", {2}, 24},
                                  {"moving_variance", {2}, 25}}},
                    {"functional_1", {}},
                    {"inner_dense", {{"kernel", {2, 3}, 30}, {"bias", {3}, 31}}}});
}

// ---- bad files ----------------------------------------------------------------

TEST(KerasH5, BadMissingFile) {
  const std::string path = fixture_path("no_such_file.h5");
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "not found"}));
}

TEST(KerasH5, BadDirectory) {
  const std::string path = TL_H5_FIXTURE_DIR;
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "directory"}));
}

TEST(KerasH5, BadEmptyFile) {
  REQUIRE_FIXTURE(path, "empty.h5");
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "empty"}));
}

TEST(KerasH5, BadTruncatedFile) {
  REQUIRE_FIXTURE(path, "truncated.h5");
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "truncated"}));
}

TEST(KerasH5, BadTextFile) {
  REQUIRE_FIXTURE(path, "text.h5");
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "not an HDF5 file"}));
}

TEST(KerasH5, BadMissingDataset) {
  REQUIRE_FIXTURE(path, "missing_dataset.h5");
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "conv1_conv/bias:0", "weight_names"}));
}

TEST(KerasH5, BadStringDataset) {
  REQUIRE_FIXTURE(path, "string_dataset.h5");
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "kernel:0", "strings", "float"}));
}

TEST(KerasH5, BadMissingLayerGroup) {
  REQUIRE_FIXTURE(path, "missing_layer_group.h5");
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "ghost"}));
}

TEST(KerasH5, BadWeightNamesType) {
  REQUIRE_FIXTURE(path, "int_weight_names.h5");
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "weight_names", "integers"}));
}

TEST(KerasH5, BadUnrecognisedLayout) {
  REQUIRE_FIXTURE(path, "unrecognised.h5");
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "layer_names", "images"}));
}

// ---- writing ------------------------------------------------------------------

TEST(KerasH5, RoundTripLegacyWriter) {
  TempDir tmp;
  const std::string path = tmp.file("model.h5");
  write_keras_legacy_h5(path, to_layer_weights(model_spec()));
  EXPECT_FALSE(test::temp_file_left_beside(path));
  const KerasWeightsFile f = read_keras_weights(path);
  EXPECT_EQ(f.format, "keras-legacy-h5");
  EXPECT_EQ(f.keras_version, "2.15.0");
  EXPECT_EQ(f.backend, "tensorflow");
  expect_layers(f, model_spec());
}

TEST(KerasH5, WrittenFileHasKerasLegacyLayout) {
  TempDir tmp;
  const std::string path = tmp.file("layout.h5");
  write_keras_legacy_h5(path, to_layer_weights(model_spec()), "3.1.0");

  const AttrInfo names = attr_info(path, "/", "layer_names");
  ASSERT_EQ(names.cls, H5T_STRING);
  EXPECT_FALSE(names.vlen);
  EXPECT_EQ(names.pad, H5T_STR_NULLPAD);
  EXPECT_EQ(names.cset, H5T_CSET_ASCII);
  EXPECT_EQ(names.size, 11u);  // "predictions"
  EXPECT_EQ(names.count, 5);
  const AttrInfo empty = attr_info(path, "/input_1", "weight_names");
  EXPECT_EQ(empty.cls, H5T_FLOAT);
  EXPECT_EQ(empty.size, 8u);
  EXPECT_EQ(empty.count, 0);

  const h5::H5Handle file = h5::open_file_readonly(path);
  EXPECT_EQ(h5::read_string_attribute(file, "backend"), "tensorflow");
  EXPECT_EQ(h5::read_string_attribute(file, "keras_version"), "3.1.0");
  EXPECT_EQ(h5::read_string_list_attribute(h5::open_group(file, "conv1_conv"), "weight_names"),
            (std::vector<std::string>{"conv1_conv/kernel:0", "conv1_conv/bias:0"}));
  // Datasets at /<layer>/<layer>/<name>:0, little-endian float32, contiguous.
  EXPECT_TRUE(h5::is_group(file, "conv1_conv/conv1_conv"));
  ASSERT_TRUE(h5::is_dataset(file, "/conv1_conv/conv1_conv/kernel:0"));
  ASSERT_TRUE(h5::is_dataset(file, "/conv1_bn/conv1_bn/moving_variance:0"));
  const h5::H5Handle d(H5Dopen2(file.get(), "/conv1_conv/conv1_conv/kernel:0", H5P_DEFAULT), h5::H5Kind::Dataset);
  const h5::H5Handle t(H5Dget_type(d.get()), h5::H5Kind::Datatype);
  EXPECT_GT(H5Tequal(t.get(), H5T_IEEE_F32LE), 0);
  const h5::H5Handle plist(H5Dget_create_plist(d.get()), h5::H5Kind::PropertyList);
  EXPECT_EQ(H5Pget_layout(plist.get()), H5D_CONTIGUOUS);
  const h5::FloatArray kernel = h5::read_float_dataset(file, "conv1_conv/conv1_conv/kernel:0");
  EXPECT_EQ(kernel.shape, (Shape{3, 3, 2, 4}));
  EXPECT_EQ(kernel.values, pattern(17, 72));
  EXPECT_EQ(h5::list_children(file),
            (std::vector<std::string>{"conv1_bn", "conv1_conv", "conv1_relu", "input_1", "predictions"}));
}

TEST(KerasH5, RoundTripChunksLongNameLists) {
  // 3000 names of 26 bytes = 78,000 bytes > Keras's 64,512-byte attribute
  // limit: written as layer_names0 / layer_names1 like Keras, read back whole.
  std::vector<LayerWeights> layers;
  for (int i = 0; i < 3000; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "layer_with_a_long_name%04d", i);
    layers.push_back(LayerWeights{name, {}});
  }
  layers[7].weights.push_back({"kernel", {2, 2}, pattern(3, 4)});
  TempDir tmp;
  const std::string path = tmp.file("many.h5");
  write_keras_legacy_h5(path, layers);
  {
    const h5::H5Handle file = h5::open_file_readonly(path);
    EXPECT_FALSE(h5::has_attribute(file, "layer_names"));
    EXPECT_TRUE(h5::has_attribute(file, "layer_names0"));
    EXPECT_TRUE(h5::has_attribute(file, "layer_names1"));
    EXPECT_FALSE(h5::has_attribute(file, "layer_names2"));
  }
  const KerasWeightsFile f = read_keras_weights(path);
  ASSERT_EQ(f.layers.size(), layers.size());
  for (size_t i = 0; i < layers.size(); ++i) ASSERT_EQ(f.layers[i].layer, layers[i].layer) << i;
  ASSERT_EQ(f.layers[7].weights.size(), 1u);
  EXPECT_EQ(f.layers[7].weights[0].values, pattern(3, 4));
}

TEST(KerasH5, FailedWriteKeepsTheOldFile) {
  TempDir tmp;
  const std::string path = tmp.file("keep.h5");
  write_keras_legacy_h5(path, to_layer_weights(model_spec()));
  const auto size_before = fs::file_size(path);

  std::vector<LayerWeights> bad = to_layer_weights(model_spec());
  bad[1].weights[0].values.pop_back();  // 71 values for a (3, 3, 2, 4) kernel
  EXPECT_TRUE(throws_error_with([&] { write_keras_legacy_h5(path, bad); }, {path, "conv1_conv/kernel", "71"}));
  EXPECT_FALSE(test::temp_file_left_beside(path));
  EXPECT_EQ(fs::file_size(path), size_before);
  expect_layers(read_keras_weights(path), model_spec());
}

TEST(KerasH5, AtomicFileWithoutCommitLeavesNothing) {
  TempDir tmp;
  const std::string path = tmp.file("never.h5");
  {
    h5::AtomicFile file(path);
    EXPECT_TRUE(fs::exists(file.temp_path()));
    const float v[2] = {1.f, 2.f};
    h5::write_float_dataset(file.root(), "a/b", {2}, v);
    // Destroyed without commit(), as when an exception unwinds a writer.
  }
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(test::temp_file_left_beside(path));
}

TEST(KerasH5, WriteRejectsBadInput) {
  TempDir tmp;
  const std::string path = tmp.file("bad.h5");
  auto layers = [] { return to_layer_weights(model_spec()); };
  std::vector<LayerWeights> dup = layers();
  dup.push_back(dup[1]);
  EXPECT_TRUE(throws_error_with([&] { write_keras_legacy_h5(path, dup); }, {path, "conv1_conv", "twice"}));
  std::vector<LayerWeights> slash = layers();
  slash[1].layer = "block/conv";
  EXPECT_TRUE(throws_error_with([&] { write_keras_legacy_h5(path, slash); }, {path, "block/conv"}));
  std::vector<LayerWeights> dup_weight = layers();
  dup_weight[1].weights[1].name = "kernel";
  EXPECT_TRUE(throws_error_with([&] { write_keras_legacy_h5(path, dup_weight); }, {path, "kernel"}));
  EXPECT_FALSE(fs::exists(path));
  EXPECT_FALSE(test::temp_file_left_beside(path));

  const std::string nowhere = tmp.file("no_such_dir/w.h5");
  EXPECT_TRUE(throws_error_with([&] { write_keras_legacy_h5(nowhere, layers()); }, {nowhere}));
}

TEST(KerasH5, Hdf5HelpersRoundTrip) {
  TempDir tmp;
  const std::string path = tmp.file("helpers.h5");
  {
    h5::AtomicFile file(path);
    h5::H5Handle group = h5::create_group(file.root(), "run/state");
    h5::write_int64_attribute(group, "step", -1234567890123LL);
    h5::write_double_attribute(group, "lr", 0.125);
    h5::write_string_attribute(group, "note", "resnet50 + head");
    h5::write_string_list_attribute(group, "names", {"a", "", "longest"});
    const float scalar = 2.5f;
    h5::write_float_dataset(group, "scalar", {}, &scalar);
    h5::write_float_dataset(group, "empty", {0, 3}, nullptr);
    h5::H5Handle moved = std::move(group);  // ownership moves, the id stays open once
    EXPECT_FALSE(group.valid());
    EXPECT_TRUE(moved.valid());
    EXPECT_TRUE(throws_error_with([&] { h5::create_group(file.root(), "run/state"); }, {"run/state", "exists"}));
    file.commit();
  }
  const h5::H5Handle file = h5::open_file_readonly(path);
  const h5::H5Handle g = h5::open_group(file, "run/state");
  EXPECT_EQ(h5::read_int64_attribute(g, "step"), -1234567890123LL);
  EXPECT_EQ(h5::read_double_attribute(g, "lr"), 0.125);
  EXPECT_EQ(h5::read_string_attribute(g, "note"), "resnet50 + head");
  EXPECT_EQ(h5::read_string_list_attribute(g, "names"), (std::vector<std::string>{"a", "", "longest"}));
  EXPECT_EQ(h5::list_attributes(g), (std::vector<std::string>{"lr", "names", "note", "step"}));
  EXPECT_EQ(h5::list_children(g), (std::vector<std::string>{"empty", "scalar"}));
  const h5::FloatArray s = h5::read_float_dataset(g, "scalar");
  EXPECT_TRUE(s.shape.empty());
  EXPECT_EQ(s.values, std::vector<float>{2.5f});
  const h5::FloatArray e = h5::read_float_dataset(g, "empty");
  EXPECT_EQ(e.shape, (Shape{0, 3}));
  EXPECT_TRUE(e.values.empty());
  EXPECT_TRUE(throws_error_with([&] { h5::read_int64_attribute(g, "note"); }, {path, "note", "strings"}));
  EXPECT_TRUE(throws_error_with([&] { h5::read_string_attribute(g, "names"); }, {path, "names", "3 strings"}));
  EXPECT_TRUE(throws_error_with([&] { h5::read_float_dataset(g, "missing"); }, {path, "missing"}));
  EXPECT_TRUE(throws_error_with([&] { h5::open_group(g, "scalar"); }, {path, "scalar", "not a group"}));
  EXPECT_FALSE(h5::has_link(g, "nope/deeper"));
  EXPECT_TRUE(h5::has_link(file, "/run/state/scalar"));
}

// Every dataset tl writes carries its CRC32C; a changed value is caught on
// reading, naming the file and the dataset (Keras itself ignores the attribute).
TEST(KerasH5, WrittenDatasetsCarryAChecksumThatReadingVerifies) {
  TempDir tmp;
  const std::string path = tmp.file("checksummed.h5");
  write_keras_legacy_h5(path, to_layer_weights(model_spec()));
  {
    const h5::H5Handle file = h5::open_file_readonly(path);
    const h5::H5Handle group = h5::open_group(file, "conv1_conv");
    EXPECT_TRUE(h5::read_float_dataset(group, "conv1_conv/kernel:0").checksum_verified);
  }
  {
    const h5::H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), h5::H5Kind::File);
    ASSERT_TRUE(file.valid());
    const h5::H5Handle dset(H5Dopen2(file.get(), "conv1_conv/conv1_conv/bias:0", H5P_DEFAULT), h5::H5Kind::Dataset);
    ASSERT_TRUE(dset.valid());
    const float changed[4] = {9.f, 9.f, 9.f, 9.f};
    ASSERT_GE(H5Dwrite(dset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, changed), 0);
  }
  EXPECT_TRUE(throws_error_with([&] { read_keras_weights(path); }, {path, "conv1_conv/bias:0", "checksum"}));
}

#else  // !TL_HAVE_HDF5

TEST(KerasH5, NoHdf5SupportIsAClearError) {
  EXPECT_FALSE(h5::hdf5_available());
  EXPECT_TRUE(throws_error_with([] { read_keras_weights("weights.h5"); },
                                {"weights.h5", "no HDF5 support", "libhdf5-dev"}));
  EXPECT_TRUE(throws_error_with([] { write_keras_legacy_h5("out.h5", {}); }, {"out.h5", "no HDF5 support"}));
  EXPECT_TRUE(throws_error_with([] { h5::AtomicFile f("ckpt.h5"); }, {"ckpt.h5", "no HDF5 support"}));
}

#endif  // TL_HAVE_HDF5

}  // namespace
}  // namespace tl::test
