#include "kernels/cast.h"

#include "runtime/bf16.h"
#include "runtime/thread_pool.h"

namespace tl {

void add_bf16_cpu(uint16_t* y, const uint16_t* a, const uint16_t* b, int64_t n) {
  parallel_for(n, n > 65536, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i)
      y[i] = bf16_bits_from_float(float_from_bf16_bits(a[i]) + float_from_bf16_bits(b[i]));
  });
}

}  // namespace tl
