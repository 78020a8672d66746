// Loading a model from Keras weights by name, and exporting it back.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <tuple>

#include "engine/ops.h"
#include "layers/basic.h"
#include "layers/classifier.h"
#include "tests/support/compare.h"
#include "weights/model_weights.h"

namespace tl::test {
namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tl_test_" + name)).string();
}

// Runs the backbone at 32x32 in inference mode.
Tensor backbone_output(ResNet50& net, const Tensor& x) {
  Context ctx;
  NoGradGuard no_grad(ctx);
  net.eval();
  return net.forward(ctx, x);
}

TEST(ModelWeights, ExportThenLoadIsBitIdentical) {
  ResNet50 source(/*seed=*/1), target(/*seed=*/2);
  const std::string path = temp_path("export.h5");
  export_keras_h5(source, path);
  const LoadReport report = load_keras_weights(target, path);
  EXPECT_EQ(report.values_loaded, 23587712);
  EXPECT_TRUE(report.unfilled.empty() && report.unused_in_file.empty()) << report.summary();
  const Tensor x = Tensor::full({1, 32, 32, 3}, 0.5f);
  // Same weights, same code: the outputs must agree bit for bit.
  EXPECT_TRUE(all_close(backbone_output(target, x), backbone_output(source, x), {0.0, 0.0}, "output"));
  std::remove(path.c_str());
}

TEST(ModelWeights, KernelsAreStoredHWIOInTheFile) {
  ResNet50 net(3);
  const std::string path = temp_path("layout.h5");
  export_keras_h5(net, path);
  const KerasWeightsFile file = read_keras_weights(path);
  const LayerWeights* conv1 = file.find("conv1_conv");
  ASSERT_NE(conv1, nullptr);
  EXPECT_EQ(conv1->find("kernel")->shape, (Shape{7, 7, 3, 64}));
  const LayerWeights* bn = file.find("conv1_bn");
  ASSERT_NE(bn, nullptr);
  ASSERT_EQ(bn->weights.size(), 4u);  // Keras order: gamma, beta, moving_mean, moving_variance
  EXPECT_EQ(bn->weights[2].name, "moving_mean");
  // OHWI (o, h, w, i) in tl is HWIO (h, w, i, o) in the file.
  const std::vector<float> ohwi = net.named_parameters()[0].tensor.to_vector();
  const auto& hwio = conv1->find("kernel")->values;
  const int o = 5, h = 2, w = 6, i = 1;
  EXPECT_EQ(hwio[((h * 7 + w) * 3 + i) * 64 + o], ohwi[((o * 7 + h) * 7 + w) * 3 + i]);
  std::remove(path.c_str());
}

