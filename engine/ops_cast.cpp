// cast: float32 <-> bfloat16, the op every bf16 path goes through.
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/cast.h"
#include "runtime/bf16.h"

namespace tl::ops {
using namespace detail;

namespace {

// The conversion alone, recorded by nothing.
Tensor convert(Context& ctx, const Tensor& x, DType dtype) {
  Tensor y = ctx.empty(x.shape(), dtype);
  const bool to_bf16 = dtype == DType::BF16;
  if (ctx.device() == Device::CPU) {
    if (to_bf16)
      float_to_bf16_cpu(y.data<uint16_t>(), x.data<float>(), x.numel());
    else
      bf16_to_float_cpu(y.data<float>(), x.data<uint16_t>(), x.numel());
  } else {
    if (to_bf16)
      float_to_bf16_cuda(ctx.gpu(), y.data<uint16_t>(), x.data<float>(), x.numel());
    else
      bf16_to_float_cuda(ctx.gpu(), y.data<float>(), x.data<uint16_t>(), x.numel());
  }
  return y;
}

bool is_float_type(DType d) { return d == DType::F32 || d == DType::BF16; }

}  // namespace

Tensor cast(Context& ctx, const Tensor& x, DType dtype) {
  constexpr const char* op = "cast";
  if (!x.defined()) fail(op, ": x is undefined");
  if (!is_float_type(x.dtype()) || !is_float_type(dtype))
    fail(op, ": converts between float32 and bfloat16 only, asked for ", dtype_name(x.dtype()),
         " -> ", dtype_name(dtype));
  check_device(ctx, op, {&x});
  if (x.dtype() == dtype) return x;
  Tensor y = convert(ctx, x, dtype);
  if (any_requires_grad(ctx, {&x})) {
    const DType back = x.dtype();
    attach_node(ctx, y, op, {x}, [&ctx, back](const Tensor& dy) {
      return std::vector<Tensor>{convert(ctx, dy, back)};
    });
  }
  return y;
}

}  // namespace tl::ops
