// ResNet50 + reference head: structure, names, counts, freezing, summary.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include <set>
#include <sstream>

#include "layers/classifier.h"

namespace tl::test {
namespace {

TEST(ResNet50, ParameterCountsMatchKeras) {
  ResNet50 backbone(0);
  // Keras ResNet50(include_top=False): 23,587,712 values in all.
  EXPECT_EQ(backbone.count_trainable(), 23534592);
  EXPECT_EQ(backbone.count_buffers(), 53120);
  EXPECT_EQ(backbone.count_trainable() + backbone.count_buffers(), 23587712);
}

TEST(ResNet50, LayerNamesAreKeras) {
  ResNet50 backbone(0);
  std::set<std::string> layers;
  int convs = 0, bns = 0;
  for (const auto& nt : backbone.named_parameters()) {
    const std::string layer = nt.name.substr(0, nt.name.find('/'));
    if (layers.insert(layer).second) {
      convs += layer.size() > 5 && layer.substr(layer.size() - 5) == "_conv";
      bns += layer.size() > 3 && layer.substr(layer.size() - 3) == "_bn";
    }
  }
  EXPECT_EQ(convs, 53);
  EXPECT_EQ(bns, 53);
  for (const char* name : {"conv1_conv", "conv1_bn", "conv2_block1_0_conv", "conv3_block4_3_bn",
                           "conv4_block6_2_conv", "conv5_block3_3_bn"})
    EXPECT_TRUE(layers.count(name)) << name;
  EXPECT_FALSE(layers.count("conv2_block2_0_conv"));  // identity shortcut there
}

TEST(ResNet50, ShapesAt224And32) {
  ResNet50 backbone(0);
  EXPECT_EQ(backbone.output_shape({8, 224, 224, 3}), (Shape{8, 7, 7, 2048}));
  EXPECT_EQ(backbone.output_shape({8, 32, 32, 3}), (Shape{8, 1, 1, 2048}));
  EXPECT_EQ(backbone.output_shape({2, 64, 64, 3}), (Shape{2, 2, 2, 2048}));
}

TEST(ResNet50, KernelsAreOHWI) {
  ResNet50 backbone(0);
  const std::map<std::string, Shape> expected = {{"conv1_conv/kernel", {64, 7, 7, 3}},
                                                 {"conv2_block1_2_conv/kernel", {64, 3, 3, 64}},
                                                 {"conv3_block1_0_conv/kernel", {512, 1, 1, 256}}};
  size_t found = 0;
  for (const auto& nt : backbone.named_parameters()) {
    auto it = expected.find(nt.name);
    if (it == expected.end()) continue;
    ++found;
    EXPECT_EQ(nt.tensor.shape(), it->second) << nt.name;
  }
  EXPECT_EQ(found, expected.size()) << "a kernel named above is missing from the backbone";
}

TEST(ReferenceHead, FlattenAndAverageCounts) {
  ClassifierConfig config;
  Classifier flat(config);
  // Flatten at 224: 100,352 features. BN (4 x 100,352: 2 trainable, 2 stats),
  // then Dense 100352->256, 256->128, 128->64, 64->10.
  const int64_t f = 7 * 7 * 2048;
  const int64_t head_trainable = 2 * f + (f * 256 + 256) + 2 * 256 + (256 * 128 + 128) + 2 * 128 +
                                 (128 * 64 + 64) + (64 * 10 + 10);
  EXPECT_EQ(flat.head().count_trainable(), head_trainable);
  EXPECT_EQ(flat.head().count_buffers(), 2 * f + 2 * 256 + 2 * 128);
  config.pool = HeadPool::kAverage;
  Classifier avg(config);
  EXPECT_EQ(avg.head().count_trainable(),
            2 * 2048 + (2048 * 256 + 256) + 2 * 256 + (256 * 128 + 128) + 2 * 128 + (128 * 64 + 64) + 650);
  EXPECT_EQ(avg.output_shape({4, 224, 224, 3}), (Shape{4, 10}));
}

TEST(Freeze, BackboneFreezesEverythingButTheHead) {
  ClassifierConfig config;
  config.input_size = 32;
  Classifier model(config);
  model.apply_freeze(FreezeSpec::parse("backbone"));
  EXPECT_EQ(model.backbone().count_trainable(), 0);
  EXPECT_EQ(model.count_trainable(), model.head().count_trainable());
  for (Module* m : model.backbone().leaf_modules())
    if (auto* bn = dynamic_cast<BatchNorm*>(m)) EXPECT_EQ(bn->mode(), BatchNormMode::kInference) << bn->name();
  model.apply_freeze(FreezeSpec::parse("none"));
  EXPECT_EQ(model.backbone().count_trainable(), 23534592);
}

TEST(Freeze, UpToStageFreezesThePrefixOnly) {
  ClassifierConfig config;
  config.input_size = 32;
  Classifier model(config);
  model.apply_freeze(FreezeSpec::parse("up-to:conv3"));
  for (const auto& nt : model.named_parameters()) {
    const bool early = nt.name.rfind("conv1_", 0) == 0 || nt.name.rfind("conv2_", 0) == 0 ||
                       nt.name.rfind("conv3_", 0) == 0;
    EXPECT_EQ(nt.tensor.requires_grad(), !early) << nt.name;
  }
  FreezeSpec keep_stats = FreezeSpec::parse("up-to:2");
  keep_stats.frozen_bn_inference = false;
  model.apply_freeze(keep_stats);
  for (Module* m : model.backbone().leaf_modules())
    if (auto* bn = dynamic_cast<BatchNorm*>(m)) EXPECT_EQ(bn->mode(), BatchNormMode::kFollowModel);
}

TEST(Freeze, BadSpecIsAClearErrorThatDoesNotNameAnAppFlag) {
  for (const char* bad : {"all", "up-to:6", "up-to:", "up-to:conv9", ""}) {
    try {
      FreezeSpec::parse(bad);
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("expected none, backbone or up-to:<stage>"), std::string::npos) << message;
      EXPECT_EQ(message.find("--"), std::string::npos) << "the library names an app's flag: " << message;
    }
  }
}

TEST(Summary, ListsLayersShapesAndModes) {
  ClassifierConfig config;
  config.pool = HeadPool::kAverage;
  Classifier model(config);
  model.apply_freeze(FreezeSpec::parse("up-to:conv2"));
  std::ostringstream os;
  print_summary(os, model, {1, 224, 224, 3});
  const std::string s = os.str();
  EXPECT_NE(s.find("conv5_block3_3_bn"), std::string::npos);
  EXPECT_NE(s.find("(7, 7, 2048)"), std::string::npos);
  EXPECT_NE(s.find("inference (frozen)"), std::string::npos);
  EXPECT_NE(s.find("BN moving statistics: "), std::string::npos);
}

}  // namespace
}  // namespace tl::test
