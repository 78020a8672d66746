// pad_channels: zero channels appended to the last axis (float32 or bf16).
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/pad_channels.h"

namespace tl::ops {
using namespace detail;

Tensor pad_channels(Context& ctx, const Tensor& x, int64_t channels) {
  constexpr const char* op = "pad_channels";
  check_floating(x, op, "x", -1);
  if (x.dim() < 1) fail(op, ": x has no channel axis, shape ", shape_str(x.shape()));
  const int64_t c_in = x.size(-1);
  if (channels < c_in)
    fail(op, ": ", channels, " channels asked for, x already has ", c_in);
  check_device(ctx, op, {&x});
  if (channels == c_in) return x;
  const int64_t rows = c_in > 0 ? x.numel() / c_in : 0;
  Shape shape = x.shape();
  shape.back() = channels;
  Tensor y = ctx.empty(shape, x.dtype());
  with_storage_type(x, [&](auto type) {
    using T = decltype(type);
    if (ctx.device() == Device::CPU)
      pad_channels_cpu<T>(y.data<T>(), x.data<T>(), rows, c_in, channels);
    else
      pad_channels_cuda(ctx.gpu(), y.data<T>(), x.data<T>(), rows, c_in, channels);
  });
  if (any_requires_grad(ctx, {&x})) {
    const Shape x_shape = x.shape();
    const DType dtype = x.dtype();
    attach_node(ctx, y, op, {x}, [&ctx, x_shape, dtype, rows, c_in, channels](const Tensor& dy) {
      Tensor dx = ctx.empty(x_shape, dtype);
      with_storage_type(dy, [&](auto type) {
        using T = decltype(type);
        if (ctx.device() == Device::CPU)
          unpad_channels_cpu<T>(dx.data<T>(), dy.data<T>(), rows, c_in, channels);
        else
          unpad_channels_cuda(ctx.gpu(), dx.data<T>(), dy.data<T>(), rows, c_in, channels);
      });
      return std::vector<Tensor>{dx};
    });
  }
  return y;
}

}  // namespace tl::ops
