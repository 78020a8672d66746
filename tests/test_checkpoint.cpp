// Checkpoints: a save -> load round trip restores the model, the optimiser
// and the random stream so exactly that training continues bit for bit.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "layers/classifier.h"
#include "layers/training_step.h"
#include "tests/support/compare.h"
#include "tests/support/file_size_limit.h"
#include "tests/support/gradcheck.h"
#include "tests/support/optimizers.h"
#include "tests/support/temp_files.h"
#include "layers/basic.h"
#include "weights/checkpoint.h"
#include "weights/crc32c.h"
#include "weights/hdf5.h"

#ifdef TL_HAVE_HDF5
#include <hdf5.h>
#endif

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

// One training step (layers/training_step.h) on a fixed batch of four
// images; returns the loss.
float step_on_fixed_batch(Context& ctx, Classifier& model, Optimizer& opt) {
  Tensor images = Tensor::empty({4, 32, 32, 3}, DType::U8);
  const std::vector<float> noise = random_floats(static_cast<size_t>(images.numel()), 5, 0, 255);
  for (size_t i = 0; i < noise.size(); ++i)
    images.data<uint8_t>()[i] = static_cast<uint8_t>(noise[i]);
  Tensor labels = Tensor::empty({4}, DType::I32);
  for (int i = 0; i < 4; ++i) labels.data<int32_t>()[i] = i * 2;
  return training_step(ctx, model, opt, images, labels).loss;
}

TEST(Checkpoint, ResumeContinuesBitForBit) {
  const std::string path = temp_path("resume.h5");
  // Run A: two steps without stopping.
  Classifier a(small_config());
  auto opt_a = make_adam(a);
  Context ctx_a(Device::CPU, 99);
  step_on_fixed_batch(ctx_a, a, *opt_a);
  TrainingProgress progress{1, 1, 99, ctx_a.random_stream_position(), "{\"test\": true}"};
  save_checkpoint(path, a, opt_a.get(), progress);
  const float loss_a = step_on_fixed_batch(ctx_a, a, *opt_a);

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
  const float loss_b = step_on_fixed_batch(ctx_b, b, *opt_b);

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

// ---- integrity: checksums and value checks on load ------------------------
// A checkpoint's tensors carry a CRC32C each; loading verifies them and
// refuses non-finite values and negative variances, naming the tensor.

TEST(Crc32c, KnownAnswers) {
  // The check value of CRC-32C (RFC 3720, iSCSI) and its standard vectors.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  const std::vector<unsigned char> zeros(32, 0x00), ones(32, 0xFF);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), ones.size()), 0x62A8AB43u);
  // Continuing from a previous CRC equals one pass over the whole.
  EXPECT_EQ(crc32c("6789", 4, crc32c("12345", 5)), 0xE3069283u);
  // Floats are summed in little-endian byte order: 1.0f is 00 00 80 3F.
  const float one = 1.0f;
  const unsigned char le[4] = {0x00, 0x00, 0x80, 0x3F};
  EXPECT_EQ(crc32c_of_floats(&one, 1), crc32c(le, 4));
}

#ifdef TL_HAVE_HDF5

// A small model: one BatchNorm over `channels` (gamma, beta, moving_mean,
// moving_variance) and an Adam that has taken one step, so the checkpoint
// holds parameters, BN statistics and optimiser state (m, v, step).
struct SmallRun {
  std::unique_ptr<BatchNorm> model;
  std::unique_ptr<Adam> adam;
};

SmallRun small_run(int64_t channels = 3, uint64_t seed = 4) {
  SmallRun run;
  run.model = std::make_unique<BatchNorm>("bn", channels);
  run.adam = make_adam(*run.model);
  Context ctx(Device::CPU);
  const int64_t n = 4;
  const Tensor x = Tensor::from_vector({n, channels}, random_floats(static_cast<size_t>(n * channels), seed, -2, 2));
  Tensor labels = Tensor::empty({n}, DType::I32);
  for (int i = 0; i < n; ++i) labels.data<int32_t>()[i] = static_cast<int32_t>(i % channels);
  run.model->train();
  Tensor loss = ops::softmax_cross_entropy(ctx, run.model->forward(ctx, x), labels);
  backward(ctx, loss);
  run.adam->step(ctx);
  return run;
}

// Passes when fn throws tl::Error whose message is one line containing every needle.
template <typename Fn>
::testing::AssertionResult throws_one_line_error_with(Fn&& fn, const std::vector<std::string>& needles) {
  try {
    fn();
  } catch (const Error& e) {
    const std::string message = e.what();
    if (message.find('\n') != std::string::npos)
      return ::testing::AssertionFailure() << "message is not one line: \"" << message << "\"";
    for (const std::string& needle : needles)
      if (message.find(needle) == std::string::npos)
        return ::testing::AssertionFailure() << "message \"" << message << "\" lacks \"" << needle << "\"";
    return ::testing::AssertionSuccess() << message;
  }
  return ::testing::AssertionFailure() << "did not throw";
}

h5::H5Handle open_dataset(const h5::H5Handle& file, const std::string& name) {
  return h5::H5Handle(H5Dopen2(file.get(), name.c_str(), H5P_DEFAULT), h5::H5Kind::Dataset);
}

// Flips every bit of one byte of a dataset's stored values, in the file
// itself (the damage a bad disk or a broken copy does).
void flip_byte_of_dataset(const std::string& path, const std::string& dataset, int64_t byte) {
  haddr_t offset = HADDR_UNDEF;
  {
    const h5::H5Handle file = h5::open_file_readonly(path);
    const h5::H5Handle dset = open_dataset(file, dataset);
    ASSERT_TRUE(dset.valid()) << dataset;
    offset = H5Dget_offset(dset.get());  // contiguous storage: one run of bytes
  }
  ASSERT_NE(offset, HADDR_UNDEF) << dataset;
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset + byte));
  const int c = f.get();
  f.seekp(static_cast<std::streamoff>(offset + byte));
  f.put(static_cast<char>(c ^ 0xFF));
  ASSERT_TRUE(f.good());
}

