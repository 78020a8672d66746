// CUDA bilinear resampling (forward and gather backward) and the fused
// uint8 -> resize -> BGR - mean preprocessing vs the CPU reference. Both
// kernels replay the CPU's taps (double) and float expressions (explicitly
// rounded: no FMA), and the backward adds its terms in the CPU's order, so
// the results are bit-identical (see cuda_parity.h for hosts that contract).
#include <gtest/gtest.h>

#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/gpu/cuda_parity.h"
#include "tests/gpu/gpu_test.h"

namespace tl::test {
namespace {

void compare_upsample(Context& gpu, const Shape& shape, int64_t out_h, int64_t out_w,
                      uint64_t seed) {
  const std::string what = "upsample " + shape_str(shape) + " -> " + std::to_string(out_h) + "x" +
                           std::to_string(out_w) + " ";
  Context cpu(Device::CPU);
  cpu.set_poison_allocations(true);
  const Tensor x = random_tensor(shape, seed);
  Tensor x_cpu = x.view(shape);
  x_cpu.set_requires_grad(true);
  Tensor y_cpu = ops::upsample_bilinear(cpu, x_cpu, out_h, out_w);
  const Tensor dy = random_tensor(y_cpu.shape(), seed + 1);
  backward(cpu, y_cpu, dy);

  Tensor x_gpu = gpu.to_device(x);
  x_gpu.set_requires_grad(true);
  Tensor y_gpu = ops::upsample_bilinear(gpu, x_gpu, out_h, out_w);
  backward(gpu, y_gpu, gpu.to_device(dy));
  EXPECT_TRUE(matches_cpu_exactly(gpu.to_host(y_gpu), y_cpu, what + "y"));
  EXPECT_TRUE(matches_cpu_exactly(gpu.to_host(x_gpu.grad()), x_cpu.grad(), what + "dx"));
}

TEST(CudaParity, UpsampleBilinearCifarTo224) {
  TL_REQUIRE_GPU(gpu);
  compare_upsample(*gpu, {1, 32, 32, 3}, 224, 224, 1);  // the input pipeline's 7x
}

TEST(CudaParity, UpsampleBilinearOddShapes) {
  TL_REQUIRE_GPU(gpu);
  compare_upsample(*gpu, {2, 5, 7, 8}, 11, 3, 2);  // up in y, down in x; float4 lanes
  compare_upsample(*gpu, {1, 9, 4, 5}, 4, 9, 3);   // down in y (inputs no output reads)
  compare_upsample(*gpu, {2, 3, 3, 1}, 3, 3, 4);   // identity size
  compare_upsample(*gpu, {1, 1, 1, 2}, 5, 4, 5);   // one source pixel: every tap clamped
  compare_upsample(*gpu, {2, 4, 6, 16}, 13, 17, 6);
}

void compare_preprocess(Context& gpu, const Shape& shape, int64_t out_h, int64_t out_w,
                        uint64_t seed) {
  const std::string what = "preprocess_caffe " + shape_str(shape) + " -> " +
                           std::to_string(out_h) + "x" + std::to_string(out_w);
  Context cpu(Device::CPU);
  cpu.set_poison_allocations(true);
  Tensor images = Tensor::empty(shape, DType::U8);
  const std::vector<float> u = random_floats(static_cast<size_t>(shape_numel(shape)), seed, 0.0f, 1.0f);
  uint8_t* p = images.data<uint8_t>();
  for (size_t i = 0; i < u.size(); ++i) p[i] = static_cast<uint8_t>(u[i] * 256.0f);
  p[0] = 0;  // both extremes present
  p[1] = 255;
  const Tensor y_cpu = ops::preprocess_caffe(cpu, images, out_h, out_w);
  const Tensor y_gpu = ops::preprocess_caffe(gpu, gpu.to_device(images), out_h, out_w);
  EXPECT_TRUE(matches_cpu_exactly(gpu.to_host(y_gpu), y_cpu, what));
}

TEST(CudaParity, PreprocessCaffe) {
  TL_REQUIRE_GPU(gpu);
  compare_preprocess(*gpu, {2, 32, 32, 3}, 224, 224, 7);  // CIFAR-10 -> ResNet50
  compare_preprocess(*gpu, {3, 5, 4, 3}, 3, 7, 8);
  compare_preprocess(*gpu, {1, 32, 32, 3}, 32, 32, 9);    // no resize: BGR - mean only
}

}  // namespace
}  // namespace tl::test