TEST(ModelWeights, MissingLayerIsAnErrorNamingIt) {
  ResNet50 net(4);
  std::vector<LayerWeights> layers = keras_layers_of(net);
  std::erase_if(layers, [](const LayerWeights& l) { return l.layer == "conv4_block2_1_conv"; });
  const std::string path = temp_path("missing.h5");
  write_keras_legacy_h5(path, layers);
  try {
    load_keras_weights(net, path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conv4_block2_1_conv/kernel"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
  // Not strict: loads the rest and reports the gap.
  const LoadReport report = load_keras_weights(net, path, LoadOptions{.strict = false});
  EXPECT_EQ(report.unfilled.size(), 2u);
  std::remove(path.c_str());
}

TEST(ModelWeights, WrongShapeNamesLayerAndBothShapes) {
  ResNet50 net(5);
  std::vector<LayerWeights> layers = keras_layers_of(net);
  for (LayerWeights& l : layers)
    if (l.layer == "conv2_block1_2_conv") {
      l.weights[0].shape = {3, 3, 64, 32};
      l.weights[0].values.resize(3 * 3 * 64 * 32);
    }
  const std::string path = temp_path("shape.h5");
  write_keras_legacy_h5(path, layers);
  try {
    load_keras_weights(net, path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conv2_block1_2_conv"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(3, 3, 64, 32)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(3, 3, 64, 64)"), std::string::npos) << msg;
  }
  std::remove(path.c_str());
}

TEST(ModelWeights, TopFileIntoNoTopModelSaysWhatItSkipped) {
  ResNet50 net(6);
  std::vector<LayerWeights> layers = keras_layers_of(net);
  LayerWeights top;
  top.layer = "predictions";
  top.weights.push_back({"kernel", {2048, 1000}, std::vector<float>(2048 * 1000, 0.01f)});
  top.weights.push_back({"bias", {1000}, std::vector<float>(1000, 0.0f)});
  layers.push_back(top);
  const std::string path = temp_path("top.h5");
  write_keras_legacy_h5(path, layers);
  const LoadReport report = load_keras_weights(net, path);  // strict, and still fine
  EXPECT_EQ(report.skipped_top.size(), 2u);
  EXPECT_NE(report.summary().find("predictions/kernel"), std::string::npos) << report.summary();
  std::remove(path.c_str());
}

// ---- values a Keras file must not hold ----------------------------------
// Keras weight files carry no checksums, so the loader checks what it can:
// every value finite, every BN moving variance >= 0 (a negative one makes
// sqrt(var + eps) NaN). One clean error naming the file and the weight.

// A BatchNorm "bn" over 3 channels, as a Keras file would hold it.
std::vector<LayerWeights> bn_layers() {
  BatchNorm bn("bn", 3);
  return keras_layers_of(bn);
}

NamedArray& weight_of(std::vector<LayerWeights>& layers, const std::string& name) {
  for (LayerWeights& l : layers)
    for (NamedArray& a : l.weights)
      if (a.name == name) return a;
  throw std::runtime_error("no weight " + name);
}

::testing::AssertionResult load_fails_with(const std::vector<LayerWeights>& layers,
                                           const std::vector<std::string>& needles) {
  const std::string path = temp_path("bad_values.h5");
  write_keras_legacy_h5(path, layers);
  BatchNorm target("bn", 3);
  ::testing::AssertionResult result = ::testing::AssertionFailure() << "did not throw";
  try {
    load_keras_weights(target, path);
  } catch (const Error& e) {
    const std::string message = e.what();
    result = ::testing::AssertionSuccess() << message;
    if (message.find('\n') != std::string::npos)
      result = ::testing::AssertionFailure() << "not one line: " << message;
    std::vector<std::string> all = needles;
    all.push_back(path);
    for (const std::string& needle : all)
      if (message.find(needle) == std::string::npos)
        result = ::testing::AssertionFailure() << "\"" << message << "\" lacks \"" << needle << "\"";
  }
  std::remove(path.c_str());
  return result;
}

TEST(ModelWeights, NonFiniteValuesAreRefusedNamingTheWeight) {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<std::tuple<std::string, int, float, std::string>> cases = {
      {"gamma", 0, nan, "NaN"},
      {"beta", 2, inf, "inf"},
      {"moving_mean", 1, -inf, "-inf"},
      {"moving_variance", 0, nan, "NaN"},
  };
  for (const auto& [weight, index, value, needle] : cases) {
    std::vector<LayerWeights> layers = bn_layers();
    weight_of(layers, weight).values[index] = value;
    EXPECT_TRUE(load_fails_with(layers, {"bn/" + weight, needle, "index " + std::to_string(index)})) << weight;
  }
}

TEST(ModelWeights, NegativeMovingVarianceIsRefused) {
  std::vector<LayerWeights> layers = bn_layers();
  weight_of(layers, "moving_variance").values[1] = -0.25f;
  EXPECT_TRUE(load_fails_with(layers, {"bn/moving_variance", "-0.25", "negative"}));
}

TEST(ModelWeights, NonFiniteValueInAConvKernelIsRefused) {
  Conv2d conv("conv", 3, 4, 3, 1, 1, 7);
  std::vector<LayerWeights> layers = keras_layers_of(conv);
  layers[0].weights[0].values[17] = std::numeric_limits<float>::quiet_NaN();  // HWIO index 17
  const std::string path = temp_path("nan_conv.h5");
  write_keras_legacy_h5(path, layers);
  Conv2d target("conv", 3, 4, 3, 1, 1, 8);
  try {
    load_keras_weights(target, path);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("conv/kernel"), std::string::npos) << msg;
    EXPECT_NE(msg.find("NaN"), std::string::npos) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace tl::test
