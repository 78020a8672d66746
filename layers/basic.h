// The layers with weights that ResNet50 and the reference head are built
// from: Conv2D, BatchNormalization (2-D and 1-D) and Dense, named and laid
// out as Keras names and lays them out (except conv kernels, stored OHWI
// here and converted from Keras's HWIO when loading).
#pragma once

#include "layers/module.h"
#include "engine/ops.h"

namespace tl {

class Conv2d : public Module {
 public:
  // Keras Conv2D with use_bias=True; `pad` zeros on every side (Keras's
  // explicit ZeroPadding2D, or padding="same" for odd kernels at stride 1).
  Conv2d(std::string name, int64_t in_channels, int64_t out_channels, int64_t kernel,
         int64_t stride, int64_t pad, uint64_t seed);
  const char* kind() const override { return "Conv2D"; }
  Tensor forward(Context& ctx, const Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  int64_t in_channels() const { return in_channels_; }
  int64_t out_channels() const { return out_channels_; }
  int64_t stride() const { return stride_; }
  int64_t pad() const { return pad_; }
  const Tensor& kernel() const { return parameter("kernel"); }
  const Tensor& bias() const { return parameter("bias"); }

 private:
  int64_t in_channels_, out_channels_, kernel_, stride_, pad_;
};

// How a BatchNorm normalises while its model is in training mode.
enum class BatchNormMode {
  kFollowModel,   // batch statistics in train(), running statistics in eval()
  kInference,     // always running statistics, never updated (a frozen BN, as Keras does)
};

class BatchNorm : public Module {
 public:
  // Keras BatchNormalization(axis=-1); ResNet50 uses eps 1.001e-5, the
  // head uses Keras's defaults (eps 1e-3, momentum 0.99).
  BatchNorm(std::string name, int64_t channels, float eps = 1e-3f, float momentum = 0.99f);
  const char* kind() const override { return "BatchNormalization"; }
  Tensor forward(Context& ctx, const Tensor& x) override { return forward(ctx, x, false); }
  // With relu = true, the ReLU that follows is fused into the same kernel.
  // `shift` (C), when given: normalise x + shift without adding it (valid
  // with batch statistics only; ops::BatchNormOptions::shift).
  Tensor forward(Context& ctx, const Tensor& x, bool relu, const Tensor& shift = Tensor());
  // relu(residual + this BN of x), in one op (ops::batchnorm_add_relu).
  Tensor forward_add_relu(Context& ctx, const Tensor& x, const Tensor& residual,
                          const Tensor& shift = Tensor());
  Shape output_shape(const Shape& input) const override { return input; }
  void set_mode(BatchNormMode mode) { mode_ = mode; }
  BatchNormMode mode() const { return mode_; }
  bool uses_batch_statistics() const { return training_ && mode_ == BatchNormMode::kFollowModel; }
  // What the inference-mode forward normalises with: gamma, beta, the
  // running statistics and eps.
  ops::InferenceBatchNorm inference_statistics() const;

 protected:
  std::string mode_string() const override;

 private:
  int64_t channels_;
  float eps_, momentum_;
  BatchNormMode mode_ = BatchNormMode::kFollowModel;
};

// A convolution, the batch norm after it and optionally a ReLU, as ResNet50
// chains them. With batch statistics the convolution's bias cancels in the
// BN exactly, so it is never added: the BN gets it as a shift (only its
// running mean sees it, its gradient is exactly zero). With the BN on its
// running statistics this is one op, which folds the BN into the
// convolution when nothing needs a gradient (ops::conv2d_batchnorm_inference).
Tensor conv_batchnorm(Context& ctx, Conv2d& conv, BatchNorm& bn, const Tensor& x, bool relu);

// The end of a bottleneck block: relu(residual + bn(conv(x))). With batch
// statistics (and on a GPU) the BN, the add and the ReLU are one op
// (ops::batchnorm_add_relu, the bias again a shift); a CPU on running
// statistics folds the BN into the convolution instead and adds after.
Tensor conv_batchnorm_add_relu(Context& ctx, Conv2d& conv, BatchNorm& bn, const Tensor& x,
                               const Tensor& residual);

class Linear : public Module {
 public:
  // Keras Dense: kernel (in, out), bias (out); activation applied by the caller.
  Linear(std::string name, int64_t in_features, int64_t out_features, uint64_t seed);
  const char* kind() const override { return "Dense"; }
  Tensor forward(Context& ctx, const Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t in_, out_;
};

// ---- weightless layers, kept as modules so the summary lists them ----

class Relu : public Module {
 public:
  using Module::Module;
  const char* kind() const override { return "ReLU"; }
  Tensor forward(Context& ctx, const Tensor& x) override { return ops::relu(ctx, x); }
  Shape output_shape(const Shape& input) const override { return input; }
};

class MaxPool : public Module {
 public:
  MaxPool(std::string name, int64_t kernel, int64_t stride, int64_t pad)
      : Module(std::move(name)), kernel_(kernel), stride_(stride), pad_(pad) {}
  const char* kind() const override { return "MaxPooling2D"; }
  Tensor forward(Context& ctx, const Tensor& x) override {
    return ops::maxpool2d(ctx, x, kernel_, stride_, pad_);
  }
  Shape output_shape(const Shape& input) const override;

 private:
  int64_t kernel_, stride_, pad_;
};

class GlobalAvgPool : public Module {
 public:
  using Module::Module;
  const char* kind() const override { return "GlobalAveragePooling2D"; }
  Tensor forward(Context& ctx, const Tensor& x) override { return ops::global_avgpool(ctx, x); }
  Shape output_shape(const Shape& input) const override { return {input[0], input[3]}; }
};

class Flatten : public Module {
 public:
  using Module::Module;
  const char* kind() const override { return "Flatten"; }
  Tensor forward(Context& ctx, const Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
};

class Dropout : public Module {
 public:
  Dropout(std::string name, float rate) : Module(std::move(name)), rate_(rate) {}
  const char* kind() const override { return "Dropout"; }
  Tensor forward(Context& ctx, const Tensor& x) override {
    return ops::dropout(ctx, x, rate_, training_);
  }
  Shape output_shape(const Shape& input) const override { return input; }

 private:
  float rate_;
};

}  // namespace tl
