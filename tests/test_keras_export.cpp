// Writing ResNet50 + the reference head so that Keras's own loaders accept
// it, and reading the files Keras writes without tl's layer names. The
// expected orders and group paths come from real Keras
// (tests/data/keras_layer_order/, README.md there): tests never need Keras.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "layers/classifier.h"
#include "tests/support/compare.h"
#include "weights/hdf5.h"
#include "weights/model_weights.h"

namespace tl::test {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tl_test_keras_export_" + name)).string();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string fixture(const std::string& name) {
  const std::string text = read_text(std::string(TL_TEST_DATA_DIR) + "/keras_layer_order/" + name);
  if (text.empty()) ADD_FAILURE() << "missing fixture " << name;
  return text;
}

// The strings of the JSON array `key` (a flat list of strings).
std::vector<std::string> string_array(const std::string& json, const std::string& key) {
  const size_t k = json.find("\"" + key + "\": [");
  if (k == std::string::npos) return {};
  const size_t end = json.find(']', k);
  std::vector<std::string> out;
  const std::string body = json.substr(k, end - k);
  const std::regex item("\"([^\"]*)\"");
  for (auto it = std::sregex_iterator(body.begin() + static_cast<long>(key.size()) + 2, body.end(), item);
       it != std::sregex_iterator(); ++it)
    out.push_back((*it)[1]);
  return out;
}

// weights_h5.groups: [path, layer name, number of vars] in model order.
std::vector<std::pair<std::string, std::string>> weights_h5_groups(const std::string& json) {
  std::vector<std::pair<std::string, std::string>> out;
  const std::regex row("\\[\\s*\"(layers/[^\"]*)\",\\s*\"([^\"]*)\",\\s*\\d+\\s*\\]");
  for (auto it = std::sregex_iterator(json.begin(), json.end(), row); it != std::sregex_iterator(); ++it)
    out.emplace_back((*it)[1], (*it)[2]);
  return out;
}

ClassifierConfig config_for(HeadPool pool, uint64_t seed) {
  ClassifierConfig c;
  c.input_size = 32;
  c.pool = pool;
  c.seed = seed;
  return c;
}

std::vector<std::string> weighted_names(const std::vector<LayerWeights>& layers) {
  std::vector<std::string> out;
  for (const LayerWeights& l : layers)
    if (!l.weights.empty()) out.push_back(l.layer);
  return out;
}

Tensor predict(Classifier& model) {
  Context ctx;
  NoGradGuard no_grad(ctx);
  model.eval();
  Tensor x = Tensor::full({2, 32, 32, 3}, 0.25f);
  return model.forward(ctx, x);
}

TEST(KerasExport, LegacyOrderIsKerasLayerNamesOrder) {
  for (const char* file : {"keras3_15_avg_fn.json", "tf_keras2_21_avg_fn.json", "keras3_15_flatten_fn.json",
                           "tf_keras2_21_flatten_fn.json", "keras3_5_avg_fn.json"}) {
    const std::string json = fixture(file);
    const bool flatten = std::string(file).find("flatten") != std::string::npos;
    Classifier model(config_for(flatten ? HeadPool::kFlatten : HeadPool::kAverage, 1));
    const std::vector<std::string> mine = weighted_names(keras_layers_of(model));
    const std::set<std::string> mine_set(mine.begin(), mine.end());
    // Keras's model.layers restricted to the layers with weights: the
    // sequence its legacy loader pairs by position.
    std::vector<std::string> keras;
    for (const std::string& name : string_array(json, "model_layers"))
      if (mine_set.count(name)) keras.push_back(name);
    ASSERT_EQ(keras.size(), 113u) << file;  // 53 conv + 53 BN + the head's 3 BN + 4 Dense
    EXPECT_EQ(mine, keras) << file;
  }
}

