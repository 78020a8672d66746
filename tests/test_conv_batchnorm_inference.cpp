// ops::conv2d_batchnorm_inference: a convolution with an inference-mode BN
// (and ReLU) after it, against the composition of ops it stands for
// (conv2d, then batchnorm on the running statistics).
//
// Where the op composes (layers the CPU runs on im2col, a gradient wanted,
// the reference kernels) it is that composition: compared bit for bit.
// Where it folds the BN into oneDNN's convolution, the products are rounded
// in another order: conv(x, round(w * s)) + b' against
// (round(conv(x, w) + bias) - mean) * s + beta. Both sides are within
// (K + 4) u M of the exact value, where K is the patch size, u = eps/2 and
// M = |s| (conv(|x|, |w|) + |bias| + |mean|) + |beta| (K products summed in any
// order, plus a rounding each for the scaled weight, the bias, the mean,
// the scale and the shift); their difference is bounded by twice that,
// (K + 4) eps M, computed from M in double.
#include <gtest/gtest.h>

#include <cmath>
#include <algorithm>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/batchnorm.h"
#include "kernels/conv2d_onednn.h"
#include "kernels/reference/conv2d.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"

namespace tl::test {
namespace {

constexpr Tolerance kBitIdentical{0.0, 0.0};

struct Case {
  const char* what;
  int64_t n, h, c, o, k, stride, pad;
  bool bias, relu;
};

// N*OH*OW below 1,024 runs the im2col path, at or above it oneDNN (when the
// build has it): kernels/conv2d.cpp, onednn_is_faster.
const Case kCases[] = {
    {"3x3, bias, ReLU (im2col)", 2, 7, 5, 6, 3, 1, 1, true, true},
    {"1x1 s2 shortcut branch: BN only (im2col)", 2, 8, 4, 8, 1, 2, 0, true, false},
    {"1x1, no bias, ReLU (im2col)", 3, 5, 6, 7, 1, 1, 0, false, true},
    {"3x3, bias, ReLU, 1152 pixels (oneDNN)", 2, 24, 8, 16, 3, 1, 1, true, true},
    {"1x1, no bias, BN only, 1152 pixels (oneDNN)", 2, 24, 16, 32, 1, 1, 0, false, false},
    {"7x7 s2 stem, 3 channels, 1,024 pixels (oneDNN)", 4, 32, 3, 16, 7, 2, 3, true, true},
    {"1x1 s2, BN only, 1,152 pixels (oneDNN)", 2, 48, 12, 20, 1, 2, 0, true, false},
};

bool folds(const Case& cs) {  // kernels/conv2d.cpp, onednn_is_faster
  const int64_t oh = (cs.h + 2 * cs.pad - cs.k) / cs.stride + 1;
  return onednn_available() && cs.n * oh * oh >= 1024;
}

struct Inputs {
  Tensor x, w, bias;
  ops::InferenceBatchNorm bn;
};

Inputs make_inputs(const Case& cs, uint64_t seed) {
  auto tensor = [&](const Shape& shape, uint64_t s, float lo, float hi) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return Tensor::from_vector(shape, random_floats(size_t(n), seed + s, lo, hi));
  };
  Inputs in;
  in.x = tensor({cs.n, cs.h, cs.h, cs.c}, 1, -1.0f, 1.0f);
  in.w = tensor({cs.o, cs.k, cs.k, cs.c}, 2, -0.5f, 0.5f);
  if (cs.bias) in.bias = tensor({cs.o}, 3, -0.5f, 0.5f);
  in.bn.gamma = tensor({cs.o}, 5, 0.5f, 1.5f);
  in.bn.beta = tensor({cs.o}, 6, -0.5f, 0.5f);
  in.bn.running_mean = tensor({cs.o}, 7, -0.3f, 0.3f);
  in.bn.running_var = tensor({cs.o}, 8, 0.2f, 2.0f);
  in.bn.eps = 1.001e-5f;  // ResNet50's
  return in;
}

// The definition: the separate ops, as a Bottleneck in training calls them.
Tensor composed(Context& ctx, const Case& cs, const Inputs& in) {
  ops::BatchNormOptions options;
  options.training = false;
  options.eps = in.bn.eps;
  options.relu = cs.relu;
  return ops::batchnorm(ctx, ops::conv2d(ctx, in.x, in.w, in.bias, cs.stride, cs.pad),
                        in.bn.gamma, in.bn.beta, in.bn.running_mean, in.bn.running_var, options);
}

Tensor fused(Context& ctx, const Case& cs, const Inputs& in) {
  return ops::conv2d_batchnorm_inference(ctx, in.x, in.w, in.bias, cs.stride, cs.pad, in.bn,
                                         cs.relu);
}

std::vector<double> as_double(const Tensor& t) {
  const std::vector<float> v = t.to_vector();
  return std::vector<double>(v.begin(), v.end());
}

// (K + 4) eps M per output (the header), M from the reference convolution
// of |x| and |w| in double.
std::vector<double> fold_bound(const Case& cs, const Inputs& in) {
  Conv2dGeometry g;
  g.batch = cs.n, g.in_h = cs.h, g.in_w = cs.h, g.in_c = cs.c;
  g.out_c = cs.o, g.kernel_h = cs.k, g.kernel_w = cs.k, g.stride = cs.stride, g.pad = cs.pad;
  std::vector<double> ax = as_double(in.x), aw = as_double(in.w);
  for (double& v : ax) v = std::fabs(v);
  for (double& v : aw) v = std::fabs(v);
  std::vector<double> m(size_t(g.batch * g.out_h() * g.out_w() * g.out_c));
  conv2d_forward_reference<double>(m.data(), ax.data(), aw.data(), nullptr, g);
  const std::vector<float> gamma = in.bn.gamma.to_vector(), beta = in.bn.beta.to_vector(),
                           mean = in.bn.running_mean.to_vector(),
                           var = in.bn.running_var.to_vector();
  const std::vector<float> bias = cs.bias ? in.bias.to_vector() : std::vector<float>(cs.o, 0.0f);
  const double eps = std::numeric_limits<float>::epsilon();
  for (size_t i = 0; i < m.size(); ++i) {
    const size_t o = i % size_t(cs.o);
    const double s = std::fabs(gamma[o] * batchnorm_inference_invstd(var[o], in.bn.eps));
    const double magnitude =
        s * (m[i] + std::fabs(bias[o]) + std::fabs(mean[o])) + std::fabs(beta[o]);
    m[i] = double(g.patch_size() + 4) * eps * magnitude;
  }
  return m;
}

TEST(ConvBatchNormInference, FoldedEqualsTheOpsItStandsForWithinRounding) {
  uint64_t seed = 500;
  int64_t folded_elements_that_differ = 0;
  for (const Case& cs : kCases) {
    SCOPED_TRACE(cs.what);
    const Inputs in = make_inputs(cs, seed += 10);
    Context ctx(Device::CPU, 1);
    const Tensor y = fused(ctx, cs, in), expected = composed(ctx, cs, in);
    if (!folds(cs)) {  // composed: the same ops
      EXPECT_TRUE(all_close(y, expected, kBitIdentical, "y"));
      continue;
    }
    const std::vector<float> a = y.to_vector(), e = expected.to_vector();
    const std::vector<double> bound = fold_bound(cs, in);
    ASSERT_EQ(a.size(), e.size());
    double worst = 0;
    int64_t failures = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const double err = std::fabs(double(a[i]) - double(e[i]));
      worst = std::max(worst, err / bound[i]);
      if (!(err <= bound[i])) ++failures;  // NaN fails too
      if (err > 0) ++folded_elements_that_differ;
    }
    EXPECT_EQ(failures, 0) << "worst " << worst << " of the bound";
    std::cout << "  " << cs.what << ": worst " << worst << " of the bound\n";
  }
  // The fold rounds differently somewhere in these thousands of outputs
  // (seen: a large share of them); all equal would mean the op composed.
  if (onednn_available())
    EXPECT_GT(folded_elements_that_differ, 0) << "the oneDNN cases equal the composition bit "
                                                 "for bit: is the fold still taken?";
}

