// Plain reference for GEMM (kernels/reference/gemm.h):
//
//   C(i, j) = alpha * sum over p of op(A)(i, p) * op(B)(p, j)  +  beta * C(i, j)
//
// where op(A)(i, p) is a[i * lda + p], or a[p * lda + i] when transposed
// (and likewise for B). One double accumulator per element, rounded once.
#include "kernels/reference/gemm.h"

namespace tl {

template <typename T>
void gemm_reference(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                    const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double a_ip = trans_a ? a[p * lda + i] : a[i * lda + p];
        const double b_pj = trans_b ? b[j * ldb + p] : b[p * ldb + j];
        sum += a_ip * b_pj;
      }
      double result = static_cast<double>(alpha) * sum;
      // beta == 0: C is write-only (the BLAS convention), even if it holds NaN.
      if (beta != T(0)) result += static_cast<double>(beta) * static_cast<double>(c[i * ldc + j]);
      c[i * ldc + j] = static_cast<T>(result);
    }
}

template void gemm_reference<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*,
                                    int64_t, const float*, int64_t, float, float*, int64_t);
template void gemm_reference<double>(bool, bool, int64_t, int64_t, int64_t, double,
                                     const double*, int64_t, const double*, int64_t, double,
                                     double*, int64_t);

}  // namespace tl
