// upsample_bilinear (differentiable) and preprocess_caffe (the data, not
// differentiable): bilinear resampling with half-pixel centres, NHWC.
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/preprocess.h"
#include "kernels/reference/preprocess.h"
#include "kernels/reference/upsample.h"
#include "kernels/upsample.h"

namespace tl::ops {
using namespace detail;

namespace {

void check_out_size(const char* op, int64_t out_h, int64_t out_w) {
  if (out_h <= 0 || out_w <= 0)
    fail(op, ": output size must be positive, got ", out_h, "x", out_w);
}

}  // namespace

Tensor upsample_bilinear(Context& ctx, const Tensor& x, int64_t out_h, int64_t out_w) {
  constexpr const char* op = "upsample_bilinear";
  check_float(x, op, "x", 4);
  check_out_size(op, out_h, out_w);
  check_device(ctx, op, {&x});
  UpsampleGeometry g;
  g.batch = x.size(0);
  g.in_h = x.size(1);
  g.in_w = x.size(2);
  g.channels = x.size(3);
  g.out_h = out_h;
  g.out_w = out_w;
  if (g.in_h <= 0 || g.in_w <= 0)
    fail(op, ": input x has an empty image, shape ", shape_str(x.shape()));

  Tensor y = ctx.empty({g.batch, out_h, out_w, g.channels});
  if (ctx.device() == Device::CPU) {
    cpu_kernel(ctx, upsample_bilinear_forward_cpu<float>,
               upsample_bilinear_forward_reference<float>)(y.data<float>(), x.data<float>(), g);
  } else {
    upsample_bilinear_forward_cuda(ctx.gpu(), y.data<float>(), x.data<float>(), g);
  }
  if (any_requires_grad(ctx, {&x})) {
    const Shape in_shape = x.shape();
    attach_node(ctx, y, op, {x}, [&ctx, g, in_shape](const Tensor& dy) {
      Tensor dx = ctx.empty(in_shape);
      if (ctx.device() == Device::CPU) {
        cpu_kernel(ctx, upsample_bilinear_backward_cpu<float>,
                   upsample_bilinear_backward_reference<float>)(dx.data<float>(),
                                                                dy.data<float>(), g);
      } else {
        upsample_bilinear_backward_cuda(ctx.gpu(), dx.data<float>(), dy.data<float>(), g);
      }
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor preprocess_caffe(Context& ctx, const Tensor& images, int64_t out_h, int64_t out_w) {
  constexpr const char* op = "preprocess_caffe";
  if (!images.defined()) fail(op, ": images is undefined");
  if (images.dtype() != DType::U8)
    fail(op, ": images must be uint8 RGB, got ", dtype_name(images.dtype()));
  if (images.dim() != 4 || images.size(3) != 3)
    fail(op, ": images must have shape (N, H, W, 3) (RGB, channels last), got ",
         shape_str(images.shape()));
  if (images.size(1) <= 0 || images.size(2) <= 0)
    fail(op, ": images are empty, shape ", shape_str(images.shape()));
  check_out_size(op, out_h, out_w);
  check_device(ctx, op, {&images});

  Tensor y = ctx.empty({images.size(0), out_h, out_w, 3});
  if (ctx.device() == Device::CPU) {
    cpu_kernel(ctx, preprocess_caffe_cpu, preprocess_caffe_reference)(
        y.data<float>(), images.data<uint8_t>(), images.size(0), images.size(1), images.size(2),
        out_h, out_w);
  } else {
    preprocess_caffe_cuda(ctx.gpu(), y.data<float>(), images.data<uint8_t>(), images.size(0),
                          images.size(1), images.size(2), out_h, out_w);
  }
  return y;
}

}  // namespace tl::ops
