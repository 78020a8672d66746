// A resumed epoch on the GPU: DeviceBatchIterator::seek(k) hands out the
// batches the host loader gives from batch k (what train_cifar relies on to
// continue an interrupted epoch exactly).
#include <gtest/gtest.h>

#include "data/device_loader.h"
#include "data/synthetic.h"
#include "tests/gpu/gpu_test.h"

namespace tl::test {
namespace {

TEST(CudaParity, DeviceLoaderSeekResumesWithinTheEpoch) {
  TL_REQUIRE_GPU(gpu);
  const ImageSet set = make_synthetic(50, 32, /*seed=*/4);
  const DeviceImageSet device_set = DeviceImageSet::upload(*gpu, set);
  LoaderOptions options;
  options.batch_size = 16;  // 4 batches, the last of 2
  options.seed = 9;
  options.augment = true;
  BatchIterator host(set, options, /*epoch=*/1);
  DeviceBatchIterator device(*gpu, device_set, options, /*epoch=*/1);
  host.seek(2);
  device.seek(2);
  EXPECT_EQ(device.position(), 2);
  Batch h, d;
  for (int64_t k = 2; k < 4; ++k) {
    ASSERT_TRUE(host.next(h));
    ASSERT_TRUE(device.next(d));
    EXPECT_EQ(d.index, k);
    const Tensor images = gpu->to_host(d.images), labels = gpu->to_host(d.labels);
    ASSERT_EQ(images.shape(), h.images.shape());
    for (int64_t i = 0; i < images.numel(); ++i)
      ASSERT_EQ(images.data<uint8_t>()[i], h.images.data<uint8_t>()[i]) << "batch " << k << ", byte " << i;
    for (int64_t i = 0; i < labels.numel(); ++i) ASSERT_EQ(labels.data<int32_t>()[i], h.labels.data<int32_t>()[i]);
  }
  EXPECT_FALSE(device.next(d));
  EXPECT_THROW(device.seek(5), Error);
}

}  // namespace
}  // namespace tl::test
