#include "runtime/bf16.h"

namespace tl {

void float_to_bf16_cpu(uint16_t* dst, const float* src, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) dst[i] = bf16_bits_from_float(src[i]);
}

void bf16_to_float_cpu(float* dst, const uint16_t* src, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) dst[i] = float_from_bf16_bits(src[i]);
}

}  // namespace tl
