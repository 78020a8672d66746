// GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C, all row-major.
// op(X) is X or its transpose. With a CBLAS (OpenBLAS) this is one call to
// sgemm/dgemm; without one, a cache-blocked loop nest in gemm.cpp keeps the
// CPU reference buildable anywhere (the GPU machine has no BLAS headers).
#pragma once

#include <cstdint>

namespace tl {

// a: (m, k) or, transposed, (k, m); b: (k, n) or (n, k); c: (m, n).
// lda/ldb/ldc are the row strides of the matrices as stored.
template <typename T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
              int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

// The fallback loop, exposed so tests can compare it with BLAS.
template <typename T>
void gemm_reference_cpu(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                        const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                        int64_t ldc);

// Name of the GEMM backend in use ("OpenBLAS ..." or "built-in blocked loop").
const char* gemm_backend_name();

}  // namespace tl