// With a gradient wanted, the op is the composition itself: same values, and
// backward reaches the inputs through the separate ops' nodes.
TEST(ConvBatchNormInference, WithAGradientItIsTheCompositionAndDifferentiates) {
  const Case& cs = kCases[3];  // large enough to fold without a gradient
  Inputs in = make_inputs(cs, 900);
  Context ctx(Device::CPU, 1);
  const Tensor expected = composed(ctx, cs, in);
  in.x.set_requires_grad(true);
  in.w.set_requires_grad(true);
  const Tensor y = fused(ctx, cs, in);
  EXPECT_TRUE(all_close(y, expected, kBitIdentical, "y"));
  ASSERT_TRUE(y.requires_grad());
  backward(ctx, ops::reshape(ctx, y, {y.numel()}), Tensor::full({y.numel()}, 1.0f));
  EXPECT_TRUE(in.x.grad().defined());
  EXPECT_TRUE(in.w.grad().defined());
}

// The reference CPU kernels never fuse: the op runs the plain ops.
TEST(ConvBatchNormInference, ReferenceKernelsRunTheComposition) {
  const Case& cs = kCases[3];
  const Inputs in = make_inputs(cs, 950);
  Context ctx(Device::CPU, 1);
  ctx.set_cpu_kernels(CpuKernels::Reference);
  EXPECT_TRUE(all_close(fused(ctx, cs, in), composed(ctx, cs, in), kBitIdentical, "y"));
}

TEST(ConvBatchNormInference, MismatchedShapesNameTheArgument) {
  const Case& cs = kCases[3];
  Context ctx(Device::CPU, 1);
  Inputs in = make_inputs(cs, 991);
  in.bn.running_var = Tensor::full({cs.o + 1}, 1.0f);
  try {
    fused(ctx, cs, in);
    FAIL() << "a running variance of the wrong length was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("running_var has"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tl::test
