// bfloat16 on the GPU vs the CPU's bf16 reference (engine/ops.h, "bf16"):
// the conversions and the gradient sum (bit for bit), cuDNN's bf16
// convolution on the tensor cores (forward, dx, dw), and one training step
// of the whole model in bf16.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/cast.h"
#include "layers/basic.h"
#include "layers/classifier.h"
#include "layers/training_step.h"
#include "runtime/bf16.h"
#include "tests/gpu/cuda_parity.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/compare.h"
#include "tests/support/optimizers.h"
#include "tests/support/batches.h"

namespace tl::test {
namespace {

// The conversions and the bf16 sum run runtime/bf16.h's code on both
// devices: bit for bit, including ties, NaN and infinities.
TEST(CudaParity, Bf16CastAndSum) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  Tensor x = random_tensor({4099}, 1, -1e3f, 1e3f);
  x.data<float>()[0] = std::nanf("");
  x.data<float>()[1] = INFINITY;
  x.data<float>()[2] = 1.0f + 1.0f / 256;  // a tie: rounds to even (1.0)
  x.data<float>()[3] = 3.4e38f;            // past the largest bf16: infinity
  const Tensor c16 = ops::cast(cpu, x, DType::BF16);
  const Tensor g16 = ops::cast(*gpu, gpu->to_device(x), DType::BF16);
  EXPECT_TRUE(bit_identical(gpu->to_host(ops::cast(*gpu, g16, DType::F32)),
                            ops::cast(cpu, c16, DType::F32), "float -> bf16 -> float"));
  const Tensor y = random_tensor({4099}, 2, -1e3f, 1e3f);
  const Tensor cy = ops::cast(cpu, y, DType::BF16), gy = gpu->to_device(cy);
  Tensor csum = Tensor::empty({4099}, DType::BF16), gsum = gpu->empty({4099}, DType::BF16);
  add_bf16_cpu(csum.data<uint16_t>(), c16.data<uint16_t>(), cy.data<uint16_t>(), 4099);
  add_bf16_cuda(gpu->gpu(), gsum.data<uint16_t>(), g16.data<uint16_t>(), gy.data<uint16_t>(), 4099);
  EXPECT_TRUE(bit_identical(ops::cast(cpu, gpu->to_host(gsum), DType::F32),
                            ops::cast(cpu, csum, DType::F32), "bf16 sum"));
}

// pad_channels (the stem's 3 channels to 8 for the tensor cores) moves data
// only: bit for bit the CPU's, forward and backward, float32 and bf16.
TEST(CudaParity, PadChannels) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  for (DType dtype : {DType::F32, DType::BF16}) {
    const Tensor x = ops::cast(cpu, random_tensor({4, 9, 9, 3}, 50), dtype);
    const Tensor dy = ops::cast(cpu, random_tensor({4, 9, 9, 8}, 51), dtype);
    std::vector<Tensor> out;
    for (Context* ctx : {&cpu, gpu.get()}) {
      Tensor xd = ctx->to_device(x);
      xd.set_requires_grad(true);
      const Tensor y = ops::pad_channels(*ctx, xd, 8);
      backward(*ctx, y, ctx->to_device(dy));
      out.push_back(host_float32(y));
      out.push_back(host_float32(xd.grad()));
    }
    EXPECT_TRUE(bit_identical(out[2], out[0], std::string(dtype_name(dtype)) + " y"));
    EXPECT_TRUE(bit_identical(out[3], out[1], std::string(dtype_name(dtype)) + " dx"));
  }
}

// cuDNN's bf16 convolution (no bias: the training path) against the CPU's
// bf16 reference: the float32 convolution of the rounded operands, rounded.
// Both sum K products of bf16 values in float32, in different orders
// (1e-4 * sqrt(K), as the float32 parity test allows), and then round to
// bf16: a sum a hair either side of a rounding boundary rounds one bf16 ulp
// apart, up to 2^-7 of the value (ulp / value is at most 2^-7). The stem's
// case runs padded to 8 channels on the GPU (engine/ops_conv.cpp): the
// extra terms are exact zeros.
struct Case {
  const char* name;
  int64_t n, h, w, c, o, k, stride, pad;
};
const Case kCases[] = {{"1x1s1", 4, 16, 16, 32, 64, 1, 1, 0},
                       {"1x1s2", 2, 9, 9, 32, 64, 1, 2, 0},
                       {"3x3s1p1", 2, 8, 8, 16, 32, 3, 1, 1},
                       {"7x7s2p3", 2, 20, 20, 3, 16, 7, 2, 3}};

Tolerance bf16_tolerance(double k) { return {1e-4 * std::sqrt(k), 1.0 / 128 + 1e-4}; }

struct Result {
  Tensor y, dx, dw;  // host, float32 (bf16 values widened)
};

