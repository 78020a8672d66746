// GEMM on the CPU: C = alpha * op(A) * op(B) + beta * C, row-major (gemm.h).
//
// Two implementations behind one interface:
//  * gemm_cpu: with TL_HAVE_BLAS (CMake found a CBLAS, usually OpenBLAS) one
//    cblas_sgemm / cblas_dgemm call in CblasRowMajor; without it, the loop below.
//  * gemm_blocked_cpu: a cache-blocked loop nest, kept readable. It packs a
//    (KB x NB) block of op(B) into a contiguous buffer so that every transpose
//    combination runs the same unit-stride inner loop, and it is always
//    compiled so the tests can hold it against BLAS and the plain triple loop
//    (kernels/reference/gemm.cpp).
//
// beta == 0 follows the BLAS convention: C is write-only, so NaN or garbage
// already in C (poisoned outputs) never reaches the result.
#include "kernels/gemm.h"

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "runtime/check.h"
#include "runtime/thread_pool.h"

#ifdef TL_HAVE_BLAS
#include <cblas.h>
#endif

namespace tl {

namespace {

// Block sizes of the blocked loop: a 256 x 256 packed block of op(B) is
// 256 KB in float (512 KB in double), about one L2, reused by every row of A;
// a 64-row band of C stays hot while the block's K range is swept.
constexpr int64_t kBlockM = 64;
constexpr int64_t kBlockN = 256;
constexpr int64_t kBlockK = 256;
// Below this many multiply-adds per block, threads cost more than they save.
constexpr int64_t kParallelWork = 1 << 16;

// C = beta * C for an (m, n) matrix, not reading C when beta == 0.
template <typename T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  if (beta == T(1)) return;
  parallel_for(m, m * n > kParallelWork, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      T* row = c + i * ldc;
      if (beta == T(0))
        std::fill_n(row, n, T(0));
      else
        for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  });
}

}  // namespace

template <typename T>
void gemm_blocked_cpu(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha,
                      const T* a, int64_t lda, const T* b, int64_t ldb, T beta, T* c,
                      int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  scale_c(m, n, beta, c, ldc);
  if (k <= 0 || alpha == T(0)) return;

  // op(A)(i, p) and op(B)(p, j) as stored.
  auto a_at = [&](int64_t i, int64_t p) { return trans_a ? a[p * lda + i] : a[i * lda + p]; };
  auto b_at = [&](int64_t p, int64_t j) { return trans_b ? b[j * ldb + p] : b[p * ldb + j]; };

  std::vector<T> packed(static_cast<size_t>(kBlockK * kBlockN));
  for (int64_t j0 = 0; j0 < n; j0 += kBlockN) {
    const int64_t nb = std::min(kBlockN, n - j0);
    for (int64_t p0 = 0; p0 < k; p0 += kBlockK) {
      const int64_t kb = std::min(kBlockK, k - p0);
      // Pack op(B)[p0:p0+kb, j0:j0+nb] row by row: the transpose is paid
      // once here instead of in the inner loop.
      for (int64_t p = 0; p < kb; ++p)
        for (int64_t j = 0; j < nb; ++j) packed[p * nb + j] = b_at(p0 + p, j0 + j);

      // Bands of kBlockM rows of C are independent: split them across threads.
      const int64_t bands = (m + kBlockM - 1) / kBlockM;
      parallel_for(bands, m * nb * kb > kParallelWork, [&](int64_t first, int64_t last) {
        for (int64_t i = first * kBlockM; i < std::min(m, last * kBlockM); ++i) {
          T* c_row = c + i * ldc + j0;
          for (int64_t p = 0; p < kb; ++p) {
            const T a_ip = alpha * a_at(i, p0 + p);
            const T* b_row = packed.data() + p * nb;
            // Unit stride in j on both sides: the compiler vectorises this.
            for (int64_t j = 0; j < nb; ++j) c_row[j] += a_ip * b_row[j];
          }
        }
      });
    }
  }
}