// Sets one value of a dataset through HDF5. With keep_checksum the stored
// CRC32C is updated to match, so what remains to catch it is the value
// check (a value that was already bad when it was saved).
void set_value(const std::string& path, const std::string& dataset, int64_t index, float value,
               bool keep_checksum = true) {
  const h5::H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), h5::H5Kind::File);
  ASSERT_TRUE(file.valid()) << path;
  const h5::H5Handle dset = open_dataset(file, dataset);
  ASSERT_TRUE(dset.valid()) << dataset;
  const h5::H5Handle space(H5Dget_space(dset.get()), h5::H5Kind::Dataspace);
  std::vector<float> values(static_cast<size_t>(H5Sget_simple_extent_npoints(space.get())));
  ASSERT_GE(H5Dread(dset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  values.at(static_cast<size_t>(index)) = value;
  ASSERT_GE(H5Dwrite(dset.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0);
  if (keep_checksum && h5::has_attribute(dset, "crc32c"))
    h5::write_int64_attribute(dset, "crc32c", crc32c_of_floats(values.data(), values.size()));
}

std::string saved_small_run(const std::string& name) {
  const std::string path = temp_path(name);
  SmallRun run = small_run();
  save_checkpoint(path, *run.model, run.adam.get(), {1, 1, 7, 0, "{}", "[]"});
  return path;
}

TEST(Checkpoint, FlippedByteInATensorIsRefusedNamingIt) {
  const std::string path = saved_small_run("flipped.h5");
  flip_byte_of_dataset(path, "model/bn/gamma", 5);
  SmallRun fresh = small_run();
  EXPECT_TRUE(throws_one_line_error_with([&] { load_checkpoint(path, *fresh.model); },
                                         {path, "bn/gamma", "checksum"}));
  std::remove(path.c_str());
}

TEST(Checkpoint, FlippedByteInOptimizerStateIsRefusedNamingIt) {
  const std::string path = saved_small_run("flipped_opt.h5");
  flip_byte_of_dataset(path, "optimizer/g0.p0.v", 2);
  SmallRun fresh = small_run();
  EXPECT_TRUE(throws_one_line_error_with([&] { load_checkpoint(path, *fresh.model); },
                                         {path, "g0.p0.v", "checksum"}));
  std::remove(path.c_str());
}

// Every single-byte flip anywhere in the values is caught (CRC32C detects
// every burst of up to 32 bits): the "50 flips, 50 accepted".
TEST(Checkpoint, EveryFlippedValueByteIsCaught) {
  SmallRun fresh = small_run();
  for (const std::string dataset : {"model/bn/beta", "model/bn/moving_mean", "optimizer/g0.p1.m"}) {
    for (int64_t byte = 0; byte < 12; ++byte) {
      const std::string path = saved_small_run("every_flip.h5");
      flip_byte_of_dataset(path, dataset, byte);
      EXPECT_THROW(load_checkpoint(path, *fresh.model), Error) << dataset << " byte " << byte;
      std::remove(path.c_str());
    }
  }
}

TEST(Checkpoint, NonFiniteValuesAreRefusedNamingTheTensor) {
  struct Case {
    std::string dataset, name;
    float value;
    std::string needle;
  };
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const std::vector<Case> cases = {
      {"model/bn/gamma", "bn/gamma", nan, "NaN"},
      {"model/bn/beta", "bn/beta", inf, "inf"},
      {"model/bn/moving_mean", "bn/moving_mean", -inf, "-inf"},
      {"model/bn/moving_variance", "bn/moving_variance", nan, "NaN"},
      {"optimizer/g0.p0.m", "g0.p0.m", nan, "NaN"},
      {"optimizer/g0.p1.v", "g0.p1.v", inf, "inf"},
      {"optimizer/g0.p0.step@int32", "g0.p0.step", nan, "NaN"},
  };
  for (const Case& c : cases) {
    const std::string path = saved_small_run("nonfinite.h5");
    set_value(path, c.dataset, 0, c.value);
    SmallRun fresh = small_run();
    EXPECT_TRUE(throws_one_line_error_with([&] { load_checkpoint(path, *fresh.model); },
                                           {path, c.name, c.needle, "index 0"}))
        << c.dataset;
    std::remove(path.c_str());
  }
}

TEST(Checkpoint, NegativeVarianceIsRefusedNamingIt) {
  for (const std::string dataset : {"model/bn/moving_variance", "optimizer/g0.p0.v"}) {
    const std::string path = saved_small_run("negative_variance.h5");
    set_value(path, dataset, 1, -0.5f);
    SmallRun fresh = small_run();
    EXPECT_TRUE(throws_one_line_error_with([&] { load_checkpoint(path, *fresh.model); },
                                           {path, dataset.substr(dataset.find('/') + 1), "-0.5", "negative"}))
        << dataset;
    std::remove(path.c_str());
  }
}

TEST(Checkpoint, ImpossibleStepCountIsRefused) {
  const std::string path = saved_small_run("bad_step.h5");
  set_value(path, "optimizer/g0.p0.step@int32", 0, 2.5f);
  SmallRun fresh = small_run();
  EXPECT_TRUE(throws_one_line_error_with([&] { load_checkpoint(path, *fresh.model); }, {path, "g0.p0.step"}));
  std::remove(path.c_str());
}

// The metadata attributes have one checksum over all of them: a changed
// epoch would otherwise resume from the wrong place without a word.
TEST(Checkpoint, ChangedMetadataIsRefused) {
  const std::string path = saved_small_run("metadata.h5");
  {
    const h5::H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), h5::H5Kind::File);
    ASSERT_TRUE(file.valid());
    h5::write_int64_attribute(file, "epoch", 5);
  }
  SmallRun fresh = small_run();
  EXPECT_TRUE(throws_one_line_error_with([&] { load_checkpoint(path, *fresh.model); }, {path, "metadata", "epoch"}));
  std::remove(path.c_str());
}

