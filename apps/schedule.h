// Learning-rate schedules, as a factor of the base rate at a (fractional)
// epoch: linear warm-up from 0, then constant, step decay, or cosine decay
// to 0 at the end of training. A pure function of the position, so a resumed
// run uses exactly the rates the uninterrupted run would have.
#pragma once

#include <string>

namespace tl::app {

struct Schedule {
  std::string kind = "constant";  // constant | step | cosine
  double warmup_epochs = 0;
  double total_epochs = 1;
  int64_t step_epochs = 3;
  double step_gamma = 0.1;
  double factor(double epoch) const;  // epoch in [0, total_epochs]
};

}  // namespace tl::app
