#include "kernels/cast.h"

#include "runtime/bf16.h"

namespace tl {

void add_bf16_cpu(uint16_t* y, const uint16_t* a, const uint16_t* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i)
    y[i] = bf16_bits_from_float(float_from_bf16_bits(a[i]) + float_from_bf16_bits(b[i]));
}

}  // namespace tl
