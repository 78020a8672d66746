// apps/train_cifar end to end, for what guards a run (issue 10, items 6-9):
// exact resume or a refusal naming the flag, one writer per output folder,
// Ctrl-C / SIGTERM mid-epoch with a bit-identical resume, flushed logs, and
// the flag checks. Interrupts are raised in-process at a chosen step
// (TL_TEST_RAISE_AT_STEP), so nothing here depends on timing.
#include <gtest/gtest.h>

#include <sys/file.h>
#include <fcntl.h>
#include <unistd.h>

#include <csignal>

#include "tests/support/train_cifar_cli.h"

namespace tl::test {
namespace {
using namespace cli;

// ---- exact resume or a clear refusal -----------------------------------------------

TEST(TrainCifarResume, OtherFlagsOrDataAreRefusedNamingTheFlag) {
  const std::string out = fresh_dir("refuse");
  const RunResult first = run_train_cifar(kTiny + "--epochs 2 --stop-after-epochs 1 --output-dir " + out);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  // Before the fix each of these resumed without a word.
  for (const std::string& changed : {"--batch-size 8", "--seed 4", "--subset 30", "--no-augment",
                                     "--val-split 0.3", "--test-subset 4", "--synthetic-size 72"}) {
    const std::string flag = changed.substr(0, changed.find(' '));
    const RunResult r = run_train_cifar(kTiny + "--epochs 2 --resume --output-dir " + out + " " + changed);
    expect_clean_error(r, {flag, "--resume-inexact", out + "/checkpoints/last.h5"});
    EXPECT_EQ(r.output.find("Resuming"), std::string::npos) << r.output;
  }
  // --resume-inexact accepts it and says the run is no longer exact.
  const RunResult inexact = run_train_cifar(kTiny + "--epochs 2 --resume --resume-inexact --seed 4 --output-dir " + out);
  ASSERT_EQ(inexact.exit_code, 0) << inexact.output;
  EXPECT_NE(inexact.output.find("--seed 4 (checkpoint: 3)"), std::string::npos) << inexact.output;
  EXPECT_NE(inexact.output.find("no longer matches an uninterrupted one"), std::string::npos) << inexact.output;
}

// ---- interrupts ------------------------------------------------------------------------

// kTiny has 3 batches an epoch: step 2 is within epoch 1, step 5 within epoch 2.
TEST(TrainCifarInterrupt, MidEpochInterruptsResumeBitIdenticallyToAnUninterruptedRun) {
  const std::string straight = fresh_dir("straight"), stopped = fresh_dir("stopped");
  const RunResult a = run_train_cifar(kTiny + "--epochs 2 --output-dir " + straight);
  ASSERT_EQ(a.exit_code, 0) << a.output;

  // Before the fix SIGINT killed the run: the epoch was lost, no checkpoint.
  const RunResult first = run_train_cifar(kTiny + "--epochs 2 --output-dir " + stopped, "TL_TEST_RAISE_AT_STEP=2:INT");
  EXPECT_EQ(first.exit_code, 130) << first.output;
  EXPECT_NE(first.output.find("interrupted by SIGINT in epoch 1 after batch 2 of 3"), std::string::npos)
      << first.output;
  // The last line says how to continue: the same flags and --resume.
  const std::string last_line = first.output.substr(first.output.rfind('\n', first.output.size() - 2) + 1);
  EXPECT_NE(last_line.find("--output-dir " + stopped + " --resume"), std::string::npos) << last_line;

  const RunResult second =
      run_train_cifar(kTiny + "--epochs 2 --resume --output-dir " + stopped, "TL_TEST_RAISE_AT_STEP=5:TERM");
  EXPECT_EQ(second.exit_code, 130) << second.output;
  EXPECT_NE(second.output.find("Resuming epoch 1 at batch 3 of 3 (step 2)"), std::string::npos) << second.output;
  EXPECT_NE(second.output.find("interrupted by SIGTERM in epoch 2 after batch 2 of 3"), std::string::npos)
      << second.output;

  const RunResult third = run_train_cifar(kTiny + "--epochs 2 --resume --output-dir " + stopped);
  ASSERT_EQ(third.exit_code, 0) << third.output;
  EXPECT_NE(third.output.find("Resuming epoch 2 at batch 3 of 3 (step 5)"), std::string::npos) << third.output;

  expect_same_checkpoints(straight + "/checkpoints/last.h5", stopped + "/checkpoints/last.h5");
  // Both interrupted epochs report what the uninterrupted run's did.
  EXPECT_EQ(deterministic_metrics(stopped), deterministic_metrics(straight));
  EXPECT_EQ(deterministic_metrics(stopped).size(), 3u);
  // And the final test evaluation.
  const size_t at = a.output.find("Test: "), at3 = third.output.find("Test: ");
  ASSERT_NE(at, std::string::npos);
  ASSERT_NE(at3, std::string::npos);
  EXPECT_EQ(third.output.substr(at3, third.output.find('\n', at3) - at3), a.output.substr(at, a.output.find('\n', at) - at));
}

TEST(TrainCifarInterrupt, ASecondSignalQuitsAtOnceWithoutSaving) {
  const std::string out = fresh_dir("twice");
  const RunResult r = run_train_cifar(kTiny + "--epochs 2 --output-dir " + out, "TL_TEST_RAISE_AT_STEP=1:INT,INT");
  EXPECT_EQ(r.exit_code, 130) << r.output;
  EXPECT_NE(r.output.find("interrupted again: quitting at once"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out + "/checkpoints/last.h5"));
}

TEST(TrainCifarInterrupt, FinishedEpochLinesReachARedirectedLogEvenIfTheProcessIsKilled) {
  // Before the fix the epoch summary stayed in stdout's buffer (a pipe or a
  // file is fully buffered) and died with the process.
  const std::string out = fresh_dir("killed");
  const RunResult r = run_train_cifar(kTiny + "--epochs 2 --output-dir " + out, "TL_TEST_RAISE_AT_STEP=4:KILL");
  EXPECT_EQ(r.signal, SIGKILL) << r.output;
  EXPECT_NE(r.output.find("epoch 1: train loss"), std::string::npos) << r.output;
}

// ---- one writer per output folder -------------------------------------------------------

TEST(TrainCifarLock, ASecondRunOnTheSameFolderFailsAtOnceNamingItAndTheOtherProcess) {
  // This process plays the first run: it holds <out>/.lock as train_cifar does.
  const std::string out = fresh_dir("locked");
  const int fd = ::open((out + "/.lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  const std::string pid = std::to_string(::getpid());
  ASSERT_EQ(::write(fd, pid.data(), pid.size()), static_cast<ssize_t>(pid.size()));
  // Before the fix the second run trained on, sharing last.h5.tmp.
  const RunResult r = run_train_cifar(kTiny + "--epochs 1 --output-dir " + out);
  expect_clean_error(r, {"--output-dir " + out, "PID " + pid});
  EXPECT_EQ(r.output.find("Data:"), std::string::npos) << "it must fail at once: " << r.output;
  ::close(fd);
}

TEST(TrainCifarLock, StaleTempFilesOfAKilledRunAreRemoved) {
  const std::string out = fresh_dir("stale");
  fs::create_directories(out + "/checkpoints");
  std::ofstream(out + "/checkpoints/last.h5.tmp.999999") << "half a checkpoint";
  std::ofstream(out + "/metrics.json.tmp") << "{";
  // A run that stops early (on a bad --subset) still cleans up first.
  const RunResult r = run_train_cifar(kTiny + "--subset 100000 --output-dir " + out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_FALSE(fs::exists(out + "/checkpoints/last.h5.tmp.999999")) << r.output;
  EXPECT_FALSE(fs::exists(out + "/metrics.json.tmp")) << r.output;
}

// ---- flags -------------------------------------------------------------------------------

TEST(TrainCifarFlags, MissingWeightsFileIsRecordedAsRandomInitialisation) {
  // Before the fix metrics.json named the missing file as the weights used.
  const std::string out = fresh_dir("noweights");
  std::string args = kTiny + "--epochs 1 --output-dir " + out;
  args.replace(args.find("--weights none"), 14, "--weights /nonexistent/w.h5");
  const RunResult r = run_train_cifar(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string json = read_text(out + "/metrics.json");
  EXPECT_NE(json.find("\"weights\": \"none\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"weights_missing\": \"/nonexistent/w.h5\""), std::string::npos) << json;
}

TEST(TrainCifarFlags, AnImageSizeBeyondMemoryIsRefusedBeforeAllocating) {
  // Before the fix: "Memory: about 327 million MiB", then the allocation.
  const std::string out = fresh_dir("huge");
  const RunResult absurd = run_train_cifar(kTiny + "--image-size 100000 --output-dir " + out);
  expect_clean_error(absurd, {"--image-size"});
  // Below the parser's bound but beyond any machine's memory (~1 TB).
  const RunResult big = run_train_cifar(kTiny + "--image-size 8000 --batch-size 64 --output-dir " + out);
  expect_clean_error(big, {"--image-size 8000", "--batch-size 64", "GiB"});
  EXPECT_EQ(big.output.find("Data:"), std::string::npos) << "refused before loading: " << big.output;
}

}  // namespace
}  // namespace tl::test
