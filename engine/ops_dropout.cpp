// dropout: inverted dropout with a Philox mask that is redrawn, not stored.
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/dropout.h"
#include "kernels/reference/dropout.h"

namespace tl::ops {
using namespace detail;

namespace {

// out = in * keep / (1 - rate) on the context's device.
Tensor dropout_apply(Context& ctx, const Tensor& in, float rate, uint64_t seed, uint64_t stream,
                     bool backward) {
  Tensor out = ctx.empty(in.shape());
  if (ctx.device() == Device::CPU) {
    const auto kernel =
        backward ? cpu_kernel(ctx, dropout_backward_cpu<float>, dropout_backward_reference<float>)
                 : cpu_kernel(ctx, dropout_forward_cpu<float>, dropout_forward_reference<float>);
    kernel(out.data<float>(), in.data<float>(), in.numel(), rate, seed, stream);
  } else {
    (backward ? dropout_backward_cuda : dropout_forward_cuda)(
        ctx.gpu(), out.data<float>(), in.data<float>(), in.numel(), rate, seed, stream);
  }
  return out;
}

}  // namespace

Tensor dropout(Context& ctx, const Tensor& x, float rate, bool training) {
  constexpr const char* op = "dropout";
  check_float(x, op, "x", -1);
  check_device(ctx, op, {&x});
  if (!(rate >= 0.0f && rate < 1.0f))
    fail(op, ": rate must be in [0, 1), got ", rate);
  // Evaluation (or rate 0) is the identity: x itself, with its own graph.
  if (!training || rate == 0.0f) return x;

  // One fresh stream per call: no two dropout calls share random numbers,
  // and the (seed, stream) pair is all the backward needs to redraw the mask.
  const uint64_t seed = ctx.seed();
  const uint64_t stream = ctx.next_random_stream();
  Tensor y = dropout_apply(ctx, x, rate, seed, stream, /*backward=*/false);
  if (any_requires_grad(ctx, {&x})) {
    attach_node(ctx, y, op, {x}, [&ctx, rate, seed, stream](const Tensor& dy) {
      return std::vector<Tensor>{dropout_apply(ctx, dy, rate, seed, stream, /*backward=*/true)};
    });
  }
  return y;
}

}  // namespace tl::ops
