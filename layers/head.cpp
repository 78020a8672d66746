#include "layers/head.h"

namespace tl {
namespace {

// Keras's automatic names: the first layer of a kind has no suffix.
std::string keras_name(const std::string& base, int index) {
  return index == 0 ? base : base + "_" + std::to_string(index);
}

}  // namespace

ReferenceHead::ReferenceHead(const Shape& features, HeadPool pool, int64_t classes, uint64_t seed,
                             float dropout, float bn_momentum)
    : Module("head") {
  TL_CHECK(features.size() == 3, "ReferenceHead: features must be (H, W, C), got ", shape_str(features));
  int64_t width;
  if (pool == HeadPool::kFlatten) {
    pool_ = add_child(std::make_unique<Flatten>("flatten"));
    width = features[0] * features[1] * features[2];
  } else {
    pool_ = add_child(std::make_unique<GlobalAvgPool>("global_average_pooling2d"));
    width = features[2];
  }
  const int64_t hidden[] = {256, 128, 64};
  for (int i = 0; i < 3; ++i) {
    norms_.push_back(add_child(std::make_unique<BatchNorm>(keras_name("batch_normalization", i), width,
                                                          /*eps=*/1e-3f, bn_momentum)));
    denses_.push_back(add_child(std::make_unique<Linear>(keras_name("dense", i), width, hidden[i], seed)));
    dropouts_.push_back(add_child(std::make_unique<Dropout>(keras_name("dropout", i), dropout)));
    width = hidden[i];
  }
  denses_.push_back(add_child(std::make_unique<Linear>(keras_name("dense", 3), width, classes, seed)));
}

Tensor ReferenceHead::forward(Context& ctx, const Tensor& x) {
  Tensor h = pool_->forward(ctx, x);
  for (int i = 0; i < 3; ++i) {
    h = norms_[i]->forward(ctx, h);
    h = ops::relu(ctx, denses_[i]->forward(ctx, h));
    h = dropouts_[i]->forward(ctx, h);
  }
  return denses_[3]->forward(ctx, h);
}

Shape ReferenceHead::output_shape(const Shape& input) const {
  return denses_[3]->output_shape(input);
}

}  // namespace tl
