#include "engine/ops_common.h"

namespace tl::ops::detail {

void check_device(const Context& ctx, const char* op, std::initializer_list<const Tensor*> tensors) {
  for (const Tensor* t : tensors)
    if (t && t->defined() && t->device() != ctx.device())
      fail(op, ": a tensor is on ", device_name(t->device()), " but the context runs on ",
           device_name(ctx.device()), "; move it with ctx.to_device()");
}

void check_float(const Tensor& t, const char* op, const char* arg, int64_t rank) {
  if (!t.defined()) fail(op, ": ", arg, " is undefined");
  if (t.dtype() != DType::F32) fail(op, ": ", arg, " must be float32, got ", dtype_name(t.dtype()));
  if (rank >= 0 && t.dim() != rank)
    fail(op, ": ", arg, " must have rank ", rank, ", got shape ", shape_str(t.shape()));
}

Tensor gradient_buffer_if(const Context& ctx, bool required, const Tensor& like) {
  return required ? ctx.empty(like.shape()) : Tensor();
}

}  // namespace tl::ops::detail
