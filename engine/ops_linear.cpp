// linear (Keras Dense): y = x w + b, x (N, in), w (in, out), b (out).
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/linear.h"
#include "kernels/reference/linear.h"

namespace tl::ops {
using namespace detail;

Tensor linear(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias) {
  constexpr const char* op = "linear";
  check_float(x, op, "x", 2);
  check_float(w, op, "w", 2);
  const int64_t batch = x.size(0), in = x.size(1), out = w.size(1);
  if (w.size(0) != in)
    fail(op, ": x has ", in, " features per row (shape ", shape_str(x.shape()),
         ") but w expects ", w.size(0), " (shape ", shape_str(w.shape()), ", stored (in, out))");
  if (bias.defined()) {
    check_float(bias, op, "bias", 1);
    if (bias.size(0) != out)
      fail(op, ": bias has shape ", shape_str(bias.shape()), ", expected (", out, ")");
  }
  check_device(ctx, op, {&x, &w, &bias});

  Tensor y = ctx.empty({batch, out});
  if (ctx.device() == Device::CPU) {
    cpu_kernel(ctx, linear_forward_cpu<float>, linear_forward_reference<float>)(
        y.data<float>(), x.data<float>(), w.data<float>(), ptr_or_null(bias), batch, in, out);
  } else {
    linear_forward_cuda(ctx.gpu(), y.data<float>(), x.data<float>(), w.data<float>(), ptr_or_null(bias),
                        batch, in, out);
  }

  if (any_requires_grad(ctx, {&x, &w, &bias})) {
    attach_node(ctx, y, op, {x, w, bias}, [&ctx, x, w, bias, batch, in, out](const Tensor& dy) {
      Tensor dx = gradient_buffer_if(ctx, x.requires_grad(), x);
      Tensor dw = gradient_buffer_if(ctx, w.requires_grad(), w);
      Tensor db = gradient_buffer_if(ctx, bias.defined() && bias.requires_grad(), bias);
      if (ctx.device() == Device::CPU) {
        cpu_kernel(ctx, linear_backward_cpu<float>, linear_backward_reference<float>)(
            ptr_or_null(dx), ptr_or_null(dw), ptr_or_null(db), dy.data<float>(), x.data<float>(),
            w.data<float>(), batch, in, out);
      } else {
        linear_backward_cuda(ctx.gpu(), ptr_or_null(dx), ptr_or_null(dw), ptr_or_null(db),
                             dy.data<float>(), x.data<float>(), w.data<float>(), batch, in, out);
      }
      return std::vector<Tensor>{dx, dw, db};
    });
  }
  return y;
}

}  // namespace tl::ops
