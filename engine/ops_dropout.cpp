// dropout: inverted dropout with a Philox mask that is redrawn, not stored.
#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "engine/step_capture.h"
#include "kernels/dropout.h"
#include "kernels/reference/dropout.h"

namespace tl::ops {
using namespace detail;

namespace {

// Which random stream a dropout call draws: the Context's next one, or,
// while a CUDA graph is captured, the next offset from the base the graph
// reads from device memory at each replay (engine/step_capture.h).
struct RandomStream {
  uint64_t stream = 0;
  const uint64_t* base = nullptr;  // device memory; null: `stream` is absolute
};
RandomStream next_stream(Context& ctx) {
  if (StepCapture* capture = ctx.capture()) return {capture->random_streams++, capture->random_base};
  return {ctx.next_random_stream(), nullptr};
}

// out = in * keep / (1 - rate) on the context's device.
Tensor dropout_apply(Context& ctx, const Tensor& in, float rate, uint64_t seed, RandomStream r,
                     bool backward) {
  Tensor out = ctx.empty(in.shape());
  if (ctx.device() == Device::CPU) {
    TL_CHECK(!r.base, "dropout: a stream base in device memory on the CPU (internal error)");
    const auto kernel =
        backward ? cpu_kernel(ctx, dropout_backward_cpu<float>, dropout_backward_reference<float>)
                 : cpu_kernel(ctx, dropout_forward_cpu<float>, dropout_forward_reference<float>);
    kernel(out.data<float>(), in.data<float>(), in.numel(), rate, seed, r.stream);
  } else {
    (backward ? dropout_backward_cuda : dropout_forward_cuda)(
        ctx.gpu(), out.data<float>(), in.data<float>(), in.numel(), rate, seed, r.stream, r.base);
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
  const RandomStream stream = next_stream(ctx);
  Tensor y = dropout_apply(ctx, x, rate, seed, stream, /*backward=*/false);
  if (any_requires_grad(ctx, {&x})) {
    attach_node(ctx, y, op, {x}, [&ctx, rate, seed, stream](const Tensor& dy) {
      return std::vector<Tensor>{dropout_apply(ctx, dy, rate, seed, stream, /*backward=*/true)};
    });
  }
  return y;
}

}  // namespace tl::ops
