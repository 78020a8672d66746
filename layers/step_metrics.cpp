#include "layers/step_metrics.h"

#include <cstring>

#include "runtime/check.h"
#include "runtime/device_copy.h"

namespace tl {

StepMetrics::StepMetrics(Context& ctx, const StepTotals& start) {
  Tensor host = Tensor::empty({static_cast<int64_t>(sizeof(StepTotals))}, DType::U8);
  std::memcpy(host.raw_data(), &start, sizeof(StepTotals));
  totals_ = ctx.to_device(host);  // once per epoch: the copy's wait does not matter
}

void StepMetrics::add(Context& ctx, const Tensor& loss, const Tensor& logits,
                      const Tensor& labels) {
  TL_CHECK(loss.numel() == 1 && logits.dim() == 2 && labels.dim() == 1 &&
               labels.size(0) == logits.size(0) && labels.dtype() == DType::I32,
           "StepMetrics::add: a (1) loss, (N, classes) logits and (N) int32 labels expected, "
           "got ", shape_str(loss.shape()), ", ", shape_str(logits.shape()), " and ",
           shape_str(labels.shape()));
  TL_CHECK(loss.device() == ctx.device() && logits.device() == ctx.device() &&
               labels.device() == ctx.device(),
           "StepMetrics::add: the loss, logits and labels must be on ", device_name(ctx.device()));
  auto* totals = static_cast<StepTotals*>(totals_.raw_data());
  if (ctx.device() == Device::CPU)
    add_step_totals_cpu(totals, loss.data<float>(), logits.data<float>(),
                        labels.data<int32_t>(), logits.size(0), logits.size(1));
  else
    add_step_totals_cuda(ctx.gpu(), totals, loss.data<float>(), logits.data<float>(),
                         labels.data<int32_t>(), logits.size(0), logits.size(1));
}

void StepMetrics::reset(Context& ctx, const StepTotals& start) {
  if (ctx.device() == Device::CPU) {
    std::memcpy(totals_.raw_data(), &start, sizeof(StepTotals));
    return;
  }
  // Once per epoch; the blocking copy runs after the queued steps (device_copy.h).
  copy_host_to_device(totals_.raw_data(), &start, sizeof(StepTotals));
}

StepTotals StepMetrics::read(Context& ctx) const {
  const Tensor host = ctx.to_host(totals_);  // waits; raises deferred kernel errors
  StepTotals totals;
  std::memcpy(&totals, host.raw_data(), sizeof(StepTotals));
  return totals;
}

}  // namespace tl
