// preprocess_caffe: uint8 RGB -> bilinear resize -> BGR minus the ImageNet
// means, against the same steps built from PyTorch ops, on both CPU tiers.
// Not differentiable.
#include <gtest/gtest.h>

#include "engine/ops.h"
#include "kernels/preprocess.h"
#include "tests/support/compare.h"
#include "tests/support/cpu_tiers.h"
#include "tests/support/npy.h"

namespace tl::test {
namespace {

// Values up to 255 interpolated in float32 (ulp 1.5e-5 at 255) then shifted
// by a float32 mean: a few ulps at 255.
constexpr Tolerance kPreprocessTol{1e-4, 0};

void check_parity(const std::string& name, int64_t out_h, int64_t out_w) {
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    Context ctx(Device::CPU);
    ctx.set_cpu_kernels(tier);
    ctx.set_poison_allocations(true);
    Tensor images = load_reference(name, "images");
    ASSERT_EQ(images.dtype(), DType::U8);
    Tensor y = ops::preprocess_caffe(ctx, images, out_h, out_w);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(all_close(y, load_reference(name, "y"), kPreprocessTol, name + " y"));
  }
}

TEST(Parity, PreprocessCaffe32To224) { check_parity("preprocess_32_224", 224, 224); }
TEST(Parity, PreprocessCaffe5x7To9x4) { check_parity("preprocess_5x7_9x4", 9, 4); }
TEST(Parity, PreprocessCaffeSameSize) { check_parity("preprocess_same", 6, 5); }

TEST(Preprocess, OnePixelIsFlippedAndShifted) {
  // A 1x1 image resized to 2x2 is that pixel everywhere: B, G, R minus the means.
  Tensor image = Tensor::empty({1, 1, 1, 3}, DType::U8);
  image.data<uint8_t>()[0] = 10;   // R
  image.data<uint8_t>()[1] = 20;   // G
  image.data<uint8_t>()[2] = 250;  // B
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    Context ctx(Device::CPU);
    ctx.set_cpu_kernels(tier);
    const std::vector<float> y = ops::preprocess_caffe(ctx, image, 2, 2).to_vector();
    ASSERT_EQ(y.size(), 12u);
    for (int p = 0; p < 4; ++p) {
      EXPECT_FLOAT_EQ(y[p * 3 + 0], 250.0f - 103.939f);
      EXPECT_FLOAT_EQ(y[p * 3 + 1], 20.0f - 116.779f);
      EXPECT_FLOAT_EQ(y[p * 3 + 2], 10.0f - 123.68f);
    }
  }
}

TEST(Preprocess, RejectsBadInput) {
  Context ctx(Device::CPU);
  EXPECT_THROW(ops::preprocess_caffe(ctx, Tensor::zeros({1, 4, 4, 3}), 8, 8), Error);  // float
  EXPECT_THROW(ops::preprocess_caffe(ctx, Tensor::zeros({1, 4, 4, 1}, DType::U8), 8, 8), Error);
  EXPECT_THROW(ops::preprocess_caffe(ctx, Tensor::zeros({1, 4, 4, 3}, DType::U8), 0, 8), Error);
}

}  // namespace
}  // namespace tl::test
