// The plain reference for GEMM: C = alpha * op(A) * op(B) + beta * C, all
// row-major, op(X) = X or its transpose (the contract of kernels/gemm.h),
// each element of C one dot product summed in double.
//
// It judges the two fast GEMMs in tests/test_gemm.cpp: gemm_cpu (BLAS) and
// gemm_blocked_cpu (the cache-blocked loop used without BLAS). No op calls
// it: the references of the layers built on GEMM (kernels/reference/conv2d.h,
// linear.h) write their own dot products. docs/cpu_reference.md.
#pragma once

#include <cstdint>

namespace tl {

// Same contract as gemm_cpu, beta == 0 included: C is then not read, so NaN
// already in C never reaches the result.
template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                    const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc);

}  // namespace tl
