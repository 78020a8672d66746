// Running apps/train_cifar as a user does, from the tests: a child process
// with its output captured, an optional environment, per-process temporary
// folders (several build trees may run their tests at once) and the checks
// its results get. Header-only, like tests/support/data_fixtures.h.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "apps/run_config.h"
#include "tests/support/compare.h"

namespace tl::test::cli {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;   // -1 when the process did not exit (killed by a signal)
  int signal = 0;       // the signal that killed it, if one did
  std::string output;   // stdout and stderr together
};

// Runs `<build>/apps/train_cifar <args>` through sh, with `env` (e.g.
// "TL_TEST_RAISE_AT_STEP=2:INT") in its environment.
inline RunResult run_train_cifar(const std::string& args, const std::string& env = "") {
  const std::string cmd = (env.empty() ? "" : "env " + env + " ") + std::string(TL_BUILD_DIR) +
                          "/apps/train_cifar " + args + " 2>&1";
  RunResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  if (WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
    // sh reports a child killed by signal S as exit status 128 + S.
    if (r.exit_code > 128 && r.exit_code != 130) r.signal = r.exit_code - 128;
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

// The folders fresh_dir made, removed when the test process ends (each
// holds checkpoints of ~280 MB) unless a test failed: then they stay for a look.
class ScratchDirs {
 public:
  static ScratchDirs& instance() {
    static ScratchDirs dirs;
    return dirs;
  }
  void add(const fs::path& dir) { dirs_.push_back(dir); }
  ~ScratchDirs() {
    if (!::testing::UnitTest::GetInstance()->Passed()) return;
    std::error_code ec;
    for (const fs::path& dir : dirs_) fs::remove_all(dir, ec);
  }

 private:
  std::vector<fs::path> dirs_;
};

// A fresh, empty folder for this test process (named after it: test runs
// from several build trees at once must not share, and delete, each other's).
inline std::string fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tl_train_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  ScratchDirs::instance().add(dir);
  return dir.string();
}

// A tiny, fast run: 40 training images at 32x32 (3 batches of 16, the last
// one of 8), 10 for validation, 8 for the test.
inline const std::string kTiny =
    "--dataset synthetic --synthetic-size 60 --image-size 32 --pool avg --batch-size 16 "
    "--weights none --optimizer adam --lr 1e-3 --val-split 0.2 --test-subset 8 --seed 3 ";

// Expects a failure whose last line is one "train_cifar: error: ..." line
// containing each of `needles`.
inline void expect_clean_error(const RunResult& r, std::initializer_list<std::string> needles) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  const size_t at = r.output.rfind("train_cifar: error: ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string line = r.output.substr(at);
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "error is not one line: " << line;
  for (const std::string& needle : needles) EXPECT_NE(line.find(needle), std::string::npos) << needle << " in " << line;
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The deterministic columns of metrics.csv (up to the learning rate; the
// time columns vary run to run), one string per line.
inline std::vector<std::string> deterministic_metrics(const std::string& output_dir) {
  std::ifstream f(output_dir + "/metrics.csv");
  std::vector<std::string> rows;
  for (std::string line; std::getline(f, line);) {
    size_t pos = 0;
    for (int c = 0; c < 6 && pos != std::string::npos; ++c) pos = line.find(',', pos + 1);
    rows.push_back(line.substr(0, pos));
  }
  return rows;
}

// Asserts that two checkpoints of one model hold bit-identical parameters
// and buffers (BN statistics).
inline void expect_same_checkpoints(const std::string& a, const std::string& b) {
  app::ModelRecord ra, rb;
  auto model_a = app::load_classifier(a, ra);
  auto model_b = app::load_classifier(b, rb);
  const auto pa = model_a->named_parameters(), pb = model_b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i)
    ASSERT_TRUE(all_close(pb[i].tensor, pa[i].tensor, {0.0, 0.0}, pa[i].name));
  const auto ba = model_a->named_buffers(), bb = model_b->named_buffers();
  ASSERT_EQ(ba.size(), bb.size());
  for (size_t i = 0; i < ba.size(); ++i)
    ASSERT_TRUE(all_close(bb[i].tensor, ba[i].tensor, {0.0, 0.0}, ba[i].name));
}

}  // namespace tl::test::cli
