// apps/train_cifar end to end, as a user runs it: exact resumption, and a
// clear one-line error with a non-zero exit for each kind of bad input.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "apps/run_config.h"
#include "tests/support/compare.h"
#include "tests/support/train_cifar_cli.h"
#include "weights/checkpoint.h"

namespace tl::test {
namespace {
namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

RunResult run_train_cifar(const std::string& args) {
  const std::string cmd = std::string(TL_BUILD_DIR) + "/apps/train_cifar " + args + " 2>&1";
  RunResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Per process, removed at its end (tests/support/train_cifar_cli.h): test
// runs from several build trees at once must not share each other's folders.
std::string fresh_dir(const std::string& name) { return cli::fresh_dir("cli_" + name); }

// A tiny, fast run: 40 training images at 32x32 (3 batches of 16), 10 for validation.
const std::string kTiny =
    "--dataset synthetic --synthetic-size 60 --image-size 32 --pool avg --batch-size 16 "
    "--weights none --optimizer adam --lr 1e-3 --val-split 0.2 --test-subset 8 --seed 3 ";

// Expects a failure whose last line is one "train_cifar: error: ..." line
// containing `needle`.
void expect_clean_error(const RunResult& r, const std::string& needle) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const size_t at = r.output.rfind("train_cifar: error: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string line = r.output.substr(at);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "error is not one line: " << line;
  EXPECT_NE(line.find(needle), std::string::npos) << line;
}

TEST(TrainCifarCli, ResumeIsBitIdenticalToAnUninterruptedRun) {
  const std::string a = fresh_dir("resume_a"), b = fresh_dir("resume_b");
  const RunResult straight = run_train_cifar(kTiny + "--epochs 2 --output-dir " + a);
  ASSERT_EQ(straight.exit_code, 0) << straight.output;
  const RunResult first = run_train_cifar(kTiny + "--epochs 2 --stop-after-epochs 1 --output-dir " + b);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const RunResult second = run_train_cifar(kTiny + "--epochs 2 --resume --output-dir " + b);
  ASSERT_EQ(second.exit_code, 0) << second.output;
  EXPECT_NE(second.output.find("Resuming after epoch 1"), std::string::npos) << second.output;

  cli::expect_same_checkpoints(a + "/checkpoints/last.h5", b + "/checkpoints/last.h5");
  // The metrics of both runs agree too (epoch 1 carried over in the checkpoint).
  std::ifstream ma(a + "/metrics.csv"), mb(b + "/metrics.csv");
  std::string line_a, line_b;
  for (int row = 0; row < 3; ++row) {
    ASSERT_TRUE(std::getline(ma, line_a) && std::getline(mb, line_b));
    // Columns up to the learning rate are deterministic; time is not.
    auto head = [](const std::string& s) {
      size_t pos = 0;
      for (int c = 0; c < 6 && pos != std::string::npos; ++c) pos = s.find(',', pos + 1);
      return s.substr(0, pos);
    };
    EXPECT_EQ(head(line_a), head(line_b));
  }
}

TEST(TrainCifarCli, UnknownFlag) {
  expect_clean_error(run_train_cifar("--epochz 3"), "--epochz");
}

TEST(TrainCifarCli, BadFlagValue) {
  expect_clean_error(run_train_cifar("--batch-size many"), "--batch-size");
  expect_clean_error(run_train_cifar("--freeze everything"), "--freeze");
}

TEST(TrainCifarCli, MissingDataDirSaysWhereItLookedAndHowToGetIt) {
  const std::string out = fresh_dir("missing");
  const RunResult r = run_train_cifar("--dataset cifar10 --data-dir /nonexistent/cifar --output-dir " + out);
  expect_clean_error(r, "/nonexistent/cifar");
  EXPECT_NE(r.output.find("get_cifar10.sh"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out + "/checkpoints/last.h5"));
}

// Writes a CIFAR-10 binary folder whose files hold `records` records each.
std::string write_cifar(const std::string& name, int64_t records, int bad_label_record = -1,
                        int64_t truncate_test_to = -1) {
  const std::string dir = fresh_dir(name) + "/cifar-10-batches-bin";
  fs::create_directories(dir);
  auto write = [&](const std::string& file, int64_t bytes_limit, int bad) {
    std::ofstream f(dir + "/" + file, std::ios::binary);
    std::vector<char> record(3073, 7);
    int64_t written = 0;
    for (int64_t i = 0; i < 10000; ++i) {
      record[0] = static_cast<char>(i == bad ? 11 : i % 10);
      const int64_t n = bytes_limit >= 0 ? std::min<int64_t>(3073, bytes_limit - written) : 3073;
      if (n <= 0) break;
      f.write(record.data(), n);
      written += n;
      if (i + 1 >= records && bytes_limit < 0) break;
    }
  };
  for (int i = 1; i <= 5; ++i) write("data_batch_" + std::to_string(i) + ".bin", -1, i == 1 ? bad_label_record : -1);
  write("test_batch.bin", truncate_test_to, -1);
  return fs::path(dir).parent_path().string();
}

TEST(TrainCifarCli, TruncatedBatchFileNamesTheFile) {
  const std::string data = write_cifar("truncated", 10000, -1, 3073 * 100 + 17);
  const std::string out = fresh_dir("truncated_out");
  const RunResult r = run_train_cifar("--dataset cifar10 --data-dir " + data + " --output-dir " + out);
  expect_clean_error(r, "test_batch.bin");
  EXPECT_FALSE(fs::exists(out + "/checkpoints/last.h5"));
}

TEST(TrainCifarCli, LabelOfElevenNamesFileAndRecord) {
  const std::string data = write_cifar("label11", 10000, 42);
  const std::string out = fresh_dir("label11_out");
  const RunResult r = run_train_cifar("--dataset cifar10 --data-dir " + data + " --output-dir " + out);
  expect_clean_error(r, "data_batch_1.bin");
  EXPECT_NE(r.output.find("42"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out + "/checkpoints/last.h5"));
}

TEST(TrainCifarCli, UnwritableOutputDir) {
  expect_clean_error(run_train_cifar(kTiny + "--output-dir /proc/tl-cannot-write"), "--output-dir");
}

TEST(TrainCifarCli, RequireWeightsRefusesRandomInit) {
  const std::string out = fresh_dir("require");
  expect_clean_error(run_train_cifar(kTiny + "--weights /nonexistent/w.h5 --require-weights --output-dir " + out),
                     "/nonexistent/w.h5");
}

TEST(TrainCifarCli, NonFiniteLossStopsWithoutSavingIt) {
  // A learning rate of 1e38 overflows the weights to inf within two steps.
  const std::string out = fresh_dir("nan");
  const RunResult r = run_train_cifar(kTiny + "--epochs 2 --lr 1e38 --backbone-lr 1e38 --output-dir " + out);
  expect_clean_error(r, "the loss became");
  EXPECT_NE(r.output.find("--lr"), std::string::npos) << r.output;  // says what to try
  EXPECT_FALSE(fs::exists(out + "/checkpoints/last.h5")) << "a checkpoint after a NaN step";
}

// Calls `f(argc, argv)` with `words` as the command line.
template <class F>
auto with_argv(std::vector<std::string> words, F f) {
  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  return f(static_cast<int>(argv.size()), argv.data());
}

// The resume line an interrupted run prints reads the arguments as the
// parser does: a VALUE spelled --resume (fuzz/findings/options/) is kept.
// Before the fix it was dropped as if it were the flag, and the line it
// printed was another run (--data-dir took "--epochs" as its value).
TEST(TrainCifarCli, ResumeLineKeepsAFlagValueSpelledResume) {
  auto resume_line = [](std::vector<std::string> words) {
    return with_argv(std::move(words), app::resume_command_line);
  };
  EXPECT_EQ(resume_line({"train_cifar", "--data-dir", "--resume", "--epochs", "3"}),
            "train_cifar --data-dir --resume --epochs 3 --resume");
  EXPECT_EQ(resume_line({"train_cifar", "--output-dir", "--resume=x"}),
            "train_cifar --output-dir --resume=x --resume");
  // The flag itself, with or without its PATH, is still replaced.
  EXPECT_EQ(resume_line({"train_cifar", "--resume", "a.h5", "--seed", "1", "--resume=b.h5"}),
            "train_cifar --seed 1 --resume");
  // And the line parses to the same run, resuming.
  const app::TrainOptions o = with_argv(
      {"train_cifar", "--data-dir", "--resume", "--epochs", "3", "--resume"},
      app::parse_train_options);
  EXPECT_EQ(o.data_dir, "--resume");
  EXPECT_EQ(o.epochs, 3);
  EXPECT_EQ(o.resume, "auto");
}

#ifdef TL_H5_FIXTURE_DIR
TEST(TrainCifarCli, InitFromAnotherArchitectureIsRefusedNamingEveryDifference) {
  // The fixture is a 48x48, average-pool, 100-class model (make_h5_fixtures.py).
  const RunResult r = run_train_cifar("--dataset synthetic --synthetic-size 100 --image-size 32 --pool flatten "
                                      "--epochs 1 --output-dir /tmp/tl_test_init_from --init-from " +
                                      std::string(TL_H5_FIXTURE_DIR) + "/keras_archive.keras");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  for (const char* needle : {"--init-from", "keras_archive.keras", "input size: file 48, model 32",
                             "pooling: file avg, model flatten", "[256, 128, 64, 100]"})
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle << " not in: " << r.output;
}
#endif

// ---- failed writes (disk full, a metrics file that cannot be written) ------

// train_cifar run under `shell_prefix` (e.g. a file-size limit), via sh.
RunResult run_train_cifar_under(const std::string& shell_prefix, const std::string& args) {
  const std::string cmd = "sh -c '" + shell_prefix + "; exec " + std::string(TL_BUILD_DIR) + "/apps/train_cifar " +
                          args + "' 2>&1";
  RunResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Files under `dir` (recursively) whose name contains ".tmp".
std::vector<std::string> temp_files_under(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.path().filename().string().find(".tmp") != std::string::npos) out.push_back(entry.path().string());
  return out;
}

// Disk full while writing the epoch-2 checkpoint (a ~280 MB file; the
// limit, 100000 blocks of 512 or 1024 bytes depending on the shell, stops
// it at 51 or 102 MB). SIGXFSZ is ignored (the trap survives exec) so the
// write fails with EFBIG, as a full disk fails it with ENOSPC. Before the
// fix: the error was split over two lines and the process died with
// SIGSEGV in HDF5's shutdown (exit 139).
TEST(TrainCifarCli, DiskFullDuringCheckpointWriteIsOneErrorLineAndKeepsThePreviousCheckpoint) {
  const std::string out = fresh_dir("disk_full");
  const RunResult first = run_train_cifar(kTiny + "--epochs 2 --stop-after-epochs 1 --output-dir " + out);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const RunResult r =
      run_train_cifar_under("trap \"\" XFSZ; ulimit -f 100000", kTiny + "--epochs 2 --resume --output-dir " + out);
  expect_clean_error(r, out + "/checkpoints/last.h5");
  EXPECT_NE(r.output.find("disk full"), std::string::npos) << r.output;
  EXPECT_TRUE(temp_files_under(out).empty()) << temp_files_under(out).front();
  // The epoch-1 checkpoint is intact and loads.
  const LoadedCheckpoint kept = [&] {
    app::ModelRecord record;
    auto model = app::load_classifier(out + "/checkpoints/last.h5", record);
    return load_checkpoint(out + "/checkpoints/last.h5", *model);
  }();
  EXPECT_EQ(kept.progress.epoch, 1);
}

// metrics.csv cannot be written (its name is taken by a directory: a
// read-only folder would not stop root in CI): one error line, exit 1, the
// checkpoint of that epoch written, no temp file left.
TEST(TrainCifarCli, UnwritableMetricsIsOneErrorLineAndLeavesNoTempFile) {
  const std::string out = fresh_dir("metrics_blocked");
  fs::create_directories(out + "/metrics.csv");
  const RunResult r = run_train_cifar(kTiny + "--epochs 1 --output-dir " + out);
  expect_clean_error(r, out + "/metrics.csv");
  EXPECT_TRUE(temp_files_under(out).empty()) << temp_files_under(out).front();
  EXPECT_TRUE(fs::exists(out + "/checkpoints/last.h5"));
}

}  // namespace
}  // namespace tl::test