Result run(Context& ctx, const Case& c) {
  Tensor x = ctx.to_device(ops::cast(ctx, random_tensor({c.n, c.h, c.w, c.c}, 11), DType::BF16));
  Tensor w = ctx.to_device(random_tensor({c.o, c.k, c.k, c.c}, 12));
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  const Tensor y = ops::conv2d(ctx, x, w, Tensor(), c.stride, c.pad);
  EXPECT_EQ(y.dtype(), DType::BF16);
  const Tensor dy = ctx.to_device(ops::cast(ctx, random_tensor(y.shape(), 14), DType::BF16));
  backward(ctx, y, dy);
  EXPECT_EQ(x.grad().dtype(), DType::BF16);
  EXPECT_EQ(w.grad().dtype(), DType::F32);
  return {host_float32(y), host_float32(x.grad()), host_float32(w.grad())};
}

TEST(CudaParity, Conv2dBf16TensorCores) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.name);
    const Result expected = run(cpu, c), actual = run(*gpu, c);
    const double rows = double(c.n) * ((c.h + 2 * c.pad - c.k) / c.stride + 1) *
                        ((c.w + 2 * c.pad - c.k) / c.stride + 1);
    EXPECT_TRUE(all_close(actual.y, expected.y, bf16_tolerance(double(c.k * c.k * c.c)), "y"));
    EXPECT_TRUE(all_close(actual.dx, expected.dx, bf16_tolerance(double(c.k * c.k * c.o)), "dx"));
    EXPECT_TRUE(all_close(actual.dw, expected.dw, bf16_tolerance(rows), "dw"));
    // The weight gradient holds bf16 values (rounded once, on the device).
    for (float v : actual.dw.to_vector()) ASSERT_EQ(v, round_to_bf16(v));
  }
}

// One training step of the whole model in bf16 on the GPU against the
// CPU's bf16 step, BNs on their running statistics (a randomly initialised
// model is chaotic with batch statistics: tests/test_bf16_ops.cpp). The two
// differ by where the float32 sums round to bf16, about as much as bf16
// differs from float32, so the bounds are that test's: logits within 5% of
// the largest, the loss within 2%, gradient directions of the stem > 0.94,
// of the last convolution > 0.98, of the float32 head > 0.9999.
TEST(CudaBf16, TrainingStepTracksTheCpu) {
  TL_REQUIRE_GPU(gpu);
  ClassifierConfig config;
  config.input_size = 32;
  config.pool = HeadPool::kAverage;
  config.dropout = 0.0f;
  config.seed = 21;
  Classifier on_gpu(config), on_cpu(config);
  for (Classifier* m : {&on_gpu, &on_cpu}) {
    m->set_backbone_dtype(DType::BF16);
    for (Module* leaf : m->leaf_modules())
      if (auto* bn = dynamic_cast<BatchNorm*>(leaf)) bn->set_mode(BatchNormMode::kInference);
  }
  on_gpu.to(*gpu);
  auto adam_gpu = make_adam(on_gpu), adam_cpu = make_adam(on_cpu);
  Context cpu(Device::CPU, 5);
  const Tensor images = random_images(8, 70);
  const Tensor labels = labels_tensor({0, 1, 2, 3, 4, 5, 6, 7});
  const StepResult g = training_step(*gpu, on_gpu, *adam_gpu, images, labels);
  const StepResult c = training_step(cpu, on_cpu, *adam_cpu, images, labels);
  ASSERT_TRUE(g.updated && c.updated);
  const std::vector<float> lg = g.logits.to_vector(), lc = c.logits.to_vector();
  double largest = 0;
  for (float v : lc) largest = std::max(largest, double(std::fabs(v)));
  EXPECT_TRUE(all_close(lg, lc, {0.05 * largest, 0}, "logits"));
  EXPECT_NEAR(g.loss, c.loss, 0.02 * c.loss);
  const auto grad_of = [](Classifier& m, const std::string& name) {
    for (auto& nt : m.named_parameters())
      if (nt.name == name) return nt.tensor.grad().to_vector();
    return std::vector<float>{};
  };
  for (const auto& [name, min_cosine] : {std::pair{"conv1_conv/kernel", 0.94},
                                         std::pair{"conv5_block3_3_conv/kernel", 0.98},
                                         std::pair{"dense_3/kernel", 0.9999}}) {
    const std::vector<float> a = grad_of(on_gpu, name), b = grad_of(on_cpu, name);
    ASSERT_EQ(a.size(), b.size()) << name;
    double dot = 0, na = 0, nb = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      dot += double(a[i]) * b[i];
      na += double(a[i]) * a[i];
      nb += double(b[i]) * b[i];
    }
    EXPECT_GT(dot / std::sqrt(na * nb), min_cosine) << name;
  }
}

}  // namespace
}  // namespace tl::test
