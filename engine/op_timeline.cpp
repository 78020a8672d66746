#include "engine/op_timeline.h"

#include <algorithm>

#include "engine/context.h"
#include "runtime/check.h"

#ifdef TL_WITH_CUDA
#include <cuda_runtime.h>

#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#endif

namespace tl {

#ifdef TL_WITH_CUDA
// One event per mark (and one for the start), recorded on the stream.
struct OpTimeline::Events {
  std::vector<cudaEvent_t> events;
  ~Events() {
    for (cudaEvent_t e : events) cudaEventDestroy(e);  // errors ignored: a destructor
  }
  void record(cuda::CudaState& gpu) {
    cudaEvent_t e = nullptr;
    TL_CUDA_CHECK(cudaEventCreate(&e));
    events.push_back(e);
    TL_CUDA_CHECK(cudaEventRecord(e, gpu.stream));
  }
  double ms_between(size_t a, size_t b) const {
    float ms = 0;
    TL_CUDA_CHECK(cudaEventElapsedTime(&ms, events[a], events[b]));
    return ms;
  }
};
#else
struct OpTimeline::Events {
  void record(cuda::CudaState&) {}
  double ms_between(size_t, size_t) const { return 0; }
};
#endif

OpTimeline::OpTimeline(Context& ctx) : ctx_(ctx) {
  if (ctx.device() == Device::CUDA) {
    events_ = std::make_unique<Events>();
    events_->record(ctx.gpu());
  } else {
    times_.push_back(std::chrono::steady_clock::now());
  }
}

OpTimeline::~OpTimeline() = default;

void OpTimeline::mark(const std::string& label) {
  labels_.push_back(label);
  if (events_)
    events_->record(ctx_.gpu());
  else
    times_.push_back(std::chrono::steady_clock::now());
}

std::vector<OpTimeline::Row> OpTimeline::finish() {
  ctx_.synchronize();
  std::map<std::string, Row> by_label;
  for (size_t i = 0; i < labels_.size(); ++i) {
    const double ms =
        events_ ? events_->ms_between(i, i + 1)
                : std::chrono::duration<double, std::milli>(times_[i + 1] - times_[i]).count();
    Row& row = by_label[labels_[i]];
    row.label = labels_[i];
    row.ms += ms;
    ++row.count;
  }
  std::vector<Row> rows;
  for (auto& [label, row] : by_label) rows.push_back(row);
  std::stable_sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.ms > b.ms; });
  return rows;
}

}  // namespace tl
