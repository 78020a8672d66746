#include "layers/basic.h"

#include "layers/init.h"

namespace tl {

Conv2d::Conv2d(std::string name, int64_t in_channels, int64_t out_channels, int64_t kernel,
               int64_t stride, int64_t pad, uint64_t seed)
    : Module(std::move(name)), in_channels_(in_channels), out_channels_(out_channels),
      kernel_(kernel), stride_(stride), pad_(pad) {
  // Keras's glorot_uniform for a conv: fan_in = k*k*in, fan_out = k*k*out.
  const int64_t area = kernel * kernel;
  register_parameter("kernel", glorot_uniform({out_channels, kernel, kernel, in_channels},
                                              area * in_channels, area * out_channels, seed,
                                              this->name()));
  register_parameter("bias", Tensor::zeros({out_channels}));
}

Tensor Conv2d::forward(Context& ctx, const Tensor& x) {
  return ops::conv2d(ctx, x, parameter("kernel"), parameter("bias"), stride_, pad_);
}

Shape Conv2d::output_shape(const Shape& in) const {
  return {in[0], (in[1] + 2 * pad_ - kernel_) / stride_ + 1, (in[2] + 2 * pad_ - kernel_) / stride_ + 1,
          out_channels_};
}

BatchNorm::BatchNorm(std::string name, int64_t channels, float eps, float momentum)
    : Module(std::move(name)), channels_(channels), eps_(eps), momentum_(momentum) {
  // Keras's order in files: gamma, beta (trainable), then the moving statistics.
  register_parameter("gamma", Tensor::full({channels}, 1.0f));
  register_parameter("beta", Tensor::zeros({channels}));
  register_buffer("moving_mean", Tensor::zeros({channels}));
  register_buffer("moving_variance", Tensor::full({channels}, 1.0f));
}

Tensor BatchNorm::forward(Context& ctx, const Tensor& x, bool relu, const Tensor& shift) {
  ops::BatchNormOptions options;
  options.training = uses_batch_statistics();
  options.eps = eps_;
  options.momentum = momentum_;
  options.relu = relu;
  options.shift = shift;
  return ops::batchnorm(ctx, x, parameter("gamma"), parameter("beta"), buffer("moving_mean"),
                        buffer("moving_variance"), options);
}

Tensor BatchNorm::forward_add_relu(Context& ctx, const Tensor& x, const Tensor& residual,
                                   const Tensor& shift) {
  ops::BatchNormOptions options;
  options.training = uses_batch_statistics();
  options.eps = eps_;
  options.momentum = momentum_;
  options.shift = shift;
  return ops::batchnorm_add_relu(ctx, x, residual, parameter("gamma"), parameter("beta"),
                                 buffer("moving_mean"), buffer("moving_variance"), options);
}

ops::InferenceBatchNorm BatchNorm::inference_statistics() const {
  return {parameter("gamma"), parameter("beta"), buffer("moving_mean"), buffer("moving_variance"),
          eps_};
}

std::string BatchNorm::mode_string() const {
  if (mode_ == BatchNormMode::kInference) return "inference (frozen)";
  return training_ ? "train (batch stats)" : "inference";
}

Tensor conv_batchnorm(Context& ctx, Conv2d& conv, BatchNorm& bn, const Tensor& x, bool relu) {
  if (bn.uses_batch_statistics()) {
    const Tensor y = ops::conv2d(ctx, x, conv.kernel(), Tensor(), conv.stride(), conv.pad());
    return bn.forward(ctx, y, relu, /*shift=*/conv.bias());
  }
  return ops::conv2d_batchnorm_inference(ctx, x, conv.kernel(), conv.bias(), conv.stride(),
                                         conv.pad(), bn.inference_statistics(), relu);
}

Tensor conv_batchnorm_add_relu(Context& ctx, Conv2d& conv, BatchNorm& bn, const Tensor& x,
                               const Tensor& residual) {
  if (bn.uses_batch_statistics()) {
    const Tensor y = ops::conv2d(ctx, x, conv.kernel(), Tensor(), conv.stride(), conv.pad());
    return bn.forward_add_relu(ctx, y, residual, /*shift=*/conv.bias());
  }
  if (ctx.device() == Device::CPU)
    return ops::add_relu(ctx, residual, conv_batchnorm(ctx, conv, bn, x, /*relu=*/false));
  const Tensor y = ops::conv2d(ctx, x, conv.kernel(), conv.bias(), conv.stride(), conv.pad());
  return bn.forward_add_relu(ctx, y, residual);
}

Linear::Linear(std::string name, int64_t in_features, int64_t out_features, uint64_t seed)
    : Module(std::move(name)), in_(in_features), out_(out_features) {
  register_parameter("kernel",
                     glorot_uniform({in_features, out_features}, in_features, out_features, seed,
                                    this->name()));
  register_parameter("bias", Tensor::zeros({out_features}));
}

Tensor Linear::forward(Context& ctx, const Tensor& x) {
  return ops::linear(ctx, x, parameter("kernel"), parameter("bias"));
}

Shape Linear::output_shape(const Shape& in) const { return {in[0], out_}; }

Shape MaxPool::output_shape(const Shape& in) const {
  return {in[0], (in[1] + 2 * pad_ - kernel_) / stride_ + 1, (in[2] + 2 * pad_ - kernel_) / stride_ + 1,
          in[3]};
}

Tensor Flatten::forward(Context& ctx, const Tensor& x) {
  return ops::reshape(ctx, x, output_shape(x.shape()));
}

Shape Flatten::output_shape(const Shape& in) const {
  int64_t features = 1;
  for (size_t i = 1; i < in.size(); ++i) features *= in[i];
  return {in[0], features};
}

}  // namespace tl
