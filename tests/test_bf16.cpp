// bfloat16 conversion (runtime/bf16.h): round to nearest, ties to even, as
// PyTorch's .to(torch.bfloat16) and CUDA's __float2bfloat16_rn.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "runtime/bf16.h"
#include "runtime/shape.h"

namespace tl::test {
namespace {

// Bit patterns from PyTorch 1.13 (float32 bits -> bfloat16 bits):
//   torch.tensor([x], dtype=torch.float32).to(torch.bfloat16).view(torch.int16)
struct Case {
  uint32_t f32;
  uint16_t bf16;
  const char* what;
};
constexpr Case kTorchCases[] = {
    {0x3F808000u, 0x3F80u, "1 + half an ulp: a tie, rounds to the even 1.0"},
    {0x3F818000u, 0x3F82u, "a tie above an odd value rounds up to the even one"},
    {0x3F80FFFFu, 0x3F81u, "just below the next value rounds up"},
    {0x3F807FFFu, 0x3F80u, "just below the tie rounds down"},
    {0x7F7FFFFFu, 0x7F80u, "the largest float rounds to +inf"},
    {0xFF7FFFFFu, 0xFF80u, "and the most negative to -inf"},
    {0x00000001u, 0x0000u, "the smallest denormal rounds to +0"},
    {0x80000000u, 0x8000u, "-0 stays -0"},
    {0x7F800000u, 0x7F80u, "+inf stays +inf"},
    {0x007FFFFFu, 0x0080u, "the largest denormal rounds up to the smallest normal"},
    {0x3EAAAAABu, 0x3EABu, "1/3"},
    {0xC0490FDBu, 0xC049u, "-pi"},
};

TEST(BFloat16, MatchesPyTorchBitForBit) {
  for (const Case& c : kTorchCases)
    EXPECT_EQ(bf16_bits_from_float(float_from_bits(c.f32)), c.bf16) << c.what;
}

TEST(BFloat16, NanStaysNan) {
  for (uint32_t bits : {0x7FC00000u, 0x7FC00001u, 0x7F800001u, 0xFFFFFFFFu}) {
    const uint16_t b = bf16_bits_from_float(float_from_bits(bits));
    EXPECT_TRUE(std::isnan(float_from_bf16_bits(b))) << std::hex << bits << " -> " << b;
  }
}

// For every pair of neighbouring finite bf16 values (lo, hi), the floats just
// below their midpoint round to lo, just above it to hi, and the midpoint
// itself to whichever is even: round to nearest, ties to even, everywhere.
TEST(BFloat16, RoundsToNearestTiesToEvenBetweenEveryPairOfNeighbours) {
  int64_t checked = 0;
  for (uint32_t lo = 0; lo < 0x7F7Fu; ++lo) {  // positive finite values below the largest
    for (uint32_t sign : {0u, 0x8000u}) {
      const uint16_t low = static_cast<uint16_t>(lo | sign), high = static_cast<uint16_t>((lo + 1) | sign);
      const uint32_t mid = (static_cast<uint32_t>(low) << 16) | 0x8000u;  // exactly halfway
      ASSERT_EQ(bf16_bits_from_float(float_from_bits(mid - 1)), low) << std::hex << mid;
      ASSERT_EQ(bf16_bits_from_float(float_from_bits(mid + 1)), high) << std::hex << mid;
      ASSERT_EQ(bf16_bits_from_float(float_from_bits(mid)), (low & 1u) ? high : low) << std::hex << mid;
      checked += 3;
    }
  }
  EXPECT_EQ(checked, 6 * 0x7F7F);
}

TEST(BFloat16, ToFloatIsExactAndRoundTripsEveryValue) {
  for (uint32_t b = 0; b <= 0xFFFFu; ++b) {
    const float f = float_from_bf16_bits(static_cast<uint16_t>(b));
    EXPECT_EQ(float_bits(f), b << 16);
    if (!std::isnan(f)) ASSERT_EQ(bf16_bits_from_float(f), b) << std::hex << b;
  }
}

TEST(BFloat16, ArrayConversionsAgreeWithTheScalarOnes) {
  std::vector<float> x(100003);
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(float(i)) * std::pow(10.0f, float(i % 13) - 6);
  std::vector<uint16_t> b(x.size());
  std::vector<float> back(x.size());
  float_to_bf16_cpu(b.data(), x.data(), int64_t(x.size()));
  bf16_to_float_cpu(back.data(), b.data(), int64_t(b.size()));
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(b[i], bf16_bits_from_float(x[i])) << i;
    ASSERT_EQ(back[i], round_to_bf16(x[i])) << i;
    // One rounding: relative error at most 2^-8 for normal values.
    if (x[i] != 0.0f) ASSERT_LE(std::fabs(back[i] - x[i]), std::ldexp(std::fabs(x[i]), -8)) << i;
  }
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_STREQ(dtype_name(DType::BF16), "bfloat16");
}

}  // namespace
}  // namespace tl::test
