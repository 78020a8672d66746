// ResNet50 v1 exactly as Keras builds it (keras/applications/resnet.py):
// conv biases everywhere, BN epsilon 1.001e-5, the stride-2 on the FIRST 1x1
// conv of a downsampling block (torchvision puts it on the 3x3), and zero
// padding of 3 before the 7x7 stem conv and of 1 before the 3x3/2 max pool
// (folded here into the conv and the pool: same numbers, one pass less).
// Layer names are Keras's: conv1_conv, conv1_bn, conv2_block1_0_conv, ...
// Without the top: 23,587,712 values (23,534,592 trainable + 53,120 BN
// moving statistics).
#pragma once

#include "layers/basic.h"

namespace tl {

// conv{stage}_block{block}: 1x1 -> 3x3 -> 1x1 (x4 channels) plus a shortcut,
// a 1x1 projection (`_0_conv`, `_0_bn`) in the first block of each stage.
class Bottleneck : public Module {
 public:
  Bottleneck(int stage, int block, int64_t in_channels, int64_t filters, int64_t stride,
             bool projection_shortcut, uint64_t seed, float bn_momentum);
  const char* kind() const override { return "Bottleneck"; }
  Tensor forward(Context& ctx, const Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  // Two branches: the shortcut rows see the block's input, not the main path's output.
  void append_summary(Shape& shape, std::vector<SummaryRow>& rows) const override;

 private:
  Conv2d* shortcut_conv_ = nullptr;
  BatchNorm* shortcut_bn_ = nullptr;
  Conv2d *conv1_, *conv2_, *conv3_;
  BatchNorm *bn1_, *bn2_, *bn3_;
};

class ResNet50 : public Module {
 public:
  static constexpr float kBatchNormEps = 1.001e-5f;
  explicit ResNet50(uint64_t seed = 0, float bn_momentum = 0.99f);
  const char* kind() const override { return "ResNet50"; }
  // x: (N, H, W, 3) 'caffe'-preprocessed BGR; returns (N, H/32, W/32, 2048).
  Tensor forward(Context& ctx, const Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  Conv2d* stem_conv_;
  BatchNorm* stem_bn_;
  MaxPool* pool_;
  std::vector<Bottleneck*> blocks_;
};

}  // namespace tl
