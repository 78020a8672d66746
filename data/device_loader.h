// The training set resident on the GPU (uint8, ~150 MB for CIFAR-10) and the
// batches drawn from it: the same order and the same flip + pad-crop as the
// host BatchIterator (data/loader.h), produced on the device by
// kernels/augment.cu. The epoch's order is uploaded once per epoch; a
// training step then reads no host memory.
#pragma once

#include "data/loader.h"
#include "engine/context.h"

namespace tl {

struct DeviceImageSet {
  Tensor images;  // (N, H, W, 3) uint8 on the device
  Tensor labels;  // (N) int32 on the device
  static DeviceImageSet upload(Context& ctx, const ImageSet& set);
  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

class DeviceBatchIterator {
 public:
  DeviceBatchIterator(Context& ctx, const DeviceImageSet& set, const LoaderOptions& options,
                      int64_t epoch);
  // Fills batch.images / batch.labels with device tensors; false at the end.
  bool next(Batch& batch);
  int64_t num_batches() const { return num_batches_; }
  int64_t position() const { return next_; }  // batches handed out so far
  void seek(int64_t batch);                    // resume within the epoch, as BatchIterator::seek

 private:
  Context& ctx_;
  DeviceImageSet set_;
  LoaderOptions options_;
  int64_t epoch_, next_ = 0, num_batches_ = 0;
  Tensor order_;  // (N) int32 on the device
};

}  // namespace tl
