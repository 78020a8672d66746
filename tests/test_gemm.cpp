// GEMM: gemm_cpu (BLAS when built with it) and gemm_reference_cpu (the
// blocked loop) against a naive triple loop in double, for every transpose
// combination, odd sizes that cross the reference loop's blocks, padded
// leading dimensions, and beta = 0 over a NaN-filled C.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "tests/support/gradcheck.h"

namespace tl::test {
namespace {

// Padding columns of C beyond n: a GEMM must never write them.
constexpr double kSentinel = 12345.0;

template <typename T>
std::vector<T> random_matrix(int64_t rows, int64_t ld, uint64_t seed) {
  const std::vector<double> d = random_doubles(static_cast<size_t>(rows * ld), seed);
  return std::vector<T>(d.begin(), d.end());
}

struct Case {
  int64_t m, n, k;
  double alpha, beta;
};

// Checks one gemm implementation on one case against the exact product.
// Error bound: each element is a sum of k products, so float rounding is at
// most ~k * eps relative to sum |terms| (the classic dot-product bound);
// 2 k eps leaves room for BLAS's different summation order.
template <typename T, typename Gemm>
::testing::AssertionResult check_gemm(Gemm gemm, bool ta, bool tb, const Case& cs, uint64_t seed) {
  const int64_t m = cs.m, n = cs.n, k = cs.k;
  // Stored shapes with extra padding columns so lda/ldb/ldc != logical width.
  const int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, lda = a_cols + 3;
  const int64_t b_rows = tb ? n : k, b_cols = tb ? k : n, ldb = b_cols + 2;
  const int64_t ldc = n + 5;
  const std::vector<T> a = random_matrix<T>(a_rows, lda, seed);
  const std::vector<T> b = random_matrix<T>(b_rows, ldb, seed + 1);
  std::vector<T> c = random_matrix<T>(m, ldc, seed + 2);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      T& v = c[i * ldc + j];
      if (j >= n) v = T(kSentinel);
      else if (cs.beta == 0) v = std::numeric_limits<T>::quiet_NaN();  // must not be read
    }
  }
  const std::vector<T> c0 = c;
  gemm(ta, tb, m, n, k, T(cs.alpha), a.data(), lda, b.data(), ldb, T(cs.beta), c.data(), ldc);

  const double eps = std::numeric_limits<T>::epsilon();
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const double got = c[i * ldc + j];
      if (j >= n) {
        if (got != kSentinel)
          return ::testing::AssertionFailure() << "wrote padding C(" << i << ", " << j << ")";
        continue;
      }
      double exact = 0, magnitude = 0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = ta ? a[p * lda + i] : a[i * lda + p];
        const double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        exact += av * bv;
        magnitude += std::fabs(av * bv);
      }
      exact *= cs.alpha;
      magnitude *= std::fabs(cs.alpha);
      if (cs.beta != 0) {
        exact += cs.beta * double(c0[i * ldc + j]);
        magnitude += std::fabs(cs.beta * double(c0[i * ldc + j]));
      }
      const double bound = 2.0 * (k + 2) * eps * magnitude + 1e-300;
      if (!(std::fabs(got - exact) <= bound))
        return ::testing::AssertionFailure()
               << "C(" << i << ", " << j << ") = " << got << ", exact " << exact << ", bound "
               << bound << " (m=" << m << " n=" << n << " k=" << k << " ta=" << ta
               << " tb=" << tb << " beta=" << cs.beta << ")";
    }
  }
  return ::testing::AssertionSuccess();
}

const std::vector<Case> kCases = {
    {1, 1, 1, 1.0, 0.0},
    {37, 29, 53, 0.75, 0.0},    // odd sizes, C is NaN
    {37, 29, 53, -1.25, 1.0},   // accumulate
    {13, 70, 9, 0.5, -0.5},     // general beta
    {67, 261, 259, 1.0, 0.0},   // crosses the 64/256/256 blocks of the reference loop
    {67, 261, 259, 0.3, 2.0},
    {5, 7, 0, 1.0, 0.0},        // k = 0: C = beta * C, here all zeros despite NaN
    {5, 7, 0, 1.0, -2.0},
};

template <typename T>
void check_all(const char* type) {
  std::cout << "gemm backend: " << gemm_backend_name() << "\n";
  uint64_t seed = 1;
  for (const Case& cs : kCases) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      SCOPED_TRACE(std::string(type) + " m=" + std::to_string(cs.m) + " n=" +
                   std::to_string(cs.n) + " k=" + std::to_string(cs.k) +
                   " ta=" + std::to_string(ta) + " tb=" + std::to_string(tb));
      EXPECT_TRUE(check_gemm<T>(gemm_cpu<T>, ta, tb, cs, seed)) << "gemm_cpu";
      EXPECT_TRUE(check_gemm<T>(gemm_reference_cpu<T>, ta, tb, cs, seed)) << "gemm_reference_cpu";
      seed += 3;
    }
  }
}

TEST(Gemm, AllTransposesFloat) { check_all<float>("float"); }
TEST(Gemm, AllTransposesDouble) { check_all<double>("double"); }

// gemm_cpu and the reference loop agree closely with each other too (same
// math, different summation order).
TEST(Gemm, BlasMatchesReferenceLoop) {
  const int64_t m = 129, n = 97, k = 300;
  const std::vector<float> a = random_matrix<float>(k, m, 41);  // stored (k, m): trans_a
  const std::vector<float> b = random_matrix<float>(n, k, 42);  // stored (n, k): trans_b
  std::vector<float> c1(m * n, std::nanf("")), c2(m * n, std::nanf(""));
  gemm_cpu<float>(true, true, m, n, k, 1.0f, a.data(), m, b.data(), k, 0.0f, c1.data(), n);
  gemm_reference_cpu<float>(true, true, m, n, k, 1.0f, a.data(), m, b.data(), k, 0.0f, c2.data(),
                            n);
  double worst = 0;
  for (size_t i = 0; i < c1.size(); ++i) {
    ASSERT_TRUE(std::isfinite(c1[i]) && std::isfinite(c2[i])) << "element " << i;
    worst = std::max(worst, double(std::fabs(c1[i] - c2[i])));
  }
  // |c| ~ sqrt(k/9) ~ 6, float sums of 300 terms: a few 1e-6 apart at most.
  EXPECT_LT(worst, 1e-4) << "backend " << gemm_backend_name();
}

TEST(Gemm, BackendName) {
  const std::string name = gemm_backend_name();
  EXPECT_FALSE(name.empty());
#ifdef TL_HAVE_BLAS
  EXPECT_EQ(name.find("built-in"), std::string::npos) << name;
#else
  EXPECT_EQ(name, "built-in blocked loop");
#endif
}

}  // namespace
}  // namespace tl::test
