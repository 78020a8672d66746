// The GPU's gather + augment produces exactly the host loader's batches.
#include <gtest/gtest.h>

#include "data/device_loader.h"
#include "data/synthetic.h"
#include "tests/gpu/gpu_test.h"

namespace tl::test {
namespace {

TEST(CudaParity, DeviceBatchesEqualHostBatches) {
  TL_REQUIRE_GPU(gpu);
  const ImageSet set = make_synthetic(50, 32, /*seed=*/4);
  const DeviceImageSet device_set = DeviceImageSet::upload(*gpu, set);
  for (bool augment : {false, true}) {
    LoaderOptions options;
    options.batch_size = 16;  // 50 = 3 full batches and a partial one
    options.seed = 9;
    options.augment = augment;
    BatchIterator host(set, options, /*epoch=*/2);
    DeviceBatchIterator device(*gpu, device_set, options, /*epoch=*/2);
    ASSERT_EQ(host.num_batches(), device.num_batches());
    Batch h, d;
    while (host.next(h)) {
      ASSERT_TRUE(device.next(d));
      const Tensor images = gpu->to_host(d.images), labels = gpu->to_host(d.labels);
      ASSERT_EQ(images.shape(), h.images.shape());
      // Byte copies and integer index arithmetic: identical, byte for byte.
      for (int64_t i = 0; i < images.numel(); ++i)
        ASSERT_EQ(images.data<uint8_t>()[i], h.images.data<uint8_t>()[i]) << "byte " << i;
      for (int64_t i = 0; i < labels.numel(); ++i)
        ASSERT_EQ(labels.data<int32_t>()[i], h.labels.data<int32_t>()[i]);
    }
    EXPECT_FALSE(device.next(d));
  }
}

}  // namespace
}  // namespace tl::test
