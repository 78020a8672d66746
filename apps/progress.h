// A one-line progress bar for the terminal: position, images/s, ETA and the
// running loss/accuracy. On a terminal it redraws in place; when the output
// is a file or a pipe (CI, nohup) it prints a line every `log_every` updates
// instead, so logs stay readable.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace tl::app {

class ProgressBar {
 public:
  // `already_done`: items finished before this bar started (a resumed
  // epoch); they count towards the position but not the rate.
  ProgressBar(std::string label, int64_t total_items, int64_t already_done = 0);
  // `done` items processed so far; `extra` is appended (e.g. "loss 1.23 acc 45%").
  void update(int64_t done, const std::string& extra = "");
  void finish(const std::string& extra = "");
  double seconds() const;
  double items_per_second() const;

 private:
  std::string line(int64_t done, const std::string& extra) const;
  std::string label_;
  int64_t total_, already_done_, last_done_, updates_ = 0;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace tl::app
