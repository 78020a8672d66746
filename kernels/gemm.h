// GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C, all row-major.
// op(X) is X or its transpose. With a CBLAS (OpenBLAS) this is one call to
// sgemm/dgemm; without one, a cache-blocked loop nest in gemm.cpp keeps the
// fast CPU path buildable anywhere (the GPU machine has no BLAS headers).
// The plain triple loop that judges both is kernels/reference/gemm.h.
#pragma once

#include <cstdint>

namespace tl {

// a: (m, k) or, transposed, (k, m); b: (k, n) or (n, k); c: (m, n).
// lda/ldb/ldc are the row strides of the matrices as stored.
template <typename T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
              int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// The cache-blocked fallback loop, exposed so tests can compare it with BLAS.
template <typename T>
void gemm_blocked_cpu(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                      const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                      int64_t ldc);
// Its former name, kept for bench/bench_conv.cpp: "reference" now means the
// plain loops of kernels/reference/ (docs/cpu_reference.md), which this is not.
template <typename T>
void gemm_reference_cpu(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                        const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                        int64_t ldc) {
  gemm_blocked_cpu(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// Name of the GEMM backend in use ("OpenBLAS ..." or "built-in blocked loop").
const char* gemm_backend_name();

}  // namespace tl
