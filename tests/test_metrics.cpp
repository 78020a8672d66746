// apps/metrics: the run's metrics.csv, metrics.json and curves.svg. A failed
// write (a full disk, a path that is a directory) is one clean error naming
// the file, leaves the previous file as it was and no temp file behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/metrics.h"
#include "runtime/check.h"
#include "tests/support/file_size_limit.h"

namespace tl::test {
namespace {
namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tl_metrics_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Files in `dir` whose name contains ".tmp".
std::vector<std::string> temp_files_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.path().filename().string().find(".tmp") != std::string::npos) out.push_back(entry.path().string());
  return out;
}

app::RunSummary two_epochs(size_t config_bytes) {
  app::RunSummary run;
  run.epochs.push_back({1, 1.5, 0.4, 1.6, 0.35, 1e-3, 10, 100});
  run.epochs.push_back({2, 1.1, 0.6, 1.2, 0.55, 1e-3, 10, 100});
  run.config_json = "{\"note\": \"" + std::string(config_bytes, 'x') + "\"}";
  return run;
}

TEST(Metrics, WritesTheThreeFiles) {
  const std::string dir = fresh_dir("writes");
  app::write_run_outputs(dir, two_epochs(10));
  EXPECT_NE(read_text(dir + "/metrics.csv").find("2,1.1,0.6,1.2,0.55"), std::string::npos);
  EXPECT_NE(read_text(dir + "/metrics.json").find("\"epochs\""), std::string::npos);
  EXPECT_NE(read_text(dir + "/curves.svg").find("<svg"), std::string::npos);
  EXPECT_TRUE(temp_files_in(dir).empty());
  fs::remove_all(dir);
}

// The final name is taken by a directory: the rename fails (root can
// write anywhere, so a read-only directory would not fail as root in CI).
TEST(Metrics, FailedRenameIsOneErrorAndLeavesNoTempFile) {
  const std::string dir = fresh_dir("rename");
  fs::create_directories(dir + "/metrics.json");
  try {
    app::write_run_outputs(dir, two_epochs(10));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(dir + "/metrics.json"), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
  EXPECT_TRUE(temp_files_in(dir).empty()) << temp_files_in(dir).front();
  fs::remove_all(dir);
}

TEST(Metrics, DiskFullIsOneCleanErrorAndKeepsThePreviousFiles) {
  const std::string dir = fresh_dir("disk_full");
  app::write_run_outputs(dir, two_epochs(10));
  const std::string json_before = read_text(dir + "/metrics.json");
  // metrics.json needs ~200 KB; the limit lets metrics.csv through.
  const ChildResult r = run_with_file_size_limit(64 * 1024, [&] { app::write_run_outputs(dir, two_epochs(200000)); });
  EXPECT_TRUE(r.exited) << "killed by signal " << r.signal;
  EXPECT_EQ(r.exit_code, 1) << r.error;
  EXPECT_NE(r.error.find(dir + "/metrics.json"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find("disk full"), std::string::npos) << r.error;
  EXPECT_EQ(r.error.find('\n'), std::string::npos) << r.error;
  EXPECT_EQ(read_text(dir + "/metrics.json"), json_before);
  EXPECT_TRUE(temp_files_in(dir).empty()) << temp_files_in(dir).front();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace tl::test