// A version-1 checkpoint (written before checksums existed) still loads,
// with its values checked, and says once that nothing could be verified.
TEST(Checkpoint, OldCheckpointWithoutChecksumsLoadsWithANote) {
  const std::string path = saved_small_run("version1.h5");
  {
    const h5::H5Handle file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), h5::H5Kind::File);
    ASSERT_TRUE(file.valid());
    h5::write_int64_attribute(file, "version", 1);
    for (const std::string group : {"model/bn", "optimizer"}) {
      const h5::H5Handle g = h5::open_group(file, group);
      for (const std::string& child : h5::list_children(g)) {
        const h5::H5Handle d = open_dataset(g, child);
        if (h5::has_attribute(d, "crc32c")) H5Adelete(d.get(), "crc32c");
      }
    }
  }
  SmallRun fresh = small_run(3, 9);
  const LoadedCheckpoint loaded = load_checkpoint(path, *fresh.model);
  EXPECT_NE(loaded.note.find("no checksums"), std::string::npos) << loaded.note;
  EXPECT_EQ(loaded.note.find('\n'), std::string::npos) << loaded.note;
  // Its values are still checked.
  set_value(path, "model/bn/gamma", 0, std::numeric_limits<float>::quiet_NaN());
  EXPECT_TRUE(throws_one_line_error_with([&] { load_checkpoint(path, *fresh.model); }, {"bn/gamma", "NaN"}));
  std::remove(path.c_str());
}

