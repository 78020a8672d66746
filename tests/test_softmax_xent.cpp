// softmax_cross_entropy: gradient check of the plain reference kernels
// (double), PyTorch parity (float32) on both CPU tiers including logits of
// +-1e4, and the error for a label out of range.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/reference/softmax_xent.h"
#include "tests/support/compare.h"
#include "tests/support/cpu_tiers.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace tl::test {
namespace {

// exp/log in float32 over 10 classes against float64 PyTorch.
constexpr Tolerance kXentTol{1e-6, 1e-5};
// Logits of +-1e4: the loss (up to 2e4) is a difference of exactly
// representable logits plus a log of order 1, so one float32 rounding of it.
constexpr Tolerance kXentBigTol{1e-6, 1e-6};

TEST(GradCheck, SoftmaxCrossEntropy) {
  const int64_t n = 4, c = 5;
  const std::vector<int32_t> labels{2, 0, 4, 2};
  ForwardFn f = [&](const Buffers& in) {
    std::vector<double> probs(n * c);
    return std::vector<double>{
        softmax_xent_forward_reference(probs.data(), in[0].data(), labels.data(), n, c)};
  };
  BackwardFn b = [&](const Buffers& in, const std::vector<double>& dloss) {
    std::vector<double> probs(n * c), dz(n * c);
    softmax_xent_forward_reference(probs.data(), in[0].data(), labels.data(), n, c);
    softmax_xent_backward_reference(dz.data(), probs.data(), labels.data(), dloss[0], n, c);
    return Buffers{dz};
  };
  EXPECT_TRUE(gradcheck(f, b, {random_doubles(n * c, 41, -3.0, 3.0)}));
}

void check_parity_on(CpuKernels tier, const std::string& name, Tolerance tol) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU);
  ctx.set_cpu_kernels(tier);
  ctx.set_poison_allocations(true);
  Tensor logits = load_reference(name, "logits");
  logits.set_requires_grad(true);
  Tensor loss = ops::softmax_cross_entropy(ctx, logits, load_reference(name, "labels"));
  ASSERT_EQ(loss.shape(), Shape{1});
  EXPECT_TRUE(std::isfinite(loss.to_vector()[0]));
  EXPECT_TRUE(all_close(loss, load_reference(name, "loss"), tol, name + " loss"));
  // An upstream gradient other than 1 checks that dloss is used.
  backward(ctx, loss, load_reference(name, "dloss"));
  EXPECT_TRUE(all_close(logits.grad(), load_reference(name, "dlogits"), tol, name + " dlogits"));
}

void check_parity(const std::string& name, Tolerance tol) {
  for (CpuKernels tier : kCpuTiers) check_parity_on(tier, name, tol);
}

TEST(Parity, SoftmaxCrossEntropy) { check_parity("softmax_xent", kXentTol); }
TEST(Parity, SoftmaxCrossEntropyHugeLogits) { check_parity("softmax_xent_big", kXentBigTol); }

TEST(SoftmaxCrossEntropy, LabelOutOfRangeNamesTheSample) {
  for (CpuKernels tier : kCpuTiers) {
    SCOPED_TRACE(tier_name(tier));
    Context ctx(Device::CPU);
    ctx.set_cpu_kernels(tier);
    Tensor logits = Tensor::zeros({3, 10});
    for (int32_t bad : {10, -1}) {
      Tensor labels = Tensor::zeros({3}, DType::I32);
      labels.data<int32_t>()[2] = bad;
      try {
        ops::softmax_cross_entropy(ctx, logits, labels);
        ADD_FAILURE() << "label " << bad << " was accepted";
      } catch (const Error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("sample 2"), std::string::npos) << what;
        EXPECT_NE(what.find("label " + std::to_string(bad)), std::string::npos) << what;
      }
    }
  }
}

TEST(SoftmaxCrossEntropy, RejectsWrongLabelType) {
  Context ctx(Device::CPU);
  EXPECT_THROW(ops::softmax_cross_entropy(ctx, Tensor::zeros({3, 4}), Tensor::zeros({3})), Error);
  EXPECT_THROW(ops::softmax_cross_entropy(ctx, Tensor::zeros({3, 4}),
                                          Tensor::zeros({2}, DType::I32)),
               Error);
}

}  // namespace
}  // namespace tl::test
