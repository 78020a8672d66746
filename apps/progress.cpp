#include "apps/progress.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

namespace tl::app {

ProgressBar::ProgressBar(std::string label, int64_t total_items, int64_t already_done)
    : label_(std::move(label)), total_(total_items), already_done_(already_done), last_done_(already_done),
      tty_(isatty(fileno(stdout)) != 0),
      start_(std::chrono::steady_clock::now()) {}

double ProgressBar::seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
}

double ProgressBar::items_per_second() const {
  const double s = seconds();
  return s > 0 ? double(last_done_ - already_done_) / s : 0.0;
}

std::string ProgressBar::line(int64_t done, const std::string& extra) const {
  constexpr int kWidth = 24;
  const double fraction = total_ > 0 ? double(done) / double(total_) : 1.0;
  const int filled = static_cast<int>(fraction * kWidth);
  const double rate = items_per_second();
  const double eta = rate > 0 ? double(total_ - done) / rate : 0.0;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%s [%s%s] %lld/%lld  %.1f img/s  %s %02d:%02d", label_.c_str(),
                std::string(static_cast<size_t>(filled), '=').c_str(),
                std::string(static_cast<size_t>(kWidth - filled), ' ').c_str(),
                static_cast<long long>(done), static_cast<long long>(total_), rate,
                done < total_ ? "ETA" : "took", static_cast<int>((done < total_ ? eta : seconds()) / 60),
                static_cast<int>(done < total_ ? eta : seconds()) % 60);
  return std::string(buf) + (extra.empty() ? "" : "  " + extra);
}

void ProgressBar::update(int64_t done, const std::string& extra) {
  last_done_ = done;
  ++updates_;
  if (tty_) {
    std::cout << "\r" << line(done, extra) << "\033[K" << std::flush;
  } else if (updates_ % 20 == 0) {
    std::cout << line(done, extra) << "\n" << std::flush;
  }
}

void ProgressBar::finish(const std::string& extra) {
  std::cout << (tty_ ? "\r" : "") << line(last_done_, extra) << (tty_ ? "\033[K" : "") << "\n"
            << std::flush;
}

}  // namespace tl::app
