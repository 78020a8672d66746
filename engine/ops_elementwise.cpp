// relu, add, add_relu and reshape, in float32 or bfloat16 (reshape is a
// view of any dtype; the GPU's kernels take bf16 themselves, the CPU runs
// the float32 op between casts: engine/ops.h). Their CPU kernels are single plain loops,
// each its own reference (kernels/elementwise.cpp), so they run the same
// kernel whatever ctx.cpu_kernels() says (docs/cpu_reference.md).
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/elementwise.h"

namespace tl::ops {
using namespace detail;

namespace {

void check_same_shape(const Tensor& a, const Tensor& b, const char* op) {
  if (a.shape() != b.shape())
    fail(op, ": shapes differ: ", shape_str(a.shape()), " vs ", shape_str(b.shape()));
}

// dx = dy * (y > 0), on the tensors' device, in y's dtype.
Tensor relu_backward(Context& ctx, const Tensor& dy, const Tensor& y) {
  Tensor dx = ctx.empty(y.shape(), y.dtype());
  if (ctx.device() == Device::CPU) {
    relu_backward_cpu(dx.data<float>(), dy.data<float>(), y.data<float>(), y.numel());
  } else {
    with_storage_type(y, [&](auto type) {
      using T = decltype(type);
      relu_backward_cuda(ctx.gpu(), dx.data<T>(), dy.data<T>(), y.data<T>(), y.numel());
    });
  }
  return dx;
}

// The forward of add / add_relu without autograd.
Tensor add_forward(Context& ctx, const Tensor& a, const Tensor& b, bool relu, const char* op) {
  check_floating(a, op, "a", -1);
  check_floating(b, op, "b", -1);
  if (a.dtype() != b.dtype()) fail_mixed_dtypes(op, a, b);
  check_same_shape(a, b, op);
  check_device(ctx, op, {&a, &b});
  Tensor y = ctx.empty(a.shape(), a.dtype());
  if (ctx.device() == Device::CPU) {
    (relu ? add_relu_forward_cpu<float> : add_forward_cpu<float>)(
        y.data<float>(), a.data<float>(), b.data<float>(), a.numel());
  } else {
    with_storage_type(a, [&](auto type) {
      using T = decltype(type);
      if (relu)
        add_relu_forward_cuda(ctx.gpu(), y.data<T>(), a.data<T>(), b.data<T>(), a.numel());
      else
        add_forward_cuda(ctx.gpu(), y.data<T>(), a.data<T>(), b.data<T>(), a.numel());
    });
  }
  return y;
}

// bf16 on the CPU: the float32 op between casts (the GPU's kernels take
// bf16 themselves). Both arguments must be bf16 then.
bool runs_as_float_between_casts(const Context& ctx, const Tensor& a, const Tensor& b,
                                 const char* op) {
  if (!is_bf16(a) && !is_bf16(b)) return false;
  if (!is_bf16(a) || !is_bf16(b)) fail_mixed_dtypes(op, a, b);
  return ctx.device() == Device::CPU;
}

}  // namespace

Tensor relu(Context& ctx, const Tensor& x) {
  if (is_bf16(x) && ctx.device() == Device::CPU)
    return to_bf16(ctx, relu(ctx, widen(ctx, x)));
  check_floating(x, "relu", "x", -1);
  check_device(ctx, "relu", {&x});
  Tensor y = ctx.empty(x.shape(), x.dtype());
  if (ctx.device() == Device::CPU) {
    relu_forward_cpu(y.data<float>(), x.data<float>(), x.numel());
  } else {
    with_storage_type(x, [&](auto type) {
      using T = decltype(type);
      relu_forward_cuda(ctx.gpu(), y.data<T>(), x.data<T>(), x.numel());
    });
  }
  if (any_requires_grad(ctx, {&x})) {
    // Saves the output, not the input: y > 0 exactly where x > 0.
    Tensor y_saved = y.view(y.shape());
    attach_node(ctx, y, "relu", {x}, [&ctx, y_saved](const Tensor& dy) {
      return std::vector<Tensor>{relu_backward(ctx, dy, y_saved)};
    });
  }
  return y;
}

Tensor add(Context& ctx, const Tensor& a, const Tensor& b) {
  if (runs_as_float_between_casts(ctx, a, b, "add"))
    return to_bf16(ctx, add(ctx, widen(ctx, a), widen(ctx, b)));
  Tensor y = add_forward(ctx, a, b, /*relu=*/false, "add");
  if (any_requires_grad(ctx, {&a, &b}))
    attach_node(ctx, y, "add", {a, b}, [](const Tensor& dy) { return std::vector<Tensor>{dy, dy}; });
  return y;
}

Tensor add_relu(Context& ctx, const Tensor& a, const Tensor& b) {
  if (runs_as_float_between_casts(ctx, a, b, "add_relu"))
    return to_bf16(ctx, add_relu(ctx, widen(ctx, a), widen(ctx, b)));
  Tensor y = add_forward(ctx, a, b, /*relu=*/true, "add_relu");
  if (any_requires_grad(ctx, {&a, &b})) {
    Tensor y_saved = y.view(y.shape());
    attach_node(ctx, y, "add_relu", {a, b}, [&ctx, y_saved](const Tensor& dy) {
      Tensor ds = relu_backward(ctx, dy, y_saved);
      return std::vector<Tensor>{ds, ds};
    });
  }
  return y;
}

Tensor reshape(Context& ctx, const Tensor& x, const Shape& shape) {
  Tensor y = x.view(shape);
  if (any_requires_grad(ctx, {&x})) {
    Shape in_shape = x.shape();
    attach_node(ctx, y, "reshape", {x}, [in_shape](const Tensor& dy) {
      return std::vector<Tensor>{dy.view(in_shape)};
    });
  }
  return y;
}

}  // namespace tl::ops
