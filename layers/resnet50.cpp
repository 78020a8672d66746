#include "layers/resnet50.h"

#include <string>

namespace tl {
namespace {

std::string block_prefix(int stage, int block) {
  return "conv" + std::to_string(stage) + "_block" + std::to_string(block) + "_";
}

}  // namespace

Bottleneck::Bottleneck(int stage, int block, int64_t in_channels, int64_t filters, int64_t stride,
                       bool projection_shortcut, uint64_t seed, float bn_momentum)
    : Module(block_prefix(stage, block) + "block") {
  const std::string p = block_prefix(stage, block);
  const float eps = ResNet50::kBatchNormEps;
  // tl creates the shortcut first; this is NOT Keras's order. Keras's
  // model.layers (and so its legacy .h5 layer_names and its .weights.h5
  // counters) has _1_conv, _1_bn, _2_conv, _2_bn, _0_conv, _3_conv, _0_bn,
  // _3_bn (tests/data/keras_layer_order/). Nothing in tl depends on the
  // Keras order except the weight files, so the Keras writers reorder
  // (weights/keras_layout.h) and tl's own checkpoints, which find tensors
  // by name, keep this order.
  if (projection_shortcut) {
    shortcut_conv_ = add_child(std::make_unique<Conv2d>(p + "0_conv", in_channels, 4 * filters, 1, stride, 0, seed));
    shortcut_bn_ = add_child(std::make_unique<BatchNorm>(p + "0_bn", 4 * filters, eps, bn_momentum));
  }
  conv1_ = add_child(std::make_unique<Conv2d>(p + "1_conv", in_channels, filters, 1, stride, 0, seed));
  bn1_ = add_child(std::make_unique<BatchNorm>(p + "1_bn", filters, eps, bn_momentum));
  conv2_ = add_child(std::make_unique<Conv2d>(p + "2_conv", filters, filters, 3, 1, 1, seed));
  bn2_ = add_child(std::make_unique<BatchNorm>(p + "2_bn", filters, eps, bn_momentum));
  conv3_ = add_child(std::make_unique<Conv2d>(p + "3_conv", filters, 4 * filters, 1, 1, 0, seed));
  bn3_ = add_child(std::make_unique<BatchNorm>(p + "3_bn", 4 * filters, eps, bn_momentum));
}

Tensor Bottleneck::forward(Context& ctx, const Tensor& x) {
  Tensor shortcut =
      shortcut_conv_ ? conv_batchnorm(ctx, *shortcut_conv_, *shortcut_bn_, x, /*relu=*/false) : x;
  Tensor h = conv_batchnorm(ctx, *conv1_, *bn1_, x, /*relu=*/true);
  h = conv_batchnorm(ctx, *conv2_, *bn2_, h, /*relu=*/true);
  // Keras: _3_bn, _add, then _out (ReLU): one op.
  return conv_batchnorm_add_relu(ctx, *conv3_, *bn3_, h, /*residual=*/shortcut);
}

Shape Bottleneck::output_shape(const Shape& input) const {
  return conv3_->output_shape(conv2_->output_shape(conv1_->output_shape(input)));
}

void Bottleneck::append_summary(Shape& shape, std::vector<SummaryRow>& rows) const {
  if (shortcut_conv_) {
    Shape shortcut = shape;
    shortcut_conv_->append_summary(shortcut, rows);
    shortcut_bn_->append_summary(shortcut, rows);
  }
  for (const Module* m : {static_cast<const Module*>(conv1_), static_cast<const Module*>(bn1_),
                          static_cast<const Module*>(conv2_), static_cast<const Module*>(bn2_),
                          static_cast<const Module*>(conv3_), static_cast<const Module*>(bn3_)})
    m->append_summary(shape, rows);
}

ResNet50::ResNet50(uint64_t seed, float bn_momentum) : Module("resnet50") {
  stem_conv_ = add_child(std::make_unique<Conv2d>("conv1_conv", 3, 64, 7, 2, 3, seed));
  stem_bn_ = add_child(std::make_unique<BatchNorm>("conv1_bn", 64, kBatchNormEps, bn_momentum));
  pool_ = add_child(std::make_unique<MaxPool>("pool1_pool", 3, 2, 1));
  struct Stage {
    int blocks;
    int64_t filters, stride;
  };
  const Stage stages[] = {{3, 64, 1}, {4, 128, 2}, {6, 256, 2}, {3, 512, 2}};
  int64_t channels = 64;
  for (int s = 0; s < 4; ++s) {
    for (int b = 1; b <= stages[s].blocks; ++b) {
      const bool first = b == 1;
      blocks_.push_back(add_child(std::make_unique<Bottleneck>(
          s + 2, b, channels, stages[s].filters, first ? stages[s].stride : 1, first, seed, bn_momentum)));
      channels = 4 * stages[s].filters;
    }
  }
}

Tensor ResNet50::forward(Context& ctx, const Tensor& x) {
  Tensor h = conv_batchnorm(ctx, *stem_conv_, *stem_bn_, x, /*relu=*/true);
  h = pool_->forward(ctx, h);
  for (Bottleneck* block : blocks_) h = block->forward(ctx, h);
  return h;
}

Shape ResNet50::output_shape(const Shape& input) const {
  Shape s = pool_->output_shape(stem_conv_->output_shape(input));
  for (const Bottleneck* block : blocks_) s = block->output_shape(s);
  return s;
}

}  // namespace tl