TEST(KerasExport, Keras3GroupPathsAreKeras) {
  for (const char* file : {"keras3_15_avg_fn.json", "keras3_15_flatten_seq.json", "keras3_5_avg_seq.json",
                           "keras3_5_flatten_fn.json"}) {
    const std::string json = fixture(file);
    const std::string name = file;
    const bool flatten = name.find("flatten") != std::string::npos;
    const KerasConstruction construction =
        name.find("_seq") != std::string::npos ? KerasConstruction::kSequential : KerasConstruction::kFunctional;
    Classifier model(config_for(flatten ? HeadPool::kFlatten : HeadPool::kAverage, 1));
    const std::vector<LayerWeights> layers = keras_layers_of(model);
    const std::vector<std::string> paths = keras3_group_paths(layers, construction);
    std::vector<std::pair<std::string, std::string>> mine;
    for (size_t i = 0; i < layers.size(); ++i)
      if (!paths[i].empty()) mine.emplace_back(paths[i], layers[i].layer);
    const auto keras = weights_h5_groups(json);
    ASSERT_EQ(keras.size(), 113u) << file;
    EXPECT_EQ(mine, keras) << file;
  }
}

TEST(KerasExport, WeightsH5RoundTripIsBitIdentical) {
  for (KerasConstruction construction : {KerasConstruction::kFunctional, KerasConstruction::kSequential}) {
    Classifier source(config_for(HeadPool::kAverage, 1)), target(config_for(HeadPool::kAverage, 2));
    const std::string path = temp_path("rt.weights.h5");
    export_keras_weights_h5(source, path, construction);
    const KerasWeightsFile file = read_keras_weights(path);
    EXPECT_EQ(file.format, "keras3-weights-h5");
    EXPECT_FALSE(file.layers_named_by_class);
    const LoadReport report = load_keras_weights(target, file);
    EXPECT_EQ(report.tensors_loaded, 338);
    EXPECT_TRUE(report.mapped.empty()) << report.summary();
    EXPECT_TRUE(all_close(predict(target), predict(source), {0.0, 0.0}, "logits"));
    std::remove(path.c_str());
  }
}

TEST(KerasExport, ExportChoosesFormatBySuffix) {
  Classifier source(config_for(HeadPool::kFlatten, 3)), target(config_for(HeadPool::kFlatten, 4));
  const std::string legacy = temp_path("m.h5"), v3 = temp_path("m.weights.h5");
  export_keras(source, legacy);
  export_keras(source, v3);
  EXPECT_EQ(read_keras_weights(legacy).format, "keras-legacy-h5");
  EXPECT_EQ(read_keras_weights(v3).format, "keras3-weights-h5");
  load_keras_weights(target, legacy);
  EXPECT_TRUE(all_close(predict(target), predict(source), {0.0, 0.0}, "logits"));
  EXPECT_THROW(export_keras(source, temp_path("m.pt")), Error);
  std::remove(legacy.c_str());
  std::remove(v3.c_str());
}

// A Keras 3.0-3.5 .weights.h5: the same groups, no vars@name attribute.
void write_unnamed_copy(const KerasWeightsFile& named, const std::string& path) {
  h5::AtomicFile file(path);
  h5::create_group(file.root(), "vars");
  for (const LayerWeights& l : named.layers) {
    const h5::H5Handle vars = h5::create_group(file.root(), l.source);
    for (size_t k = 0; k < l.weights.size(); ++k)
      h5::write_float_dataset(vars, std::to_string(k), l.weights[k].shape, l.weights[k].values.data());
  }
  // Keras 3 compiled models also carry the optimizer's variables: never weights of a layer.
  const float step = 3;
  h5::write_float_dataset(file.root(), "optimizer/vars/0", {}, &step);
  file.commit();
}

