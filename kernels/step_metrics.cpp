#include "kernels/step_metrics.h"

#include <cmath>

namespace tl {

void add_step_totals_cpu(StepTotals* totals, const float* loss, const float* logits,
                         const int32_t* labels, int64_t batch, int64_t classes) {
  const float value = loss[0];
  const int64_t step = totals->steps++;
  totals->last_loss = value;
  if (!std::isfinite(value)) {
    if (totals->first_non_finite < 0) {
      totals->first_non_finite = step;
      totals->first_non_finite_loss = value;
    }
    return;
  }
  int64_t hits = 0;
  for (int64_t i = 0; i < batch; ++i)
    hits += argmax_of_row(logits + i * classes, classes) == labels[i];
  totals->loss_sum += static_cast<double>(value) * static_cast<double>(batch);
  totals->correct += hits;
  totals->samples += batch;
}

}  // namespace tl
