// Checkpoints: a save -> load round trip restores the model, the optimiser
// and the random stream so exactly that training continues bit for bit.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "layers/classifier.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"
#include "weights/checkpoint.h"

namespace tl::test {
namespace {

constexpr Tolerance kBitIdentical{0.0, 0.0};

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("tl_test_" + name)).string();
}

ClassifierConfig small_config() {
  ClassifierConfig config;
  config.input_size = 32;
  config.pool = HeadPool::kAverage;
  config.seed = 11;
  return config;
}

std::unique_ptr<Adam> make_adam(Module& model) {
  AdamGroup group;
  for (auto& nt : model.named_parameters()) group.params.push_back(nt.tensor);
  group.hyper.lr = 1e-3f;
  return std::make_unique<Adam>(std::vector<AdamGroup>{group});
}

// One training step on a fixed batch; returns the loss.
float train_step(Context& ctx, Classifier& model, Optimizer& opt) {
  const Tensor x = Tensor::from_vector({4, 32, 32, 3}, random_floats(4 * 32 * 32 * 3, 5, -50, 50));
  Tensor labels = Tensor::empty({4}, DType::I32);
  for (int i = 0; i < 4; ++i) labels.data<int32_t>()[i] = i * 2;
  model.train();
  opt.zero_grad();
  Tensor loss = ops::softmax_cross_entropy(ctx, model.forward(ctx, x), labels);
  backward(ctx, loss);
  opt.step(ctx);
  return loss.to_vector()[0];
}

TEST(Checkpoint, ResumeContinuesBitForBit) {
  const std::string path = temp_path("resume.h5");
  // Run A: two steps without stopping.
  Classifier a(small_config());
  auto opt_a = make_adam(a);
  Context ctx_a(Device::CPU, 99);
  train_step(ctx_a, a, *opt_a);
  TrainingProgress progress{1, 1, 99, ctx_a.random_stream_position(), "{\"test\": true}"};
  save_checkpoint(path, a, opt_a.get(), progress);
  const float loss_a = train_step(ctx_a, a, *opt_a);

  // Run B: a fresh model (other init seed) resumed from the checkpoint.
  ClassifierConfig other = small_config();
  other.seed = 12;
  Classifier b(other);
  auto opt_b = make_adam(b);
  const LoadedCheckpoint loaded = load_checkpoint(path, b);
  EXPECT_EQ(loaded.progress.epoch, 1);
  EXPECT_EQ(loaded.progress.step, 1);
  EXPECT_EQ(loaded.progress.seed, 99u);
  EXPECT_EQ(loaded.progress.config_json, "{\"test\": true}");
  EXPECT_EQ(loaded.optimizer_kind, "adam");
  Context ctx_b(Device::CPU, loaded.progress.seed);
  ctx_b.set_random_stream_position(loaded.progress.random_stream_position);
  opt_b->load_state(ctx_b, loaded.optimizer_state, loaded.optimizer_steps);
  const float loss_b = train_step(ctx_b, b, *opt_b);

  EXPECT_EQ(loss_a, loss_b);
  const auto pa = a.named_parameters(), pb = b.named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    ASSERT_TRUE(all_close(pb[i].tensor, pa[i].tensor, kBitIdentical, pa[i].name));
  const auto ba = a.named_buffers(), bb = b.named_buffers();
  for (size_t i = 0; i < ba.size(); ++i)
    ASSERT_TRUE(all_close(bb[i].tensor, ba[i].tensor, kBitIdentical, ba[i].name));
  std::remove(path.c_str());
}

TEST(Checkpoint, OtherModelIsAClearError) {
  const std::string path = temp_path("other.h5");
  Classifier avg(small_config());
  save_checkpoint(path, avg, nullptr, {});
  ClassifierConfig flatten_config = small_config();
  flatten_config.pool = HeadPool::kFlatten;
  flatten_config.input_size = 64;
  Classifier flat(flatten_config);
  try {
    load_checkpoint(path, flat);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::remove(path.c_str());
}

TEST(Checkpoint, NotACheckpointIsAClearError) {
  const std::string path = temp_path("not_a_checkpoint.h5");
  { std::ofstream(path) << "hello"; }
  Classifier model(small_config());
  EXPECT_THROW(load_checkpoint(path, model), Error);
  std::remove(path.c_str());
}

TEST(Checkpoint, MissingDirectoryIsAClearError) {
  Classifier model(small_config());
  try {
    save_checkpoint("/nonexistent-dir-tl/ckpt.h5", model, nullptr, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-tl"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tl::test
