// ImageSet: a labelled set of images held in host memory, the common currency
// of the data room. Every reader (CIFAR-10 binary, image folders, the
// synthetic set) returns one; the DataLoader batches one.
//
// Images stay uint8 RGB until the last moment: 50,000 CIFAR images are 150 MB
// as bytes (600 MB as float32), and the fused upsample+preprocess kernel reads
// uint8 directly, so nothing upstream of it ever converts to float.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace tl {

struct ImageSet {
  Tensor images;  // (N, H, W, 3) uint8 RGB, host
  Tensor labels;  // (N) int32, each in [0, class_names.size())
  std::vector<std::string> class_names;
  std::string source;  // where it came from: a path, or "synthetic(...)"

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  int64_t height() const { return images.size(1); }
  int64_t width() const { return images.size(2); }
};

// The first n samples (a copy). n larger than the set is an error.
ImageSet subset(const ImageSet& set, int64_t n);

// Samples [begin, end) (a copy).
ImageSet slice(const ImageSet& set, int64_t begin, int64_t end);

// Splits off a validation set the way Keras's `validation_split` does: the
// LAST `fraction` of the samples, taken before any shuffling, become the
// validation set; the first floor(N * (1 - fraction)) stay for training.
// So the split is deterministic and never leaks a training image into
// validation, but it inherits the set's order: split a set that is sorted by
// class (an image folder) and the validation set holds only the last classes.
// fraction 0 gives an empty validation set; fraction must be in [0, 1).
std::pair<ImageSet, ImageSet> split_validation(const ImageSet& set, double fraction);

// Throws tl::Error naming `what` unless the set is well formed: images
// (N, H, W, 3) uint8 on the host, labels (N) int32 within the class list.
void check_image_set(const ImageSet& set, const std::string& what);

}  // namespace tl
