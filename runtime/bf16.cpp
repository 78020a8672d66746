#include "runtime/bf16.h"
#include "runtime/thread_pool.h"

namespace tl {

void float_to_bf16_cpu(uint16_t* dst, const float* src, int64_t n) {
  parallel_for(n, n > 65536, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) dst[i] = bf16_bits_from_float(src[i]);
  });
}

void bf16_to_float_cpu(float* dst, const uint16_t* src, int64_t n) {
  parallel_for(n, n > 65536, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) dst[i] = float_from_bf16_bits(src[i]);
  });
}

}  // namespace tl
