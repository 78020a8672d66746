// Seeded shuffling, batch gathering and flip/pad-crop augmentation on uint8
// images. See loader.h for the reproducibility contract.
#include "data/loader.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "data/random.h"

namespace tl {
namespace {

void check_options(const ImageSet& set, const LoaderOptions& options) {
  check_image_set(set, "DataLoader");
  if (options.batch_size <= 0) fail("DataLoader: batch size must be positive, got ", options.batch_size);
  if (options.pad < 0 || options.pad > set.height() || options.pad > set.width())
    fail("DataLoader: augmentation pad must be in [0, image side], got ", options.pad, " for ",
         set.height(), "x", set.width(), " images");
}

int64_t batches_per_epoch(int64_t n, const LoaderOptions& options) {
  return options.drop_last ? n / options.batch_size
                           : (n + options.batch_size - 1) / options.batch_size;
}

}  // namespace

std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch) {
  if (epoch < 0) fail("epoch must be >= 0, got ", epoch);
  return shuffled_order(n, seed, kShuffleStream | static_cast<uint64_t>(epoch));
}

std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, uint64_t stream) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  // Fisher-Yates, from the back: position i swaps with a uniform j in [0, i].
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(random_below(seed, stream, static_cast<uint64_t>(i),
                                                     static_cast<uint64_t>(i) + 1));
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

void augment_image(uint8_t* out, const uint8_t* in, int64_t h, int64_t w, const Augmentation& aug) {
  for (int64_t y = 0; y < h; ++y) {
    const int64_t sy = y + aug.dy;
    uint8_t* row = out + y * w * 3;
    if (sy < 0 || sy >= h) {  // the whole row falls in the zero padding
      std::memset(row, 0, static_cast<size_t>(w * 3));
      continue;
    }
    for (int64_t x = 0; x < w; ++x) {
      const int64_t sx = (aug.flip ? w - 1 - x : x) + aug.dx;
      for (int64_t c = 0; c < 3; ++c)
        row[x * 3 + c] = (sx < 0 || sx >= w) ? 0 : in[(sy * w + sx) * 3 + c];
    }
  }
}

BatchIterator::BatchIterator(ImageSet set, LoaderOptions options, int64_t epoch)
    : set_(std::move(set)), options_(options), epoch_(epoch) {
  check_options(set_, options_);
  if (epoch < 0) fail("DataLoader: epoch must be >= 0, got ", epoch);
  const int64_t n = set_.size();
  if (options_.shuffle) {
    order_ = epoch_order(n, options_.seed, epoch);
  } else {
    order_.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order_[static_cast<size_t>(i)] = i;
  }
  num_batches_ = batches_per_epoch(n, options_);
}

void BatchIterator::seek(int64_t batch) {
  if (batch < 0 || batch > num_batches_)
    fail("DataLoader: cannot seek to batch ", batch, " of an epoch of ", num_batches_, " batches");
  next_ = batch;
}

bool BatchIterator::next(Batch& batch) {
  if (next_ >= num_batches_) return false;
  const int64_t n = set_.size();
  const int64_t begin = next_ * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, n - begin);
  const int64_t h = set_.height(), w = set_.width();
  const int64_t image_bytes = h * w * 3;

  batch.images = Tensor::empty({count, h, w, 3}, DType::U8);
  batch.labels = Tensor::empty({count}, DType::I32);
  batch.indices.assign(order_.begin() + begin, order_.begin() + begin + count);
  batch.index = next_;
  const uint8_t* src = set_.images.data<uint8_t>();
  const int32_t* labels = set_.labels.data<int32_t>();
  uint8_t* dst = batch.images.data<uint8_t>();
  int32_t* dst_labels = batch.labels.data<int32_t>();
  for (int64_t b = 0; b < count; ++b) {
    const int64_t i = batch.indices[static_cast<size_t>(b)];
    dst_labels[b] = labels[i];
    if (options_.augment)
      augment_image(dst + b * image_bytes, src + i * image_bytes, h, w,
                    augmentation_for(options_.seed, epoch_, i, options_.pad));
    else
      std::memcpy(dst + b * image_bytes, src + i * image_bytes, static_cast<size_t>(image_bytes));
  }
  ++next_;
  return true;
}

DataLoader::DataLoader(ImageSet set, LoaderOptions options)
    : set_(std::move(set)), options_(options) {
  check_options(set_, options_);
}

int64_t DataLoader::num_batches() const { return batches_per_epoch(set_.size(), options_); }

}  // namespace tl
