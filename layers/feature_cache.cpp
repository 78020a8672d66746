#include "layers/feature_cache.h"

#include <algorithm>
#include <cstring>

#include "engine/ops.h"
#include "runtime/check.h"

namespace tl {

Tensor compute_backbone_features(Context& ctx, Classifier& model, const Tensor& images,
                                 int64_t batch_size) {
  TL_CHECK(model.backbone_is_fixed(),
           "compute_backbone_features: the backbone is not fixed (a trainable weight, or a BN on "
           "batch statistics), so its outputs change during training and cannot be cached");
  TL_CHECK(images.dtype() == DType::U8 && images.dim() == 4 && images.device() == Device::CPU,
           "compute_backbone_features: images must be (N, H, W, 3) uint8 on the host, got ",
           shape_str(images.shape()));
  TL_CHECK(batch_size > 0, "compute_backbone_features: batch_size must be positive");
  const int64_t n = images.size(0), size = model.config().input_size;
  Shape shape = model.backbone().output_shape({n, size, size, 3});
  Tensor features = Tensor::empty(shape);
  const int64_t per_image = features.numel() / std::max<int64_t>(n, 1);
  const int64_t image_bytes = images.numel() / std::max<int64_t>(n, 1);

  const bool was_training = model.training();
  model.eval();  // a fixed backbone computes the same in either mode; eval says so
  NoGradGuard no_grad(ctx);
  for (int64_t begin = 0; begin < n; begin += batch_size) {
    const int64_t count = std::min(batch_size, n - begin);
    Tensor batch = Tensor::empty({count, images.size(1), images.size(2), 3}, DType::U8);
    std::memcpy(batch.data<uint8_t>(), images.data<uint8_t>() + begin * image_bytes,
                static_cast<size_t>(count * image_bytes));
    const Tensor x = ops::preprocess_caffe(ctx, ctx.to_device(batch), size, size);
    const Tensor out = ctx.to_host(model.backbone_features(ctx, x));
    std::memcpy(features.data<float>() + begin * per_image, out.data<float>(),
                static_cast<size_t>(count * per_image) * sizeof(float));
  }
  model.train(was_training);
  return features;
}

int64_t backbone_feature_bytes(Classifier& model, int64_t n) {
  const int64_t size = model.config().input_size;
  return shape_numel(model.backbone().output_shape({n, size, size, 3})) *
         static_cast<int64_t>(sizeof(float));
}

Tensor gather_rows(const Tensor& rows, const std::vector<int64_t>& indices) {
  TL_CHECK(rows.device() == Device::CPU && rows.dim() >= 1, "gather_rows: a host tensor expected");
  Shape shape = rows.shape();
  const int64_t n = shape[0];
  shape[0] = static_cast<int64_t>(indices.size());
  Tensor out = Tensor::empty(shape, rows.dtype());
  const size_t row_bytes = static_cast<size_t>(rows.numel() / std::max<int64_t>(n, 1)) *
                           dtype_size(rows.dtype());
  const auto* src = static_cast<const uint8_t*>(rows.raw_data());
  auto* dst = static_cast<uint8_t*>(out.raw_data());
  for (size_t i = 0; i < indices.size(); ++i) {
    TL_CHECK(indices[i] >= 0 && indices[i] < n, "gather_rows: index ", indices[i], " outside [0, ",
             n, ")");
    std::memcpy(dst + i * row_bytes, src + static_cast<size_t>(indices[i]) * row_bytes, row_bytes);
  }
  return out;
}

}  // namespace tl