TEST(Checkpoint, CurrentCheckpointLoadsWithoutANote) {
  const std::string path = saved_small_run("current.h5");
  SmallRun fresh = small_run(3, 9);
  const LoadedCheckpoint loaded = load_checkpoint(path, *fresh.model);
  EXPECT_EQ(loaded.note, "");
  std::remove(path.c_str());
}

// A diverged model is not written over the last good checkpoint.
TEST(Checkpoint, SavingNonFiniteValuesIsRefusedAndKeepsThePreviousFile) {
  const std::string path = saved_small_run("diverged.h5");
  const auto size_before = std::filesystem::file_size(path);
  SmallRun run = small_run();
  run.model->named_parameters()[0].tensor.data<float>()[1] = std::numeric_limits<float>::infinity();
  EXPECT_TRUE(throws_one_line_error_with([&] { save_checkpoint(path, *run.model, run.adam.get(), {}); },
                                         {path, "bn/gamma", "inf"}));
  EXPECT_EQ(std::filesystem::file_size(path), size_before);
  SmallRun fresh = small_run();
  EXPECT_NO_THROW(load_checkpoint(path, *fresh.model));
  EXPECT_FALSE(test::temp_file_left_beside(path));
  std::remove(path.c_str());
}

// ---- failed writes ----------------------------------------------------------

std::vector<float> gammas_in(const std::string& path) {
  SmallRun fresh = small_run(4096, 9);
  load_checkpoint(path, *fresh.model);
  return fresh.model->named_parameters()[0].tensor.to_vector();
}

// Disk full at every stage of the write (the first dataset, the middle, the
// metadata written by the final flush and close): one clean error naming
// the file, a normal exit, the previous checkpoint intact, no temp file.
TEST(Checkpoint, DiskFullDuringTheWriteIsOneCleanErrorAndKeepsThePreviousFile) {
  const std::string path = temp_path("disk_full.h5");
  SmallRun previous = small_run(4096, 4);
  save_checkpoint(path, *previous.model, previous.adam.get(), {1, 1, 7, 0, "{}", "[]"});
  const std::vector<float> gammas_before = gammas_in(path);
  const auto size = static_cast<rlim_t>(std::filesystem::file_size(path));
  SmallRun next = small_run(4096, 5);
  for (const rlim_t limit : {rlim_t(1024), size / 4, size / 2, size - 4096, size - 512, size - 16}) {
    const ChildResult r = run_with_file_size_limit(limit, [&] {
      save_checkpoint(path, *next.model, next.adam.get(), {2, 2, 7, 0, "{}", "[]"});
    });
    EXPECT_TRUE(r.exited) << "limit " << limit << ": killed by signal " << r.signal;
    EXPECT_EQ(r.exit_code, 1) << "limit " << limit << ": " << r.error;
    EXPECT_EQ(r.error.find('\n'), std::string::npos) << "limit " << limit << ": not one line: " << r.error;
    EXPECT_NE(r.error.find(path), std::string::npos) << r.error;
    EXPECT_NE(r.error.find("disk full"), std::string::npos) << r.error;
    EXPECT_FALSE(test::temp_file_left_beside(path)) << "limit " << limit;
    EXPECT_EQ(gammas_in(path), gammas_before) << "limit " << limit;
  }
  std::remove(path.c_str());
}

#endif  // TL_HAVE_HDF5

}  // namespace
}  // namespace tl::test