TEST(KerasExport, Keras35WeightsH5IsMappedByGroupPath) {
  for (KerasConstruction construction : {KerasConstruction::kFunctional, KerasConstruction::kSequential}) {
    Classifier source(config_for(HeadPool::kAverage, 5)), target(config_for(HeadPool::kAverage, 6));
    const std::string named = temp_path("named.weights.h5"), unnamed = temp_path("unnamed.weights.h5");
    export_keras_weights_h5(source, named, construction);
    write_unnamed_copy(read_keras_weights(named), unnamed);
    const KerasWeightsFile file = read_keras_weights(unnamed);
    EXPECT_TRUE(file.layers_named_by_class);
    const LoadReport report = load_keras_weights(target, file);
    EXPECT_EQ(report.tensors_loaded, 338);
    const std::string prefix = construction == KerasConstruction::kSequential ? "layers/functional/layers/" : "layers/";
    const std::string expected = prefix + "batch_normalization_3 -> conv2_block1_0_bn";
    EXPECT_NE(report.summary().find(expected), std::string::npos) << report.summary();
    EXPECT_TRUE(all_close(predict(target), predict(source), {0.0, 0.0}, "logits"));
    std::remove(named.c_str());
    std::remove(unnamed.c_str());
  }
}

TEST(KerasExport, RenamedHeadIsMatchedByClassAndOrderAndReported) {
  Classifier source(config_for(HeadPool::kAverage, 7)), target(config_for(HeadPool::kAverage, 8));
  std::vector<LayerWeights> layers = keras_layers_of(source);
  // The same model built a second time in one Python process.
  const std::map<std::string, std::string> second_build = {
      {"batch_normalization", "batch_normalization_3"}, {"batch_normalization_1", "batch_normalization_4"},
      {"batch_normalization_2", "batch_normalization_5"}, {"dense", "dense_4"}, {"dense_1", "dense_5"},
      {"dense_2", "dense_6"}, {"dense_3", "dense_7"}, {"dropout", "dropout_3"}, {"dropout_1", "dropout_4"},
      {"dropout_2", "dropout_5"}, {"global_average_pooling2d", "global_average_pooling2d_1"}};
  for (LayerWeights& l : layers)
    if (auto it = second_build.find(l.layer); it != second_build.end()) l.layer = it->second;
  const std::string path = temp_path("renamed.h5");
  write_keras_legacy_h5(path, layers);
  const LoadReport report = load_keras_weights(target, path);
  EXPECT_EQ(report.tensors_loaded, 338);
  EXPECT_NE(report.summary().find("batch_normalization_3 -> batch_normalization (head matched by class and order)"),
            std::string::npos)
      << report.summary();
  EXPECT_NE(report.summary().find("dense_7 -> dense_3"), std::string::npos) << report.summary();
  EXPECT_TRUE(all_close(predict(target), predict(source), {0.0, 0.0}, "logits"));
  std::remove(path.c_str());
}

TEST(KerasExport, EveryProblemIsInOneReport) {
  // A head with 2 hidden layers where the model has 3 (issue 11, point 4):
  // the shape mismatch of dense_2 and the missing layers are reported together.
  Classifier source(config_for(HeadPool::kAverage, 9)), target(config_for(HeadPool::kAverage, 10));
  std::vector<LayerWeights> layers = keras_layers_of(source);
  std::erase_if(layers, [](const LayerWeights& l) { return l.layer == "batch_normalization_2" || l.layer == "dense_3"; });
  for (LayerWeights& l : layers)
    if (l.layer == "dense_2") {
      l.weights[0].shape = {128, 10};
      l.weights[0].values.assign(1280, 0.f);
      l.weights[1].shape = {10};
      l.weights[1].values.assign(10, 0.f);
    }
  const std::string path = temp_path("two_hidden.h5");
  write_keras_legacy_h5(path, layers);
  try {
    load_keras_weights(target, path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* needle : {"dense_2", "(128, 10)", "(128, 64)", "batch_normalization_2/gamma", "dense_3/kernel"})
      EXPECT_NE(msg.find(needle), std::string::npos) << needle << " not in: " << msg;
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tl::test
