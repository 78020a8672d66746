#include "apps/schedule.h"

#include <cmath>

namespace tl::app {

double Schedule::factor(double epoch) const {
  if (warmup_epochs > 0 && epoch < warmup_epochs) return epoch / warmup_epochs;
  if (kind == "step") return std::pow(step_gamma, std::floor(epoch / double(step_epochs)));
  if (kind == "cosine") {
    const double span = total_epochs - warmup_epochs;
    if (span <= 0) return 1.0;
    const double t = std::min(1.0, (epoch - warmup_epochs) / span);
    return 0.5 * (1.0 + std::cos(M_PI * t));
  }
  return 1.0;
}

}  // namespace tl::app
