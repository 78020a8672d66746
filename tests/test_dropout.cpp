// Dropout and the Philox generator under it: Random123's known answers,
// mask determinism per (seed, stream), kept fractions, a gradient check of
// the plain reference kernels, and PyTorch parity (both CPU tiers) against a
// mask drawn by an independent Python Philox.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "runtime/philox.h"
#include "kernels/dropout.h"
#include "kernels/reference/dropout.h"
#include "tests/support/compare.h"
#include "tests/support/cpu_tiers.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace tl::test {
namespace {

// y = x * 1/(1 - rate) in float32 against float64: one or two roundings.
constexpr Tolerance kDropoutTol{1e-6, 1e-6};

// Must match tests/reference/ref_dropout.py.
constexpr uint64_t kRefSeed = 0x0123456789ABCDEFull;
constexpr float kRefRate = 0.3f;

TEST(Philox, KnownAnswers) {
  // Random123's published Philox4x32-10 vectors (kat_vectors), also checked by
  // the independent Python implementation in ref_dropout.py.
  struct Kat {
    Philox4x32 counter;
    uint32_t key0, key1;
    Philox4x32 expected;
  };
  const Kat kats[] = {
      {{{0, 0, 0, 0}}, 0, 0, {{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u}}},
      {{{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}},
       0xffffffffu,
       0xffffffffu,
       {{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu}}},
      {{{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}},
       0xa4093822u,
       0x299f31d0u,
       {{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u}}},
  };
  for (const Kat& k : kats) {
    const Philox4x32 r = philox4x32_10(k.counter, k.key0, k.key1);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(r.v[j], k.expected.v[j]) << "word " << j;
  }
}

// Masks of n elements, via the forward kernel on ones (kept -> 1/(1-rate)).
std::vector<float> masked_ones(int64_t n, float rate, uint64_t seed, uint64_t stream) {
  std::vector<float> x(static_cast<size_t>(n), 1.0f), y(static_cast<size_t>(n));
  dropout_forward_cpu(y.data(), x.data(), n, rate, seed, stream);
  return y;
}

TEST(Dropout, SameSeedAndStreamGiveTheSameMask) {
  const int64_t n = 1003;
  const std::vector<float> a = masked_ones(n, 0.5f, 42, 7), b = masked_ones(n, 0.5f, 42, 7);
  EXPECT_EQ(a, b);
  // The kernel agrees with the per-element definition, dropout_keep.
  for (int64_t i = 0; i < n; ++i)
    ASSERT_EQ(a[static_cast<size_t>(i)] != 0.0f, dropout_keep(42, 7, static_cast<uint64_t>(i), 0.5f))
        << "element " << i;
}

TEST(Dropout, DifferentStreamOrSeedGivesAnotherMask) {
  const int64_t n = 1003;
  const std::vector<float> a = masked_ones(n, 0.5f, 42, 7);
  for (const auto& [seed, stream] : {std::pair<uint64_t, uint64_t>{42, 8},
                                     {42, 7 + (1ull << 32)}, {43, 7}, {42 + (1ull << 32), 7}}) {
    const std::vector<float> b = masked_ones(n, 0.5f, seed, stream);
    int64_t differ = 0;
    for (size_t i = 0; i < a.size(); ++i) differ += (a[i] != 0.0f) != (b[i] != 0.0f);
    // Independent masks at rate 0.5 differ in about half the elements.
    EXPECT_GT(differ, n / 3) << "seed " << seed << " stream " << stream;
  }
}

TEST(Dropout, KeptFractionWithinBinomialBounds) {
  const int64_t n = 1000000;
  for (float rate : {0.5f, 0.1f}) {
    const std::vector<float> y = masked_ones(n, rate, 2024, 3);
    int64_t kept = 0;
    for (float v : y) kept += v != 0.0f;
    const double p = 1.0 - rate, mean = static_cast<double>(n) * p;
    const double sigma = std::sqrt(mean * (1.0 - p));
    EXPECT_LE(std::fabs(static_cast<double>(kept) - mean), 5 * sigma) << "rate " << rate << ": kept " << kept;
    // Kept elements are scaled by 1/(1 - rate) (inverted dropout).
    for (float v : y)
      if (v != 0.0f) {
        EXPECT_FLOAT_EQ(v, 1.0f / (1.0f - rate));
        break;
      }
  }
}

TEST(GradCheck, Dropout) {
  const int64_t n = 50;
  ForwardFn f = [&](const Buffers& in) {
    std::vector<double> y(n);
    dropout_forward_reference(y.data(), in[0].data(), n, 0.4f, 99, 5);
    return y;
  };
  BackwardFn b = [&](const Buffers&, const std::vector<double>& dy) {
    std::vector<double> dx(n);
    dropout_backward_reference(dx.data(), dy.data(), n, 0.4f, 99, 5);
    return Buffers{dx};
  };
  EXPECT_TRUE(gradcheck(f, b, {random_doubles(n, 17)}));
}

Tensor param(const Tensor& t) {
  Tensor p = t;
  p.set_requires_grad(true);
  return p;
}

void check_parity_on(CpuKernels tier, const std::string& name, uint64_t stream) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU, kRefSeed);
  ctx.set_cpu_kernels(tier);
  ctx.set_poison_allocations(true);
  ctx.set_random_stream_position(stream);
  Tensor x = param(load_reference(name, "x"));
  Tensor y = ops::dropout(ctx, x, kRefRate, /*training=*/true);
  EXPECT_EQ(ctx.random_stream_position(), stream + 1) << "one stream per dropout call";
  // The mask itself, bit for bit, against the Python Philox.
  const Tensor mask = load_reference(name, "mask");
  ASSERT_EQ(mask.numel(), x.numel());
  int64_t mismatches = 0, kept = 0;
  for (int64_t i = 0; i < mask.numel(); ++i) {
    const bool keep = dropout_keep(kRefSeed, stream, static_cast<uint64_t>(i), kRefRate);
    mismatches += keep != (mask.data<uint8_t>()[i] != 0);
    kept += keep;
  }
  EXPECT_EQ(mismatches, 0) << name << ": mask differs from ref_dropout.py's Philox";
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, mask.numel());
  EXPECT_TRUE(all_close(y, load_reference(name, "y"), kDropoutTol, name + " y"));
  backward(ctx, y, load_reference(name, "dy"));
  EXPECT_TRUE(all_close(x.grad(), load_reference(name, "dx"), kDropoutTol, name + " dx"));
}

