// bfloat16: the upper 16 bits of an IEEE-754 float32 (1 sign bit, the same 8
// exponent bits, 7 of the 23 mantissa bits). Same range as float32, about
// 3 significant decimal digits; what the H200's tensor cores multiply at full
// rate, with float32 accumulation. No loss scaling is needed: the exponent
// range is float32's.
//
// The one conversion, float32 -> bf16, rounds to nearest, ties to even (as
// CUDA's __float2bfloat16_rn and PyTorch's .to(torch.bfloat16) do): add
// 0x7FFF plus the lowest kept bit, then truncate. A value past the largest
// bf16 rounds to infinity, as round-to-nearest must; a NaN stays a (quiet)
// NaN. bf16 -> float32 is exact (append 16 zero bits).
//
// The CPU code uses these functions at the same points where the GPU path
// rounds (activations stored in bf16, weights copied to bf16 before a
// convolution), so every bf16 kernel has a CPU twin it must match, and the
// error of the bf16 path can be derived instead of guessed: one rounding is
// a relative error of at most 2^-8 = 0.39%.
#pragma once

#include <cstdint>
#include <cstring>

#include "runtime/philox.h"  // TL_HOST_DEVICE

namespace tl {

TL_HOST_DEVICE uint32_t float_bits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

TL_HOST_DEVICE float float_from_bits(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// The bf16 bit pattern nearest to f (ties to even).
TL_HOST_DEVICE uint16_t bf16_bits_from_float(float f) {
  const uint32_t u = float_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  const uint32_t lowest_kept_bit = (u >> 16) & 1u;
  return static_cast<uint16_t>((u + 0x7FFFu + lowest_kept_bit) >> 16);
}

// Exact: bf16 is a float32 with the low 16 mantissa bits zero.
TL_HOST_DEVICE float float_from_bf16_bits(uint16_t b) {
  return float_from_bits(static_cast<uint32_t>(b) << 16);
}

// f rounded to the nearest bf16 value, as a float: what storing f in bf16
// and reading it back gives.
TL_HOST_DEVICE float round_to_bf16(float f) { return float_from_bf16_bits(bf16_bits_from_float(f)); }

// Whole arrays, on the host (the CPU twins of the GPU's conversion kernels).
void float_to_bf16_cpu(uint16_t* dst, const float* src, int64_t n);
void bf16_to_float_cpu(float* dst, const uint16_t* src, int64_t n);

}  // namespace tl
