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

// The samples at `indices`, in that order (a copy).
ImageSet gather(const ImageSet& set, const std::vector<int64_t>& indices);

// Splits off a validation set the way Keras's `validation_split` does: the
// LAST `fraction` of the samples, in the set's order, become the validation
// set; the first floor(N * (1 - fraction)) stay for training. So the split
// is deterministic and never leaks a training image into validation, but it
// inherits the set's order: a set sorted by class (an image folder as read)
// must be put in stratified_order first, or the validation set holds only
// the last classes. CIFAR-10's official order is already shuffled and is
// split as it comes, as Keras does.
// fraction 0 gives an empty validation set; fraction must be in [0, 1).
std::pair<ImageSet, ImageSet> split_validation(const ImageSet& set, double fraction);

// A seeded order of the samples, stratified by class, so that every prefix
// and every suffix of it takes about the same fraction of every class (that
// fraction of each class, rounded; classes tied at the cut are taken in a
// seeded class order). `subset` (the first n) and `split_validation`
// (the last fraction) of a set gathered in this order are therefore
// stratified random samples: no class is left out of training or
// validation because of where it sorts.
//
// How: each class's samples are shuffled (Fisher-Yates on Philox stream
// `stream | class`), sample j of a class of n gets the position (j + 1/2) / n
// in [0, 1), and the classes are merged by position; ties go to the classes
// in a seeded random order (stream `stream | kTieBreakStream`). A pure
// function of (labels, seed, stream), like every draw in data/random.h.
std::vector<int64_t> stratified_order(const ImageSet& set, uint64_t seed, uint64_t stream);

// Philox stream tags (the top byte, as in data/random.h) of the stratified
// orders apps/data_setup.cpp draws for image folders.
constexpr uint64_t kSplitStream = uint64_t{4} << 56;      // training folder: before --subset, --val-split
constexpr uint64_t kTestOrderStream = uint64_t{5} << 56;  // test folder: before --test-subset
constexpr uint64_t kTieBreakStream = uint64_t{1} << 40;   // within a tag: above any class index

// "" when `found` names exactly the classes `expected` does, in the same
// order; otherwise the differences for an error message, e.g.
//   missing from test/: "truck"; only in test/: "lorry"
// (`found_name` names the second list; at most 10 names of each kind).
std::string class_list_differences(const std::vector<std::string>& expected,
                                   const std::vector<std::string>& found, const std::string& found_name);

// Throws tl::Error naming `what` unless the set is well formed: images
// (N, H, W, 3) uint8 on the host, labels (N) int32 within the class list.
void check_image_set(const ImageSet& set, const std::string& what);

}  // namespace tl
