#include "data/device_loader.h"

#include "kernels/augment.h"

namespace tl {

DeviceImageSet DeviceImageSet::upload(Context& ctx, const ImageSet& set) {
  check_image_set(set, "training set");
  return {ctx.to_device(set.images), ctx.to_device(set.labels)};
}

DeviceBatchIterator::DeviceBatchIterator(Context& ctx, const DeviceImageSet& set,
                                         const LoaderOptions& options, int64_t epoch)
    : ctx_(ctx), set_(set), options_(options), epoch_(epoch) {
  TL_CHECK(ctx.device() == Device::CUDA, "DeviceBatchIterator needs a CUDA context");
  const int64_t n = set.size();
  TL_CHECK(n < (int64_t(1) << 31), "DeviceBatchIterator: too many samples for int32 indices");
  // The same order as the host loader: Fisher-Yates on Philox, on the host
  // (sequential by nature, 50,000 swaps), uploaded once for the epoch.
  Tensor order = Tensor::empty({n}, DType::I32);
  if (options.shuffle) {
    const std::vector<int64_t> o = epoch_order(n, options.seed, epoch);
    for (int64_t i = 0; i < n; ++i) order.data<int32_t>()[i] = static_cast<int32_t>(o[static_cast<size_t>(i)]);
  } else {
    for (int64_t i = 0; i < n; ++i) order.data<int32_t>()[i] = static_cast<int32_t>(i);
  }
  order_ = ctx.to_device(order);
  num_batches_ = options.drop_last ? n / options.batch_size
                                   : (n + options.batch_size - 1) / options.batch_size;
}

void DeviceBatchIterator::seek(int64_t batch) {
  if (batch < 0 || batch > num_batches_)
    fail("DeviceBatchIterator: cannot seek to batch ", batch, " of an epoch of ", num_batches_, " batches");
  next_ = batch;
}

bool DeviceBatchIterator::next(Batch& batch) {
  if (next_ >= num_batches_) return false;
  const int64_t n = set_.size(), begin = next_ * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, n - begin);
  const int64_t h = set_.images.size(1), w = set_.images.size(2);
  batch.images = ctx_.empty({count, h, w, 3}, DType::U8);
  batch.labels = ctx_.empty({count}, DType::I32);
  batch.indices.clear();  // on the device only
  batch.index = next_;
  gather_augment_cuda(ctx_.gpu(), batch.images.data<uint8_t>(), batch.labels.data<int32_t>(),
                      set_.images.data<uint8_t>(), set_.labels.data<int32_t>(),
                      order_.data<int32_t>() + begin, count, h, w, options_.augment, options_.seed,
                      epoch_, options_.pad);  // a CPU-only build's stub throws
  ++next_;
  return true;
}

}  // namespace tl
