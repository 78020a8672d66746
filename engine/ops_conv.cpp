// conv2d: 2-D convolution, NHWC activations, OHWI weights, optional bias
// (kernels/conv2d.h holds the layout and the algorithm); and its inference
// fusion with the batch norm (and ReLU) after it.
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "engine/ops_common.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/reference/conv2d.h"

namespace tl::ops {
using namespace detail;

namespace {

// Validates the arguments and returns the geometry of the convolution.
Conv2dGeometry conv2d_geometry(const Tensor& x, const Tensor& w, const Tensor& bias,
                               int64_t stride, int64_t pad) {
  check_floating(x, "conv2d", "x (N, H, W, C)", 4);
  check_floating(w, "conv2d", "w (O, KH, KW, C)", 4);
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

// conv2d in bfloat16 on the GPU: cuDNN on the tensor cores. The float32
// weight is cast to bf16 by the cast op, whose backward widens the bf16
// weight gradient for the float32 master weight.
//
// cuDNN's bf16 tensor-core kernels want channel counts that are multiples of
// 8; the stem has 3. So x and w get zero channels up to the next multiple of
// 8 first: the products with the zero weights add exact zeros, the value is
// the same convolution (summed in another order), and the padded channels'
// gradients are dropped on the way back (pad_channels' backward).
constexpr int64_t kTensorCoreChannels = 8;

Tensor conv2d_bf16_cuda(Context& ctx, const Tensor& x_any, const Tensor& w_any, int64_t stride,
                        int64_t pad) {
  Tensor x = x_any, w = cast(ctx, w_any, DType::BF16);
  if (x.dim() == 4 && x.size(3) % kTensorCoreChannels != 0 && x.size(3) == w.size(3)) {
    const int64_t padded = (x.size(3) / kTensorCoreChannels + 1) * kTensorCoreChannels;
    x = pad_channels(ctx, x, padded);
    w = pad_channels(ctx, w, padded);
  }
  const Conv2dGeometry g = conv2d_geometry(x, w, Tensor(), stride, pad);
  check_device(ctx, "conv2d", {&x, &w});
  Tensor y = ctx.empty({g.batch, g.out_h(), g.out_w(), g.out_c}, DType::BF16);
  conv2d_forward_bf16_cuda(ctx.gpu(), y.data<uint16_t>(), x.data<uint16_t>(), w.data<uint16_t>(),
                           g);
  if (any_requires_grad(ctx, {&x, &w})) {
    // dx into a new buffer, or added onto `sum`, the gradient x has already
    // (Node::backward_adding: cuDNN's beta = 1 saves the separate sum).
    auto gradients = [&ctx, x, w, g](const Tensor& dy, const Tensor& sum) {
      const bool add = sum.defined();
      Tensor dx = add ? sum : x.requires_grad() ? ctx.empty(x.shape(), DType::BF16) : Tensor();
      Tensor dw = w.requires_grad() ? ctx.empty(w.shape(), DType::BF16) : Tensor();
      conv2d_backward_bf16_cuda(ctx.gpu(), dx.defined() ? dx.data<uint16_t>() : nullptr,
                                dw.defined() ? dw.data<uint16_t>() : nullptr,
                                dy.data<uint16_t>(), x.data<uint16_t>(), w.data<uint16_t>(), g,
                                add);
      return std::vector<Tensor>{dx, dw};
    };
    attach_node(ctx, y, "conv2d", {x, w},
                [gradients](const Tensor& dy) { return gradients(dy, Tensor()); });
    y.grad_fn()->backward_adding = gradients;
  }
  return y;
}

}  // namespace

Tensor conv2d(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
              int64_t pad) {
  if (is_bf16(x)) {
    // The tensor cores' operands: bf16 activations and bf16 weights, float32
    // sums; a bias added in float32 before the output's one rounding. The
    // GPU runs that natively when there is no bias (the training path: the
    // bias moves into the BN's shift); otherwise, and on the CPU, as the
    // float32 convolution of the rounded operands, rounded.
    if (ctx.device() == Device::CUDA && !bias.defined())
      return conv2d_bf16_cuda(ctx, x, w, stride, pad);
    const Tensor w_bf16 = is_bf16(w) ? widen(ctx, w) : bf16_rounded(ctx, w);
    return to_bf16(ctx, conv2d(ctx, widen(ctx, x), w_bf16, bias, stride, pad));
  }
  if (is_bf16(w)) fail_mixed_dtypes("conv2d", x, w);
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
    // Saves the inputs (x for dw, w for dx); bias is not needed. `sum`: on
    // the GPU, the gradient x has already, for dx to be added onto
    // (Node::backward_adding); the CPU always writes a new dx and autograd
    // sums, so its results stay those of the reference order.
    auto gradients = [&ctx, x, w, bias, g](const Tensor& dy, const Tensor& sum) {
      const bool add = sum.defined();
      Tensor dx = add ? sum : gradient_buffer_if(ctx, x.requires_grad(), x);
      Tensor dw = gradient_buffer_if(ctx, w.requires_grad(), w);
      Tensor dbias = gradient_buffer_if(ctx, bias.defined() && bias.requires_grad(), bias);
      if (ctx.device() == Device::CPU) {
        cpu_kernel(ctx, conv2d_backward_cpu<float>, conv2d_backward_reference<float>)(
            ptr_or_null(dx), ptr_or_null(dw), ptr_or_null(dbias), dy.data<float>(),
            x.data<float>(), w.data<float>(), g);
      } else {
        conv2d_backward_cuda(ctx.gpu(), ptr_or_null(dx), ptr_or_null(dw), ptr_or_null(dbias),
                             dy.data<float>(), x.data<float>(), w.data<float>(), g, add);
      }
      return std::vector<Tensor>{dx, dw, dbias};
    };
    attach_node(ctx, y, "conv2d", {x, w, bias},
                [gradients](const Tensor& dy) { return gradients(dy, Tensor()); });
    if (ctx.device() == Device::CUDA) y.grad_fn()->backward_adding = gradients;
  }
  return y;
}

namespace {

// The composition conv2d_batchnorm_inference stands for, op by op (each
// checks its own arguments and records its own node).
Tensor conv2d_then_batchnorm(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias,
                             int64_t stride, int64_t pad, const InferenceBatchNorm& bn, bool relu) {
  BatchNormOptions options;
  options.training = false;
  options.eps = bn.eps;
  options.relu = relu;
  return batchnorm(ctx, conv2d(ctx, x, w, bias, stride, pad), bn.gamma, bn.beta,
                   bn.running_mean, bn.running_var, options);
}

}  // namespace

Tensor conv2d_batchnorm_inference(Context& ctx, const Tensor& x, const Tensor& w,
                                  const Tensor& bias, int64_t stride, int64_t pad,
                                  const InferenceBatchNorm& bn, bool relu) {
  // bf16: the composition of the two bf16 ops (two roundings) on every
  // device, so the GPU's native bf16 kernels and the CPU agree.
  if (is_bf16(x)) return conv2d_then_batchnorm(ctx, x, w, bias, stride, pad, bn, relu);
  const bool may_fold = ctx.device() == Device::CPU && ctx.cpu_kernels() == CpuKernels::Fast &&
                        !any_requires_grad(ctx, {&x, &w, &bias, &bn.gamma, &bn.beta});
  if (!may_fold) return conv2d_then_batchnorm(ctx, x, w, bias, stride, pad, bn, relu);

  const Conv2dGeometry g = conv2d_geometry(x, w, bias, stride, pad);
  const char* op = "conv2d_batchnorm_inference";
  for (const auto& [t, arg] : {std::pair{&bn.gamma, "gamma"}, std::pair{&bn.beta, "beta"},
                               std::pair{&bn.running_mean, "running_mean"},
                               std::pair{&bn.running_var, "running_var"}}) {
    check_float(*t, op, arg, 1);
    if (t->size(0) != g.out_c)
      fail(op, ": ", arg, " has ", t->size(0), " values for ", g.out_c, " output channels");
  }
  if (!(bn.eps > 0.0f)) fail(op, ": eps must be positive, got ", bn.eps);
  check_device(ctx, op, {&x, &w, &bias, &bn.gamma, &bn.beta, &bn.running_mean, &bn.running_var});

  // The BN's per-channel scale by its own kernel's rule (1/sqrt(var + eps)
  // in double, rounded, times gamma in float), and the folded bias, in
  // double and rounded once.
  const int64_t O = g.out_c;
  const float* gamma = bn.gamma.data<float>();
  const float* beta = bn.beta.data<float>();
  const float* mean = bn.running_mean.data<float>();
  const float* var = bn.running_var.data<float>();
  const float* b = ptr_or_null(bias);
  std::vector<float> scale(static_cast<size_t>(O)), folded_bias(static_cast<size_t>(O));
  for (int64_t o = 0; o < O; ++o) {
    scale[o] = gamma[o] * batchnorm_inference_invstd(var[o], bn.eps);
    folded_bias[o] = static_cast<float>((double(b ? b[o] : 0.0f) - double(mean[o])) * scale[o] +
                                        double(beta[o]));
  }
  Tensor y = ctx.empty({g.batch, g.out_h(), g.out_w(), O});
  ConvFold fold;
  fold.weight_scale = scale.data();
  fold.relu = relu;
  if (conv2d_forward_folded_cpu(y.data<float>(), x.data<float>(), w.data<float>(),
                                folded_bias.data(), g, fold))
    return y;
  // This layer runs on im2col (or the build has no oneDNN): no fold there.
  return conv2d_then_batchnorm(ctx, x, w, bias, stride, pad, bn, relu);
}

}  // namespace tl::ops