void check_parity(const std::string& name, uint64_t stream) {
  for (CpuKernels tier : kCpuTiers) check_parity_on(tier, name, stream);
}

TEST(Parity, Dropout) { check_parity("dropout", 5); }
// A stream id above 2^32 exercises the high counter word.
TEST(Parity, DropoutHighStream) { check_parity("dropout_high_stream", (7ull << 32) | 3); }

TEST(Dropout, IdentityWhenNotTrainingOrRateZero) {
  Context ctx(Device::CPU, 1);
  Tensor x = param(Tensor::from_vector({2, 3}, {1, -2, 3, -4, 5, -6}));
  for (const auto& [rate, training] : {std::pair<float, bool>{0.5f, false}, {0.0f, true}}) {
    Tensor y = ops::dropout(ctx, x, rate, training);
    EXPECT_EQ(y.to_vector(), x.to_vector());
    EXPECT_EQ(ctx.random_stream_position(), 0u) << "the identity draws no random stream";
  }
}

TEST(Dropout, SuccessiveCallsDrawFreshMasks) {
  Context ctx(Device::CPU, 1);
  Tensor x = Tensor::full({4000}, 1.0f);
  const std::vector<float> a = ops::dropout(ctx, x, 0.5f, true).to_vector();
  const std::vector<float> b = ops::dropout(ctx, x, 0.5f, true).to_vector();
  EXPECT_EQ(ctx.random_stream_position(), 2u);
  EXPECT_NE(a, b);
}

TEST(Dropout, RejectsBadRate) {
  Context ctx(Device::CPU);
  Tensor x = Tensor::zeros({3});
  EXPECT_THROW(ops::dropout(ctx, x, 1.0f, true), Error);
  EXPECT_THROW(ops::dropout(ctx, x, -0.1f, true), Error);
}

}  // namespace
}  // namespace tl::test
