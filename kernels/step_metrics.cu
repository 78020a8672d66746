// add_step_totals on the GPU: one block. Each thread takes rows i, i + 256,
// ... and counts its hits; a shared-memory tree adds the counts (integers:
// any order gives the same sum); thread 0 then does the CPU's scalar
// arithmetic (kernels/step_metrics.cpp) on the totals, in double, so the
// sums are bit for bit the CPU's. The batch is small (64 rows of 10 logits):
// one block is plenty, and the launch is the whole cost.
#include "kernels/step_metrics.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"

namespace tl {
namespace {

__global__ void __launch_bounds__(cuda::kBlockThreads)
    add_step_totals_kernel(StepTotals* totals, const float* __restrict__ loss,
                           const float* __restrict__ logits, const int32_t* __restrict__ labels,
                           int64_t batch, int64_t classes) {
  __shared__ long long hits[cuda::kBlockThreads];
  long long mine = 0;
  for (int64_t i = threadIdx.x; i < batch; i += blockDim.x)
    mine += argmax_of_row(logits + i * classes, classes) == labels[i];
  hits[threadIdx.x] = mine;
  __syncthreads();
  for (unsigned o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) hits[threadIdx.x] += hits[threadIdx.x + o];
    __syncthreads();
  }
  if (threadIdx.x != 0) return;
  const float value = loss[0];
  const int64_t step = totals->steps++;
  totals->last_loss = value;
  if (!isfinite(value)) {
    if (totals->first_non_finite < 0) {
      totals->first_non_finite = step;
      totals->first_non_finite_loss = value;
    }
    return;
  }
  // The product is exact in double (a float times a batch size), so only
  // the sum rounds: the CPU's result, FMA or not.
  totals->loss_sum += static_cast<double>(value) * static_cast<double>(batch);
  totals->correct += hits[0];
  totals->samples += batch;
}

}  // namespace

void add_step_totals_cuda(cuda::CudaState& gpu, StepTotals* totals, const float* loss,
                          const float* logits, const int32_t* labels, int64_t batch,
                          int64_t classes) {
  add_step_totals_kernel<<<1, cuda::kBlockThreads, 0, gpu.stream>>>(totals, loss, logits, labels,
                                                                     batch, classes);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace tl
