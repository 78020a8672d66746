// maxpool2d and global_avgpool over NHWC activations.
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/pool.h"
#include "kernels/reference/pool.h"

namespace tl::ops {
using namespace detail;

Tensor maxpool2d(Context& ctx, const Tensor& x, int64_t kernel, int64_t stride, int64_t pad) {
  constexpr const char* op = "maxpool2d";
  if (is_bf16(x) && ctx.device() == Device::CPU)  // the GPU's kernels take bf16 themselves
    return to_bf16(ctx, maxpool2d(ctx, widen(ctx, x), kernel, stride, pad));
  check_floating(x, op, "x", 4);
  if (kernel < 1 || stride < 1)
    fail(op, ": kernel and stride must be >= 1, got kernel ", kernel, ", stride ", stride);
  // As PyTorch: a window must keep at least one real pixel (pad <= kernel/2),
  // or an output would be the max of padding alone.
  if (pad < 0 || 2 * pad > kernel)
    fail(op, ": pad must be in [0, kernel/2], got pad ", pad, " with kernel ", kernel);
  const PoolGeometry geom{x.size(0), x.size(1), x.size(2), x.size(3), kernel, stride, pad};
  if (geom.in_h + 2 * pad < kernel || geom.in_w + 2 * pad < kernel)
    fail(op, ": a ", kernel, "x", kernel, " window with pad ", pad, " does not fit input ",
         shape_str(x.shape()));
  check_device(ctx, op, {&x});

  Tensor y = ctx.empty({geom.batch, geom.out_h(), geom.out_w(), geom.channels}, x.dtype());
  if (ctx.device() == Device::CPU) {
    cpu_kernel(ctx, maxpool2d_forward_cpu<float>, maxpool2d_forward_reference<float>)(
        y.data<float>(), x.data<float>(), geom);
  } else {
    with_storage_type(x, [&](auto type) {
      using T = decltype(type);
      maxpool2d_forward_cuda(ctx.gpu(), y.data<T>(), x.data<T>(), geom);
    });
  }
  if (any_requires_grad(ctx, {&x})) {
    // Saves x, not the argmax: the backward recomputes it (no index tensor to keep).
    attach_node(ctx, y, op, {x}, [&ctx, x, geom](const Tensor& dy) {
      Tensor dx = ctx.empty(x.shape(), x.dtype());
      if (ctx.device() == Device::CPU) {
        cpu_kernel(ctx, maxpool2d_backward_cpu<float>, maxpool2d_backward_reference<float>)(
            dx.data<float>(), dy.data<float>(), x.data<float>(), geom);
      } else {
        with_storage_type(x, [&](auto type) {
          using T = decltype(type);
          maxpool2d_backward_cuda(ctx.gpu(), dx.data<T>(), dy.data<T>(), x.data<T>(), geom);
        });
      }
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

Tensor global_avgpool(Context& ctx, const Tensor& x) {
  constexpr const char* op = "global_avgpool";
  if (is_bf16(x)) return to_bf16(ctx, global_avgpool(ctx, widen(ctx, x)));
  check_float(x, op, "x", 4);
  const int64_t batch = x.size(0), spatial = x.size(1) * x.size(2), channels = x.size(3);
  if (spatial == 0) fail(op, ": x has no pixels, shape ", shape_str(x.shape()));
  check_device(ctx, op, {&x});

  Tensor y = ctx.empty({batch, channels});
  if (ctx.device() == Device::CPU) {
    cpu_kernel(ctx, global_avgpool_forward_cpu<float>, global_avgpool_forward_reference<float>)(
        y.data<float>(), x.data<float>(), batch, spatial, channels);
  } else {
    global_avgpool_forward_cuda(ctx.gpu(), y.data<float>(), x.data<float>(), batch, spatial, channels);
  }
  if (any_requires_grad(ctx, {&x})) {
    const Shape x_shape = x.shape();
    attach_node(ctx, y, op, {x}, [&ctx, x_shape, batch, spatial, channels](const Tensor& dy) {
      Tensor dx = ctx.empty(x_shape);
      if (ctx.device() == Device::CPU) {
        cpu_kernel(ctx, global_avgpool_backward_cpu<float>,
                   global_avgpool_backward_reference<float>)(dx.data<float>(), dy.data<float>(),
                                                             batch, spatial, channels);
      } else {
        global_avgpool_backward_cuda(ctx.gpu(), dx.data<float>(), dy.data<float>(), batch, spatial,
                                     channels);
      }
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

}  // namespace tl::ops
