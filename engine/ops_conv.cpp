// conv2d: 2-D convolution, NHWC activations, OHWI weights, optional bias
// (kernels/conv2d.h holds the layout and the algorithm).
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/conv2d.h"
#include "kernels/reference/conv2d.h"

namespace tl::ops {
using namespace detail;

namespace {

// Validates the arguments and returns the geometry of the convolution.
Conv2dGeometry conv2d_geometry(const Tensor& x, const Tensor& w, const Tensor& bias,
                               int64_t stride, int64_t pad) {
  check_float(x, "conv2d", "x (N, H, W, C)", 4);
  check_float(w, "conv2d", "w (O, KH, KW, C)", 4);
  if (bias.defined()) check_float(bias, "conv2d", "bias (O)", 1);
  if (stride < 1) fail("conv2d: stride must be >= 1, got ", stride);
  if (pad < 0) fail("conv2d: pad must be >= 0, got ", pad);
  if (w.size(3) != x.size(3))
    fail("conv2d: x has ", x.size(3), " channels but w expects ", w.size(3), " (x ",
         shape_str(x.shape()), ", w ", shape_str(w.shape()), "; w is (O, KH, KW, C))");
  if (bias.defined() && bias.size(0) != w.size(0))
    fail("conv2d: bias has ", bias.size(0), " values for ", w.size(0), " output channels (w ",
         shape_str(w.shape()), ", bias ", shape_str(bias.shape()), ")");

  Conv2dGeometry g;
  g.batch = x.size(0), g.in_h = x.size(1), g.in_w = x.size(2), g.in_c = x.size(3);
  g.out_c = w.size(0), g.kernel_h = w.size(1), g.kernel_w = w.size(2);
  g.stride = stride, g.pad = pad;
  // Checked before out_h(): a negative numerator would truncate towards zero.
  if (g.kernel_h < 1 || g.kernel_w < 1 || g.in_h + 2 * pad < g.kernel_h ||
      g.in_w + 2 * pad < g.kernel_w)
    fail("conv2d: the ", g.kernel_h, "x", g.kernel_w, " kernel does not fit the ", g.in_h, "x",
         g.in_w, " input with pad ", pad, " (x ", shape_str(x.shape()), ", w ",
         shape_str(w.shape()), "): the output would be empty");
  return g;
}

}  // namespace

Tensor conv2d(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
              int64_t pad) {
  const Conv2dGeometry g = conv2d_geometry(x, w, bias, stride, pad);
  check_device(ctx, "conv2d", {&x, &w, &bias});
  Tensor y = ctx.empty({g.batch, g.out_h(), g.out_w(), g.out_c});
  if (ctx.device() == Device::CPU) {
    cpu_kernel(ctx, conv2d_forward_cpu<float>, conv2d_forward_reference<float>)(
        y.data<float>(), x.data<float>(), w.data<float>(), ptr_or_null(bias), g);
  } else {
    conv2d_forward_cuda(ctx.gpu(), y.data<float>(), x.data<float>(), w.data<float>(), ptr_or_null(bias),
                        g);
  }

  if (any_requires_grad(ctx, {&x, &w, &bias})) {
    // Saves the inputs (x for dw, w for dx); bias is not needed.
    attach_node(y, "conv2d", {x, w, bias}, [&ctx, x, w, bias, g](const Tensor& dy) {
      Tensor dx = gradient_buffer_if(ctx, x.requires_grad(), x);
      Tensor dw = gradient_buffer_if(ctx, w.requires_grad(), w);
      Tensor dbias = gradient_buffer_if(ctx, bias.defined() && bias.requires_grad(), bias);
      if (ctx.device() == Device::CPU) {
        cpu_kernel(ctx, conv2d_backward_cpu<float>, conv2d_backward_reference<float>)(
            ptr_or_null(dx), ptr_or_null(dw), ptr_or_null(dbias), dy.data<float>(),
            x.data<float>(), w.data<float>(), g);
      } else {
        conv2d_backward_cuda(ctx.gpu(), ptr_or_null(dx), ptr_or_null(dw), ptr_or_null(dbias),
                             dy.data<float>(), x.data<float>(), w.data<float>(), g);
      }
      return std::vector<Tensor>{dx, dw, dbias};
    });
  }
  return y;
}

}  // namespace tl::ops
