// Per-epoch metrics of a training run, written as CSV and JSON, and the
// training curves (loss and accuracy, train vs validation) as an SVG figure
// like the one in the source article.
#pragma once

#include <string>
#include <vector>

namespace tl::app {

struct EpochMetrics {
  int64_t epoch = 0;  // 1-based
  double train_loss = 0, train_accuracy = 0;
  double val_loss = -1, val_accuracy = -1;  // < 0: no validation set
  double learning_rate = 0;                 // head learning rate at the epoch's end
  double seconds = 0, images_per_second = 0;
};

struct RunSummary {
  std::vector<EpochMetrics> epochs;
  double test_loss = -1, test_accuracy = -1;
  std::string config_json;
};

// Writes <dir>/metrics.csv, <dir>/metrics.json and <dir>/curves.svg, each
// atomically (temp file + rename). A failed write (full disk, a name taken
// by a directory) throws one tl::Error naming the file and the reason; it
// leaves no temp file and the previous version of that file unchanged.
void write_run_outputs(const std::string& dir, const RunSummary& run);

// The SVG figure on its own (used by write_run_outputs; exposed for tests).
std::string curves_svg(const std::vector<EpochMetrics>& epochs);

// Writes `text` to `path` through a temporary file, fsync and a rename;
// failures as for write_run_outputs.
void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace tl::app
