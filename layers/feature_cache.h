// Frozen-backbone feature caching. When the backbone is fixed (every weight
// frozen, every BN on its running statistics: Classifier::backbone_is_fixed),
// its output for an image never changes, so training the head for many
// epochs needs the backbone to run once per image, not once per epoch.
// These functions compute those outputs once and hand them back by sample.
//
// Exactness: inference-mode BN is per element and every other op per sample,
// so an image's cached features are the ones a full forward computes, up to
// the last bits: OpenBLAS's SGEMM may round a row differently depending on
// the batch it sits in (measured: ~1e-5 on features of 1-10), which is also
// how an uncached run's features of one image vary between epochs. A cached
// run therefore equals its uncached twin to that rounding, and bit for bit
// where the batches round alike (tests/test_feature_cache.cpp).
// With augmentation on, an image's input changes each epoch and a cache
// would not be reused: the trainer does not cache then.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"
#include "layers/classifier.h"

namespace tl {

// The backbone's output for every image: images (N, H, W, 3) uint8 RGB on
// the host, resized and preprocessed as the training step does, run through
// the backbone in batches of `batch_size` without recording a graph.
// Returns (N, h, w, 2048) float32 on the host (h = w = 7 at 224). The model
// must have a fixed backbone.
Tensor compute_backbone_features(Context& ctx, Classifier& model, const Tensor& images,
                                 int64_t batch_size);

// Bytes the backbone outputs of n images take (float32).
int64_t backbone_feature_bytes(Classifier& model, int64_t n);

// Rows `indices` of a host tensor (N, ...), in that order, as a new host
// tensor (indices.size(), ...): a training batch's features.
Tensor gather_rows(const Tensor& rows, const std::vector<int64_t>& indices);

}  // namespace tl
