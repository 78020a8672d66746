// What guards a train_cifar run, piece by piece (fast unit tests; the
// end-to-end runs are in tests/test_train_runs.cpp): the flags (--quick and
// explicit flags, the image-size bound, the resume command), the resume
// comparison (flags, data, class names), the history a checkpoint carries
// (a partial epoch, exactly), the memory check, the decision to run without
// checkpoints in a build without HDF5, the folder lock and the interrupt
// handler.
#include <gtest/gtest.h>

#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/folder_lock.h"
#include "apps/interrupts.h"
#include "apps/memory_estimate.h"
#include "apps/options.h"
#include "apps/run_config.h"
#include "apps/trainer.h"
#include "data/synthetic.h"
#include "layers/classifier.h"

namespace tl::test {
namespace {
namespace fs = std::filesystem;
using app::TrainOptions;

TrainOptions parse(std::vector<std::string> args) {
  args.insert(args.begin(), "train_cifar");
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  return app::parse_train_options(static_cast<int>(argv.size()), argv.data());
}

// Runs `body` and returns the tl::Error message it threw ("" if none).
template <class F>
std::string error_of(F body) {
  try {
    body();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// ---- flags -----------------------------------------------------------------------

TEST(TrainOptions, ExplicitFlagsWinOverQuickWhereverTheyStand) {
  // Before the fix, --quick applied its preset when it was read, so a flag
  // before it was silently overwritten (--output-dir ended in runs/quick).
  const TrainOptions before = parse({"--output-dir", "mine", "--batch-size", "8", "--quick"});
  EXPECT_EQ(before.output_dir, "mine");
  EXPECT_EQ(before.checkpoint_dir, "mine/checkpoints");
  EXPECT_EQ(before.batch_size, 8);
  EXPECT_EQ(before.subset, 2000);  // the preset still applies where nothing was typed
  const TrainOptions after = parse({"--quick", "--output-dir", "mine", "--batch-size", "8"});
  EXPECT_EQ(after.output_dir, "mine");
  EXPECT_EQ(after.batch_size, 8);
}

TEST(TrainOptions, QuickDefaultsAreToldApartFromTypedFlags) {
  const TrainOptions o = parse({"--test-subset", "50", "--quick"});
  EXPECT_TRUE(app::from_quick(o, "--subset"));
  EXPECT_FALSE(app::from_quick(o, "--test-subset"));  // typed, so errors about it are the user's
  EXPECT_FALSE(app::from_quick(o, "--seed"));          // not part of the preset
  EXPECT_EQ(app::flag_origin(o, "--subset"), " (set by --quick)");
  EXPECT_EQ(app::flag_origin(o, "--test-subset"), "");
  EXPECT_TRUE(parse({"--subset", "10"}).quick_defaults.empty());
}

TEST(TrainOptions, ImageSizeAboveTheBoundIsRefusedByTheParser) {
  const std::string e = error_of([] { parse({"--image-size", "100000"}); });
  EXPECT_NE(e.find("--image-size"), std::string::npos) << e;
  EXPECT_NE(e.find(std::to_string(app::kMaxImageSize)), std::string::npos) << e;
  EXPECT_EQ(parse({"--image-size", std::to_string(app::kMaxImageSize)}).image_size, app::kMaxImageSize);
}

TEST(TrainOptions, ResumeInexactOnlyWithResume) {
  EXPECT_NE(error_of([] { parse({"--resume-inexact"}); }).find("--resume-inexact"), std::string::npos);
  EXPECT_TRUE(parse({"--resume", "--resume-inexact"}).resume_inexact);
}

TEST(TrainOptions, ResumeCommandLineRepeatsTheFlagsAndResumesFromTheRunsOwnCheckpoint) {
  std::vector<std::string> args = {"./train_cifar", "--epochs", "3", "--resume", "old.h5", "--output-dir",
                                   "my runs/a", "--resume=x.h5", "--seed", "1"};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  EXPECT_EQ(app::resume_command_line(static_cast<int>(argv.size()), argv.data()),
            "./train_cifar --epochs 3 --output-dir 'my runs/a' --seed 1 --resume");
}

// ---- resume: the same run, or a refusal naming what differs --------------------

struct RunFixture {
  TrainOptions o;
  app::ModelRecord record;
  app::DataIdentity data;
  RunFixture() {
    o = parse({"--batch-size", "16", "--seed", "3", "--subset", "40", "--val-split", "0.2", "--pool", "avg"});
    record.model.input_size = o.image_size;
    record.model.pool = HeadPool::kAverage;
    record.model.classes = 3;
    record.class_names = {"cat", "dog", "frog"};
    record.dataset = "/data/pets";
    data.train_images = 32;
    data.train_fingerprint = "00000000000000aa";
    data.val_images = 8;
    data.val_fingerprint = "00000000000000bb";
    data.test_images = 10;
    data.test_fingerprint = "00000000000000cc";
  }
  std::string json() const { return app::run_config_json(o, record, data); }
};

TEST(ResumeConfig, TheSameRunHasNoDifferences) {
  const RunFixture run;
  EXPECT_TRUE(app::resume_differences(run.json(), run.json(), "ckpt").empty());
  EXPECT_TRUE(app::check_resume_compatible(run.json(), run.json(), "ckpt", false).empty());
}

TEST(ResumeConfig, EachFlagThatChangesTheSamplesOrTheirOrderIsRefusedByName) {
  // Before the fix only the model's shape was compared: every one of these
  // resumed silently, no longer bit for bit.
  const RunFixture saved;
  const std::vector<std::pair<std::vector<std::string>, std::string>> changes = {
      {{"--batch-size", "8"}, "--batch-size"},   {{"--seed", "4"}, "--seed"},
      {{"--subset", "30"}, "--subset"},          {{"--test-subset", "5"}, "--test-subset"},
      {{"--val-split", "0.3"}, "--val-split"},   {{"--no-augment"}, "--no-augment"},
      {{"--epochs", "20"}, "--epochs"},          {{"--backbone-lr", "0.5"}, "--backbone-lr"},
      {{"--schedule", "step"}, "--schedule"},    {{"--freeze", "backbone"}, "--freeze"},
      {{"--dropout", "0.2"}, "--dropout"},       {{"--nesterov"}, "--nesterov"},
  };
  for (const auto& [extra, flag] : changes) {
    std::vector<std::string> args = {"--batch-size", "16", "--seed", "3", "--subset", "40", "--val-split", "0.2",
                                     "--pool", "avg"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunFixture now;
    now.o = parse(args);
    now.record.model.dropout = now.o.dropout;
    const std::string e =
        error_of([&] { app::check_resume_compatible(saved.json(), now.json(), "runs/x/last.h5", false); });
    EXPECT_NE(e.find(flag), std::string::npos) << flag << ": " << e;
    EXPECT_NE(e.find("runs/x/last.h5"), std::string::npos) << e;
    EXPECT_NE(e.find("--resume-inexact"), std::string::npos) << "says how to accept it anyway: " << e;
    // --resume-inexact accepts it and returns it, to be printed.
    const auto accepted = app::check_resume_compatible(saved.json(), now.json(), "runs/x/last.h5", true);
    ASSERT_EQ(accepted.size(), 1u) << flag;
    EXPECT_EQ(accepted[0].flag, flag);
  }
}

TEST(ResumeConfig, OtherDataWithTheSameFlagsIsRefused) {
  const RunFixture saved;
  RunFixture moved = saved;
  moved.record.dataset = "/elsewhere/pets";  // the same images in a moved folder: accepted
  EXPECT_TRUE(app::resume_differences(saved.json(), moved.json(), "ckpt").empty());
  RunFixture other = saved;
  other.data.train_fingerprint = "00000000000000ab";
  const std::string e = error_of([&] { app::check_resume_compatible(saved.json(), other.json(), "ckpt", false); });
  EXPECT_NE(e.find("training data"), std::string::npos) << e;
  EXPECT_NE(e.find("--data-dir"), std::string::npos) << e;
}

TEST(ResumeConfig, ClassNamesAreComparedNotOnlyTheirCount) {
  // Before the fix: three classes then, three classes now, accepted.
  const RunFixture saved;
  RunFixture now = saved;
  now.record.class_names = {"cat", "dog", "wolf"};
  const std::string e = error_of([&] { app::check_resume_compatible(saved.json(), now.json(), "ckpt", true); });
  EXPECT_NE(e.find("class names"), std::string::npos) << "refused even with --resume-inexact: " << e;
  EXPECT_NE(e.find("only in the checkpoint: frog"), std::string::npos) << e;
  EXPECT_NE(e.find("only now: wolf"), std::string::npos) << e;
}

TEST(ResumeConfig, AnotherModelIsRefusedEvenWithResumeInexact) {
  RunFixture saved;
  saved.o.pool = "flatten";
  saved.record.model.pool = HeadPool::kFlatten;
  RunFixture now = saved;
  now.o.image_size = 64;
  now.record.model.input_size = 64;  // Flatten: the head is sized by the input
  const std::string e = error_of([&] { app::check_resume_compatible(saved.json(), now.json(), "ckpt", true); });
  EXPECT_NE(e.find("--image-size 64 (checkpoint: 224)"), std::string::npos) << e;
}

TEST(ResumeConfig, ACheckpointThatDoesNotRecordTheSampleOrderIsRefused) {
  // A checkpoint from before the data identity was recorded.
  const std::string old_config =
      "{\"format\": \"tl-run-config-1\", \"image_size\": 224, \"pool\": \"avg\", \"classes\": 3, "
      "\"class_names\": [\"cat\", \"dog\", \"frog\"], \"dropout\": 0.5, \"bn_momentum\": 0.99, "
      "\"dataset\": \"/data/pets\", \"synthetic_size\": 6000, \"seed\": 3, \"batch_size\": 16}";
  const RunFixture now;
  const std::string e = error_of([&] { app::check_resume_compatible(old_config, now.json(), "ckpt", false); });
  EXPECT_NE(e.find("--subset 40 (checkpoint: not recorded)"), std::string::npos) << e;
  EXPECT_FALSE(app::check_resume_compatible(old_config, now.json(), "ckpt", true).empty());
}

TEST(ResumeConfig, FingerprintSeesEveryPixelAndLabel) {
  const ImageSet set = make_synthetic(30, 32, 1);
  const std::string base = app::fingerprint(set);
  EXPECT_EQ(base.size(), 16u);
  EXPECT_EQ(app::fingerprint(set), base);
  // Tensors share their data when copied: change a copy made by hand.
  ImageSet pixel = set;
  pixel.images = Tensor::empty(set.images.shape(), DType::U8);
  std::memcpy(pixel.images.data<uint8_t>(), set.images.data<uint8_t>(), size_t(set.images.numel()));
  pixel.images.data<uint8_t>()[pixel.images.numel() - 1] ^= 1;  // the last byte of the last image
  EXPECT_NE(app::fingerprint(pixel), base);
  ImageSet label = set;
  label.labels = Tensor::empty(set.labels.shape(), DType::I32);
  std::memcpy(label.labels.data<int32_t>(), set.labels.data<int32_t>(), size_t(set.labels.numel()) * 4);
  label.labels.data<int32_t>()[0] = (label.labels.data<int32_t>()[0] + 1) % 10;
  EXPECT_NE(app::fingerprint(label), base);
  EXPECT_EQ(app::fingerprint(ImageSet{}), "");
}

TEST(ResumeConfig, MetricsRecordWhatTheBackboneReallyStartedFrom) {
  RunFixture run;
  run.o.weights = "weights-cache/missing.h5";
  run.record.weights = "none";
  run.record.weights_missing = "weights-cache/missing.h5";
  const std::string json = run.json();
  EXPECT_NE(json.find("\"weights\": \"none\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"weights_missing\": \"weights-cache/missing.h5\""), std::string::npos) << json;
  EXPECT_EQ(app::parse_run_config(json, "x").weights, "none");
}

// ---- the history a checkpoint carries --------------------------------------------

TEST(TrainingHistory, APartialEpochRoundTripsExactly) {
  app::TrainingHistory h;
  app::EpochMetrics e;
  e.epoch = 1;
  e.train_loss = 2.5;
  e.train_accuracy = 0.25;
  h.epochs.push_back(e);
  h.partial = app::PartialEpoch{2, 3, 48, 7, 0.1 + 0.2 + 1e-17 * 3, 1.5};
  const app::TrainingHistory back = app::parse_training_history(app::training_history_json(h), "h");
  ASSERT_EQ(back.epochs.size(), 1u);
  EXPECT_EQ(back.epochs[0].train_loss, 2.5);
  ASSERT_TRUE(back.partial.has_value());
  EXPECT_EQ(back.partial->epoch, 2);
  EXPECT_EQ(back.partial->batches_done, 3);
  EXPECT_EQ(back.partial->seen, 48);
  EXPECT_EQ(back.partial->correct, 7);
  EXPECT_EQ(back.partial->loss_sum, h.partial->loss_sum) << "bit for bit, not to 9 digits";
  // A history without a partial epoch reads as before.
  h.partial.reset();
  EXPECT_FALSE(app::parse_training_history(app::training_history_json(h), "h").partial.has_value());
}

TEST(TrainingHistory, InconsistentPartialEpochIsAnErrorNamingTheFile) {
  const std::string e = error_of([] {
    app::parse_training_history(
        "[{\"partial_epoch\": 1, \"batches_done\": 2, \"seen\": 5, \"correct\": 9, \"loss_sum\": \"0x1p+0\", "
        "\"seconds\": 1}]",
        "ckpt.h5 history");
  });
  EXPECT_NE(e.find("ckpt.h5 history"), std::string::npos) << e;
}

// ---- memory ------------------------------------------------------------------------

TEST(TrainMemory, TooLargeForTheMachineIsRefusedNamingTheFlags) {
  TrainOptions o = parse({"--image-size", "4000", "--batch-size", "64"});
  const std::string e = error_of([&] {
    app::check_memory_fits(app::minimum_training_bytes(o), int64_t(32) << 30, "available RAM", o);
  });
  EXPECT_NE(e.find("--image-size 4000"), std::string::npos) << e;
  EXPECT_NE(e.find("--batch-size 64"), std::string::npos) << e;
  EXPECT_NE(e.find("32.0 GiB of available RAM"), std::string::npos) << e;
  EXPECT_NE(e.find("--pool avg"), std::string::npos) << "Flatten's head grows with the input: " << e;
  // Unknown free memory checks nothing; the default run fits in 32 GiB.
  app::check_memory_fits(1e30, -1, "", o);
  app::check_memory_fits(app::minimum_training_bytes(parse({})), int64_t(32) << 30, "available RAM", parse({}));
  // The preset's values are named as such.
  o = parse({"--quick", "--image-size", "4000"});
  EXPECT_NE(error_of([&] { app::check_memory_fits(1e12, 1, "RAM", o); }).find("--batch-size 32 (set by --quick)"),
            std::string::npos);
}

TEST(TrainMemory, TheFlagsOnlyBoundIsBelowTheModelsEstimate) {
  // minimum_training_bytes knows the backbone's geometry (the side halves
  // five times, rounding up); the model is the truth.
  const ResNet50 backbone;
  for (int64_t side : {32, 33, 63, 100, 224, 225})
    EXPECT_EQ(backbone.output_shape({1, side, side, 3})[1], (side + 31) / 32) << side;
  for (const char* pool : {"avg", "flatten"}) {
    const TrainOptions o = parse({"--image-size", "64", "--batch-size", "4", "--pool", pool});
    ClassifierConfig config;
    config.input_size = 64;
    config.pool = std::string(pool) == "avg" ? HeadPool::kAverage : HeadPool::kFlatten;
    const Classifier model(config);
    const double estimate = double(app::estimate_training_bytes(model, 4, 64, 1));
    EXPECT_LE(app::minimum_training_bytes(o), estimate) << pool;
    EXPECT_GT(app::minimum_training_bytes(o), 0.01 * estimate) << pool << ": too loose to catch anything";
  }
}

// ---- checkpoints without HDF5 ---------------------------------------------------

TEST(CheckpointPolicy, WithoutHdf5TrainingRunsWithoutCheckpointsAndSaysSo) {
  // Before the fix a build without HDF5 trained one epoch and then failed on
  // the first checkpoint; only such a build reaches this branch for real.
  const app::CheckpointPolicy off = app::checkpoint_policy(false, parse({}));
  EXPECT_FALSE(off.enabled);
  EXPECT_NE(off.notice.find("HDF5"), std::string::npos) << off.notice;
  EXPECT_NE(off.notice.find("cannot be resumed"), std::string::npos) << off.notice;
  const std::string e = error_of([] { app::checkpoint_policy(false, parse({"--resume"})); });
  EXPECT_NE(e.find("--resume"), std::string::npos) << e;
  EXPECT_NE(e.find("HDF5"), std::string::npos) << e;
  const app::CheckpointPolicy on = app::checkpoint_policy(true, parse({"--resume"}));
  EXPECT_TRUE(on.enabled);
  EXPECT_TRUE(on.notice.empty());
}

// ---- one writer per output folder ------------------------------------------------

TEST(FolderLock, ASecondLockOnTheFolderFailsNamingItAndTheHolder) {
  const fs::path dir = fs::temp_directory_path() / ("tl_lock_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    const app::FolderLock first(dir.string(), "--output-dir");
    // flock locks belong to an open file: a second open of .lock, even in
    // this process, is another would-be writer.
    const std::string e = error_of([&] { app::FolderLock second(dir.string(), "--output-dir"); });
    EXPECT_NE(e.find("--output-dir " + dir.string()), std::string::npos) << e;
    EXPECT_NE(e.find("PID " + std::to_string(::getpid())), std::string::npos) << e;
  }
  const app::FolderLock again(dir.string(), "--output-dir");  // released with the first
  fs::remove_all(dir);
}

TEST(FolderLock, StaleTempFilesOfOurOutputsAreRemovedAndNothingElse) {
  const fs::path dir = fs::temp_directory_path() / ("tl_stale_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* name : {"last.h5.tmp", "last.h5.tmp.12345", "metrics.json.tmp.7", "curves.svg.tmp", "notes.tmp",
                           "last.h5"})
    std::ofstream(dir / name) << "x";
  std::ostringstream log;
  app::remove_stale_temp_files(dir.string(), log);
  EXPECT_FALSE(fs::exists(dir / "last.h5.tmp"));
  EXPECT_FALSE(fs::exists(dir / "last.h5.tmp.12345"));
  EXPECT_FALSE(fs::exists(dir / "metrics.json.tmp.7"));
  EXPECT_FALSE(fs::exists(dir / "curves.svg.tmp"));
  EXPECT_TRUE(fs::exists(dir / "notes.tmp")) << "not ours";
  EXPECT_TRUE(fs::exists(dir / "last.h5"));
  EXPECT_NE(log.str().find("last.h5.tmp.12345"), std::string::npos) << log.str();
  fs::remove_all(dir);
}

// ---- interrupts -----------------------------------------------------------------

TEST(InterruptHandler, FirstSignalAsksToStopSecondQuitsAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EQ(app::InterruptHandler::requested(), 0);
  struct sigaction before {};
  sigaction(SIGINT, nullptr, &before);
  EXPECT_EXIT(
      {
        const app::InterruptHandler handler;
        std::raise(SIGTERM);
        if (app::InterruptHandler::requested() != SIGTERM) std::_Exit(3);  // the first only asks
        std::raise(SIGINT);
        std::_Exit(4);  // not reached: the second one exits
      },
      ::testing::ExitedWithCode(130), "interrupted again");
  {
    const app::InterruptHandler handler;  // restores the previous handlers when it ends
  }
  struct sigaction after {};
  sigaction(SIGINT, nullptr, &after);
  EXPECT_EQ(after.sa_handler, before.sa_handler);
}

}  // namespace
}  // namespace tl::test
