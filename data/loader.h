// Batching an ImageSet: seeded shuffling, the last partial batch, and
// host-side augmentation (random horizontal flip + pad-and-crop) on uint8.
//
// Reproducibility is the design constraint. The order of epoch e is a pure
// function of (seed, e), and the flip and crop of sample i in epoch e a pure
// function of (seed, e, i) (data/random.h): a run resumed at epoch e, or at
// batch b of it, sees exactly the batches an uninterrupted run would, and the
// batch size does not change which crop a sample gets. The shuffle is our own
// Fisher-Yates on Philox draws, not std::shuffle, whose output differs
// between standard libraries.
//
//   DataLoader loader(train, {.batch_size = 64, .seed = 1, .augment = true});
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     BatchIterator it = loader.epoch(epoch);
//     for (Batch b; it.next(b);) { /* b.images (B, H, W, 3) uint8, b.labels (B) */ }
//   }
#pragma once

#include <cstdint>
#include <vector>

#include "data/dataset.h"
#include "data/random.h"
#include "kernels/augment.h"  // Augmentation, augmentation_for

namespace tl {

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;     // false: samples in set order (evaluation)
  uint64_t seed = 0;       // shuffle and augmentation seed
  bool drop_last = false;  // true: drop a last batch smaller than batch_size
  bool augment = false;    // random flip + pad-crop; leave off for evaluation
  int64_t pad = 4;         // pad-crop: shifts of up to `pad` pixels each way
};

struct Batch {
  Tensor images;                 // (B, H, W, 3) uint8, host
  Tensor labels;                 // (B) int32
  std::vector<int64_t> indices;  // (B) the samples' indices in the ImageSet
  int64_t index = 0;             // the batch's number within its epoch
};

// Applies `aug` to one (h, w, 3) uint8 image; out must not alias in.
void augment_image(uint8_t* out, const uint8_t* in, int64_t h, int64_t w, const Augmentation& aug);

// The sample order of epoch `epoch`: a Fisher-Yates shuffle of 0..n-1 driven
// by Philox, a pure function of (n, seed, epoch).
std::vector<int64_t> epoch_order(int64_t n, uint64_t seed, int64_t epoch);
// The same shuffle on any Philox stream (e.g. kHoldoutStream).
std::vector<int64_t> shuffled_order(int64_t n, uint64_t seed, uint64_t stream);

// Iterates over the batches of one epoch. Holds its own handles to the data
// (tensors share storage), so it may outlive the DataLoader.
class BatchIterator {
 public:
  BatchIterator(ImageSet set, LoaderOptions options, int64_t epoch);

  // Fills `batch` with the next batch; false when the epoch is done.
  bool next(Batch& batch);
  int64_t num_batches() const { return num_batches_; }
  int64_t position() const { return next_; }  // batches handed out so far
  void seek(int64_t batch);                    // resume within the epoch
  const std::vector<int64_t>& order() const { return order_; }

 private:
  ImageSet set_;
  LoaderOptions options_;
  int64_t epoch_;
  std::vector<int64_t> order_;
  int64_t num_batches_;
  int64_t next_ = 0;
};

class DataLoader {
 public:
  DataLoader(ImageSet set, LoaderOptions options);

  BatchIterator epoch(int64_t epoch) const { return BatchIterator(set_, options_, epoch); }
  int64_t num_samples() const { return set_.size(); }
  // Batches per epoch: ceil(N / B), or floor(N / B) with drop_last.
  int64_t num_batches() const;
  const ImageSet& set() const { return set_; }
  const LoaderOptions& options() const { return options_; }

 private:
  ImageSet set_;
  LoaderOptions options_;
};

}  // namespace tl
