// The reference classification head of the recipe (the Keras article):
//   Flatten -> [BN -> Dense 256 ReLU -> Dropout 0.5] -> [BN -> Dense 128 ReLU
//   -> Dropout 0.5] -> [BN -> Dense 64 ReLU -> Dropout 0.5] -> Dense 10
// (the softmax is fused into the loss). Its BNs use Keras's defaults (eps
// 1e-3, momentum 0.99). With Pool::kAverage a GlobalAveragePooling2D
// replaces the Flatten: 2,048 features instead of 100,352 at 224.
// Layer names are the ones Keras gives a fresh model: batch_normalization,
// dense, dropout, batch_normalization_1, dense_1, ...
#pragma once

#include "layers/basic.h"

namespace tl {

enum class HeadPool { kFlatten, kAverage };

class ReferenceHead : public Module {
 public:
  // `features`: the backbone's output shape without the batch axis (H, W, C).
  ReferenceHead(const Shape& features, HeadPool pool, int64_t classes, uint64_t seed,
                float dropout = 0.5f, float bn_momentum = 0.99f);
  const char* kind() const override { return "ReferenceHead"; }
  Tensor forward(Context& ctx, const Tensor& x) override;
  Shape output_shape(const Shape& input) const override;

 private:
  Module* pool_;
  std::vector<BatchNorm*> norms_;
  std::vector<Linear*> denses_;  // 3 hidden + the classifier
  std::vector<Dropout*> dropouts_;
};

}  // namespace tl