#ifdef TL_HAVE_BLAS
namespace {

// CBLAS takes int sizes; a larger matrix would silently wrap.
int blas_int(int64_t v, const char* what) {
  TL_CHECK(v <= INT_MAX, "gemm_cpu: ", what, " = ", v, " exceeds the BLAS int range");
  return static_cast<int>(v);
}

void blas_gemm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda,
               const float* b, int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void blas_gemm(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda,
               const double* b, int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n,
              k, alpha, a, lda, b, ldb, beta, c, ldc);
}

// One thread pool for the whole CPU backend: tl's (runtime/thread_pool.h).
// OpenBLAS's own pool (the pthread build Debian installs by default) and
// tl's threads would otherwise take turns on the same cores, each spinning
// while the other works (measured with OpenMP: 2-3x slower convolutions on
// 2 cores). So BLAS runs single-threaded inside each of tl's threads, and a
// large GEMM is split here into one slice of C per thread: rows of C (rows
// of op(A)) when M is the larger side, columns of C (columns of op(B))
// otherwise.
void make_blas_single_threaded() {
#ifdef OPENBLAS_VERSION
  static const bool done = (openblas_set_num_threads(1), true);  // once per process
  (void)done;
#endif
}

// Below this many multiply-adds a GEMM runs on one thread.
constexpr double kParallelGemmWork = 1 << 20;

template <typename T>
void run_blas_gemm_parallel(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                            int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  make_blas_single_threaded();
  int64_t threads = 1;
  if (!in_parallel_region() && double(m) * double(n) * double(k) >= kParallelGemmWork)
    threads = cpu_threads();
  const bool split_rows = m >= n;
  const int64_t extent = split_rows ? m : n;
  threads = std::min<int64_t>(threads, extent);
  // Every size checked before the threads start.
  const int m_int = blas_int(m, "m"), n_int = blas_int(n, "n"), k_int = blas_int(k, "k");
  const int lda_int = blas_int(lda, "lda"), ldb_int = blas_int(ldb, "ldb"), ldc_int = blas_int(ldc, "ldc");
  parallel_parts(threads, [&](int64_t t) {
    const int64_t begin = extent * t / threads, end = extent * (t + 1) / threads;
    if (split_rows) {
      // Rows [begin, end) of op(A): rows of A, or columns of A when transposed.
      const T* a_slice = ta ? a + begin : a + begin * lda;
      blas_gemm(ta, tb, static_cast<int>(end - begin), n_int, k_int, alpha, a_slice, lda_int,
                b, ldb_int, beta, c + begin * ldc, ldc_int);
    } else {
      // Columns [begin, end) of op(B): columns of B, or rows of B when transposed.
      const T* b_slice = tb ? b + begin * ldb : b + begin;
      blas_gemm(ta, tb, m_int, static_cast<int>(end - begin), k_int, alpha, a, lda_int,
                b_slice, ldb_int, beta, c + begin, ldc_int);
    }
  });
}

}  // namespace
#endif

template <typename T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
              int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
#ifdef TL_HAVE_BLAS
  // k == 0 is legal (C = beta * C) but BLAS rejects the then-degenerate
  // leading dimensions of A and B; do it here.
  if (k <= 0) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  run_blas_gemm_parallel(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#else
  gemm_blocked_cpu(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
#endif
}

const char* gemm_backend_name() {
#if defined(TL_HAVE_BLAS) && defined(OPENBLAS_VERSION)
  // The kernel set OpenBLAS chose for this CPU matters more than its version:
  // 0.3.21 does not know recent Xeons (Emerald Rapids, model 207) and falls
  // back to SSE3 "Prescott" kernels, 4x slower than its AVX-512 "SkylakeX"
  // ones; OPENBLAS_CORETYPE=SkylakeX in the environment overrides the choice.
  static const std::string name =
      std::string("OpenBLAS (cblas, ") + openblas_get_corename() + " kernels)";
  return name.c_str();
#elif defined(TL_HAVE_BLAS)
  return "CBLAS";
#else
  return "built-in blocked loop";
#endif
}

#define TL_INSTANTIATE(T)                                                                   \
  template void gemm_cpu<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*, int64_t,   \
                            const T*, int64_t, T, T*, int64_t);                             \
  template void gemm_blocked_cpu<T>(bool, bool, int64_t, int64_t, int64_t, T, const T*,    \
                                    int64_t, const T*, int64_t, T, T*, int64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
