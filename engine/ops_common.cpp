#include "engine/ops_common.h"

#include "engine/ops.h"

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

void check_floating(const Tensor& t, const char* op, const char* arg, int64_t rank) {
  if (t.defined() && t.dtype() == DType::BF16) {
    if (rank >= 0 && t.dim() != rank)
      fail(op, ": ", arg, " must have rank ", rank, ", got shape ", shape_str(t.shape()));
    return;
  }
  check_float(t, op, arg, rank);
}

Tensor widen(Context& ctx, const Tensor& t) { return is_bf16(t) ? cast(ctx, t, DType::F32) : t; }

Tensor to_bf16(Context& ctx, const Tensor& t) { return cast(ctx, t, DType::BF16); }

Tensor bf16_rounded(Context& ctx, const Tensor& w) {
  return cast(ctx, cast(ctx, w, DType::BF16), DType::F32);
}

void fail_mixed_dtypes(const char* op, const Tensor& a, const Tensor& b) {
  fail(op, ": activations of one dtype expected, got ", dtype_name(a.dtype()), " and ",
       dtype_name(b.dtype()), "; cast one with ops::cast");
}

Tensor gradient_buffer_if(const Context& ctx, bool required, const Tensor& like) {
  return required ? ctx.empty(like.shape(), like.dtype()) : Tensor();
}

}  // namespace tl::ops::detail
