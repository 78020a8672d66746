// Frozen-backbone feature caching (layers/feature_cache.h, train_cifar
// --feature-cache): a training run on cached backbone outputs is the run on
// images, bit for bit on the CPU, and the cache is refused, saying why,
// where it would change the result.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "apps/run_config.h"
#include "engine/context.h"
#include "layers/classifier.h"
#include "layers/feature_cache.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"
#include "tests/support/train_cifar_cli.h"

namespace tl::test {
namespace {

using cli::RunResult;
using cli::run_train_cifar;

Tensor random_images(int64_t batch, uint64_t seed) {
  Tensor images = Tensor::empty({batch, 32, 32, 3}, DType::U8);
  const std::vector<float> noise = random_floats(static_cast<size_t>(images.numel()), seed, 0, 255);
  for (size_t i = 0; i < noise.size(); ++i) images.data<uint8_t>()[i] = static_cast<uint8_t>(noise[i]);
  return images;
}

std::unique_ptr<Classifier> fixed_backbone_model() {
  ClassifierConfig config;
  config.input_size = 32;
  config.pool = HeadPool::kAverage;
  config.seed = 4;
  auto model = std::make_unique<Classifier>(config);
  FreezeSpec freeze;
  freeze.kind = FreezeSpec::kBackbone;
  model->apply_freeze(freeze);
  return model;
}

// An image's backbone output can depend, in its last bits, on the batch it
// is computed in: OpenBLAS's SGEMM rounds a row differently with the GEMM's
// row count and the row's place in it (measured: up to ~1e-5 on features of
// 1-10). The uncached run's features of an image vary the same way from
// epoch to epoch, as the shuffle moves it between batches. So a cached run
// equals its uncached twin to that rounding; bit for bit where the batches
// happen to round alike, as in FeatureCacheCli below. 1e-4 absolute and
// relative is ~10x the largest difference seen.
TEST(FeatureCache, OtherBatchesAgreeToRounding) {
  const auto owned = fixed_backbone_model();
  Classifier& model = *owned;
  ASSERT_TRUE(model.backbone_is_fixed());
  Context ctx;
  const Tensor images = random_images(6, 11);
  const Tensor in_order = compute_backbone_features(ctx, model, images, 3);
  // The same images in another order, so each batch of 3 holds others.
  const std::vector<int64_t> shuffle = {4, 0, 5, 2, 1, 3};
  Tensor shuffled_images = Tensor::empty(images.shape(), DType::U8);
  const int64_t image_bytes = images.numel() / 6;
  for (size_t i = 0; i < shuffle.size(); ++i)
    std::memcpy(shuffled_images.data<uint8_t>() + int64_t(i) * image_bytes,
                images.data<uint8_t>() + shuffle[i] * image_bytes, size_t(image_bytes));
  const Tensor shuffled = compute_backbone_features(ctx, model, shuffled_images, 3);
  EXPECT_TRUE(all_close(shuffled, gather_rows(in_order, shuffle), {1e-4, 1e-4}, "shuffled batches"));
  EXPECT_TRUE(all_close(compute_backbone_features(ctx, model, images, 1), in_order, {1e-4, 1e-4},
                        "batches of 1 vs 3"));
}

TEST(FeatureCache, GatherRowsKeepsTheBatchOrder) {
  Tensor rows = Tensor::empty({4, 2});
  for (int i = 0; i < 8; ++i) rows.data<float>()[i] = float(i);
  const Tensor picked = gather_rows(rows, {3, 0, 3});
  EXPECT_EQ(picked.shape(), (Shape{3, 2}));
  EXPECT_EQ(picked.to_vector(), (std::vector<float>{6, 7, 0, 1, 6, 7}));
  EXPECT_THROW(gather_rows(rows, {4}), Error);
}

TEST(FeatureCache, TrainableOrBatchStatisticBackboneIsNotFixed) {
  ClassifierConfig config;
  config.input_size = 32;
  config.pool = HeadPool::kAverage;
  Classifier model(config);
  EXPECT_FALSE(model.backbone_is_fixed());  // nothing frozen
  FreezeSpec freeze;
  freeze.kind = FreezeSpec::kBackbone;
  freeze.frozen_bn_inference = false;  // frozen weights, BNs still on batch statistics
  model.apply_freeze(freeze);
  EXPECT_FALSE(model.backbone_is_fixed());
  freeze.kind = FreezeSpec::kUpToStage;
  freeze.stage = 4;
  freeze.frozen_bn_inference = true;
  model.apply_freeze(freeze);
  EXPECT_FALSE(model.backbone_is_fixed());  // conv5 still trains
}

const std::string kFrozenRun =
    "--dataset synthetic --synthetic-size 72 --image-size 32 --pool avg --batch-size 16 "
    "--weights none --optimizer adam --lr 1e-3 --val-split 0.2 --test-subset 8 --seed 5 "
    "--freeze backbone --no-augment --epochs 2 ";

// 48 training images in batches of 16 and 12 validation images: here the
// cached run equals the run on images exactly (see OtherBatchesAgreeToRounding).
TEST(FeatureCacheCli, CachedRunEqualsTheRunOnImagesBitForBit) {
  const std::string cached = cli::fresh_dir("feature_cache_on"), plain = cli::fresh_dir("feature_cache_off");
  const RunResult on = run_train_cifar(kFrozenRun + "--feature-cache on --output-dir " + cached);
  ASSERT_EQ(on.exit_code, 0) << on.output;
  EXPECT_NE(on.output.find("Feature cache: the frozen backbone's outputs for"), std::string::npos)
      << on.output;
  const RunResult off = run_train_cifar(kFrozenRun + "--feature-cache off --output-dir " + plain);
  ASSERT_EQ(off.exit_code, 0) << off.output;
  EXPECT_EQ(off.output.find("Feature cache:"), std::string::npos) << off.output;
  cli::expect_same_checkpoints(cached + "/checkpoints/last.h5", plain + "/checkpoints/last.h5");
  const auto rows_on = cli::deterministic_metrics(cached);
  EXPECT_EQ(rows_on.size(), 3u);  // the header and two epochs
  EXPECT_EQ(rows_on, cli::deterministic_metrics(plain));
}

TEST(FeatureCacheCli, OnIsRefusedWhereItWouldChangeTheResultSayingWhy) {
  const std::string out = cli::fresh_dir("feature_cache_refused");
  const std::string base =
      "--dataset synthetic --synthetic-size 40 --image-size 32 --pool avg --batch-size 8 "
      "--weights none --epochs 1 --feature-cache on --output-dir " + out + " ";
  RunResult r = run_train_cifar(base + "--freeze backbone");  // augmentation on by default
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--feature-cache on: augmentation"), std::string::npos) << r.output;
  r = run_train_cifar(base + "--no-augment");  // nothing frozen
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--freeze backbone with --frozen-bn inference"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tl::test
