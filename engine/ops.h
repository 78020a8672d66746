// Differentiable ops on Tensors: the layer between the raw kernels
// (kernels/*.h: the fast CPU kernels and the CUDA launchers;
// kernels/reference/*.h: the plain CPU loops) and the modules (layers/).
// Each op checks its inputs' shapes with messages that name the op,
// allocates its output on the Context's device, runs the kernel for that
// device (on the CPU, the tier Context::set_cpu_kernels picks: fast by
// default, or the reference), and records a Node whose backward calls the
// matching backward kernel, computing only the gradients some input
// actually needs.
#pragma once

#include <cstdint>

#include "engine/context.h"
#include "engine/tensor.h"

namespace tl::ops {

// ---- bfloat16 (engine/ops_cast.cpp) ----
// x as float32 or bfloat16 (rounded to nearest, ties to even; widening is
// exact). A tensor already of that dtype comes back as it is. The gradient
// is cast back to x's dtype.
//
// The ops whose section says "bf16" also take bfloat16 activations (parameters
// stay float32) and return bfloat16: float32 arithmetic inside, the output
// rounded once, and each activation gradient rounded once at the op's
// output, as the GPU's bf16 kernels do. Where a device has no bf16 kernel
// for an op, the op runs as cast -> the float32 op -> cast (the CPU always:
// it is the reference the GPU's bf16 kernels are checked against).
Tensor cast(Context& ctx, const Tensor& x, DType dtype);

// ---- elementwise (engine/ops_elementwise.cpp); bf16 ----
Tensor relu(Context& ctx, const Tensor& x);
Tensor add(Context& ctx, const Tensor& a, const Tensor& b);       // residual add
Tensor add_relu(Context& ctx, const Tensor& a, const Tensor& b);  // relu(a + b)
// A differentiable reshape (a view; the gradient is reshaped back).
Tensor reshape(Context& ctx, const Tensor& x, const Shape& shape);

// ---- convolution (engine/ops_conv.cpp); bf16: x in bfloat16, w rounded to it ----
// x: (N, H, W, C); w: (O, KH, KW, C); bias: (O) or undefined.
Tensor conv2d(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias, int64_t stride,
              int64_t pad);

// x (..., C) with zero channels appended up to `channels` (>= C; float32 or
// bf16); its gradient is the first C channels of the incoming one. conv2d
// uses it on a GPU to give a bf16 convolution a channel count the tensor
// cores take (the stem's 3 -> 8: engine/ops_conv.cpp).
Tensor pad_channels(Context& ctx, const Tensor& x, int64_t channels);

// A convolution followed by a batch norm on its running statistics (and
// optionally a ReLU): the value of
//   batchnorm(ctx, conv2d(ctx, x, w, bias, stride, pad), bn..., {training: false, relu})
// and exactly that composition whenever an input needs a gradient, on the
// GPU, on the reference CPU kernels, and for layers the CPU runs on im2col.
// Otherwise (inference on oneDNN) the BN is folded into the convolution:
//   conv(x, w * scale) + (bias - mean) * scale + beta,   scale = gamma / sqrt(var + eps)
// with the scale applied while the weights are re-laid out and the ReLU in
// the output pass: no pass over the activations for the BN. Equal to the
// composition up to rounding (the products are rounded in another order;
// tests/test_conv_batchnorm_inference.cpp bounds it).
struct InferenceBatchNorm {
  Tensor gamma, beta, running_mean, running_var;  // (O) each
  float eps = 1e-3f;
};
// With a bfloat16 x it is always the composition of the two bf16 ops.
Tensor conv2d_batchnorm_inference(Context& ctx, const Tensor& x, const Tensor& w,
                                  const Tensor& bias, int64_t stride, int64_t pad,
                                  const InferenceBatchNorm& bn, bool relu);

// ---- batch norm (engine/ops_batchnorm.cpp); bf16 (x; the rest float32) ----
// x: (N, H, W, C) or (N, C). gamma, beta, running_mean, running_var: (C).
// training: batch statistics, running statistics updated in place.
// Otherwise: running statistics, nothing updated (gradients still flow to x,
// gamma and beta when they require them).
struct BatchNormOptions {
  bool training = true;
  float eps = 1e-3f;        // Keras default; ResNet50 uses 1.001e-5
  float momentum = 0.99f;   // Keras convention (see kernels/batchnorm.h)
  bool relu = false;        // fused ReLU after the normalisation
  // Training only: normalise x + shift (C) without ever adding it. A
  // per-channel shift cancels in the batch statistics exactly, so the
  // output is the BN of x, the running mean is updated with mean(x) + shift,
  // and the shift's gradient is exactly zero (a zero tensor when it requires
  // one). The bias of the convolution before a BN is such a shift: skipping
  // it saves a pass over the activations forward and one over the gradient
  // backward (layers::conv_batchnorm).
  Tensor shift;
};
Tensor batchnorm(Context& ctx, const Tensor& x, const Tensor& gamma, const Tensor& beta,
                 const Tensor& running_mean, const Tensor& running_var,
                 const BatchNormOptions& options);

// relu(residual + batchnorm(x)): the end of a bottleneck block (its last BN,
// the shortcut, the block's ReLU), what
//   add_relu(ctx, residual, batchnorm(ctx, x, ..., options with relu = false))
// computes, value for value. On the CPU it is that composition; the GPU
// normalises, adds and clips in one pass over the activations, so the BN's
// output is never written (8 of 24 bytes an element in the forward). bf16:
// one rounding, at the end. options.relu is ignored (the ReLU is after the add).
Tensor batchnorm_add_relu(Context& ctx, const Tensor& x, const Tensor& residual,
                          const Tensor& gamma, const Tensor& beta, const Tensor& running_mean,
                          const Tensor& running_var, const BatchNormOptions& options);

// ---- pooling (engine/ops_pool.cpp); bf16 ----
Tensor maxpool2d(Context& ctx, const Tensor& x, int64_t kernel, int64_t stride, int64_t pad);
Tensor global_avgpool(Context& ctx, const Tensor& x);  // (N, H, W, C) -> (N, C)

// ---- dense (engine/ops_linear.cpp) ----
// x: (N, in); w: (in, out); bias: (out) or undefined.
Tensor linear(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& bias);

// ---- dropout (engine/ops_dropout.cpp) ----
// Identity unless training; each training call draws a fresh Philox stream
// from the Context.
Tensor dropout(Context& ctx, const Tensor& x, float rate, bool training);

// ---- resampling and input preprocessing (engine/ops_upsample.cpp) ----
Tensor upsample_bilinear(Context& ctx, const Tensor& x, int64_t out_h, int64_t out_w);
// images: (N, H, W, 3) uint8 RGB -> (N, out_h, out_w, 3) float BGR minus the
// ImageNet means. Not differentiable (it is the data).
Tensor preprocess_caffe(Context& ctx, const Tensor& images, int64_t out_h, int64_t out_w);

// ---- loss (engine/ops_loss.cpp) ----
// logits: (N, classes) float; labels: (N) int32. Returns the mean loss, shape (1).
Tensor softmax_cross_entropy(Context& ctx, const Tensor& logits, const Tensor& labels);

}  // namespace tl::ops
