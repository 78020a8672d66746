// softmax_cross_entropy: the mean softmax cross-entropy of a batch, fused
// (the softmax it computes is kept for the backward).
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/reference/softmax_xent.h"
#include "kernels/softmax_xent.h"

namespace tl::ops {
using namespace detail;

Tensor softmax_cross_entropy(Context& ctx, const Tensor& logits, const Tensor& labels) {
  constexpr const char* op = "softmax_cross_entropy";
  check_float(logits, op, "logits", 2);
  if (!labels.defined()) fail(op, ": labels is undefined");
  if (labels.dtype() != DType::I32)
    fail(op, ": labels must be int32 class indices, got ", dtype_name(labels.dtype()));
  const int64_t batch = logits.size(0), classes = logits.size(1);
  if (labels.dim() != 1 || labels.size(0) != batch)
    fail(op, ": labels has shape ", shape_str(labels.shape()), ", expected (", batch,
         ") to match logits ", shape_str(logits.shape()));
  if (batch == 0 || classes == 0)
    fail(op, ": empty logits, shape ", shape_str(logits.shape()));
  check_device(ctx, op, {&logits, &labels});

  Tensor loss = ctx.empty({1});
  Tensor probs = ctx.empty(logits.shape());  // (N, C), saved for the backward
  if (ctx.device() == Device::CPU) {
    loss.data<float>()[0] =
        cpu_kernel(ctx, softmax_xent_forward_cpu<float>, softmax_xent_forward_reference<float>)(
            probs.data<float>(), logits.data<float>(), labels.data<int32_t>(), batch, classes);
  } else {
    softmax_xent_forward_cuda(ctx.gpu(), loss.data<float>(), probs.data<float>(), logits.data<float>(),
                              labels.data<int32_t>(), batch, classes);
  }

  if (any_requires_grad(ctx, {&logits})) {
    attach_node(ctx, loss, op, {logits}, [&ctx, probs, labels, batch, classes](const Tensor& dloss) {
      // The incoming gradient is one number. The GPU kernel reads it where it
      // is: copying it to the host would make the host wait for the forward.
      Tensor dlogits = ctx.empty(probs.shape());
      if (ctx.device() == Device::CPU) {
        cpu_kernel(ctx, softmax_xent_backward_cpu<float>, softmax_xent_backward_reference<float>)(
            dlogits.data<float>(), probs.data<float>(), labels.data<int32_t>(),
            dloss.data<float>()[0], batch, classes);
      } else {
        softmax_xent_backward_cuda(ctx.gpu(), dlogits.data<float>(), probs.data<float>(),
                                   labels.data<int32_t>(), dloss.data<float>(), batch, classes);
      }
      return std::vector<Tensor>{dlogits};
    });
  }
  return loss;
}

}  // namespace tl::ops
