// The running totals of a run of training steps (loss, hits, a non-finite
// loss), added up where the steps run. On a GPU this is what lets a step go
// without the host reading anything: the trainer reads the totals once every
// few steps (layers/step_metrics.h), not the loss and the logits each step.
#pragma once

#include <cstdint>

#include "runtime/philox.h"  // TL_HOST_DEVICE

namespace tl {

// One plain struct, the same bytes on the host and on the device.
struct StepTotals {
  // Sum over the finite steps of double(loss) * batch, in step order (the
  // product is exact, so only the sum rounds): the same double arithmetic
  // wherever it runs, so a resumed or a GPU run adds up exactly as a CPU
  // run that read every step.
  double loss_sum = 0;
  int64_t correct = 0;  // finite steps' samples whose largest logit is at their label
  int64_t samples = 0;  // finite steps' samples
  int64_t steps = 0;    // every step added, finite or not
  // The index (0-based, counted by `steps`) of the first step whose loss was
  // NaN or infinite, or -1. That step adds nothing to the sums above.
  int64_t first_non_finite = -1;
  float first_non_finite_loss = 0;
  float last_loss = 0;  // the loss of the last step added
};

// The index of the largest of row[0, classes), the first one on a tie, as
// count_correct and argmax_rows pick it. Comparisons with NaN are false, so
// a NaN is passed over (but one at index 0 stays the pick: nothing beats it).
TL_HOST_DEVICE int64_t argmax_of_row(const float* row, int64_t classes) {
  int64_t best = 0;
  for (int64_t j = 1; j < classes; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

// Adds one step to *totals: its mean loss (1), logits (batch, classes) and
// labels (batch) int32. Host pointers.
void add_step_totals_cpu(StepTotals* totals, const float* loss, const float* logits,
                         const int32_t* labels, int64_t batch, int64_t classes);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launcher (kernels/step_metrics.cu; a CPU-only build has a stub that
// throws: kernels/cuda_stubs.cpp): the same sums, in the same order, with
// every pointer on the device; queued on the stream, one small launch.
void add_step_totals_cuda(cuda::CudaState& gpu, StepTotals* totals, const float* loss,
                          const float* logits, const int32_t* labels, int64_t batch,
                          int64_t classes);
}  // namespace tl
