// GEMM: gemm_cpu (BLAS when built with it) and gemm_blocked_cpu (the
// built-in blocked loop) against the plain reference (kernels/reference/gemm.h,
// a triple loop) run in double, for every transpose combination, odd sizes
// that cross the blocked loop's blocks, padded leading dimensions, and
// beta = 0 over a NaN-filled C.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/reference/gemm.h"
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

// The stored matrix as doubles, each element replaced by f(element).
template <typename T, typename F>
std::vector<double> as_doubles(const std::vector<T>& v, F f) {
  std::vector<double> d(v.size());
  for (size_t i = 0; i < v.size(); ++i) d[i] = f(static_cast<double>(v[i]));
  return d;
}

// Checks one gemm implementation on one case against the reference run in
// double on the same inputs (exact to double rounding). Error bound: each
// element is a sum of k products, so float rounding is at most ~k * eps
// relative to sum |terms| (the classic dot-product bound), which is the
// reference run on |A|, |B|, |alpha|, |beta|, |C|; 2 k eps leaves room for
// BLAS's different summation order.
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

  auto same = [](double v) { return v; };
  auto magnitude_of = [](double v) { return std::fabs(v); };
  std::vector<double> exact = as_doubles(c0, same), magnitude = as_doubles(c0, magnitude_of);
  gemm_reference<double>(ta, tb, m, n, k, cs.alpha, as_doubles(a, same).data(), lda,
                         as_doubles(b, same).data(), ldb, cs.beta, exact.data(), ldc);
  gemm_reference<double>(ta, tb, m, n, k, std::fabs(cs.alpha), as_doubles(a, magnitude_of).data(),
                         lda, as_doubles(b, magnitude_of).data(), ldb, std::fabs(cs.beta),
                         magnitude.data(), ldc);

  const double eps = std::numeric_limits<T>::epsilon();
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const double got = c[i * ldc + j];
      if (j >= n) {
        if (got != kSentinel)
          return ::testing::AssertionFailure() << "wrote padding C(" << i << ", " << j << ")";
        continue;
      }
      const double want = exact[i * ldc + j];
      const double bound = 2.0 * (k + 2) * eps * magnitude[i * ldc + j] + 1e-300;
      if (!(std::fabs(got - want) <= bound))
        return ::testing::AssertionFailure()
               << "C(" << i << ", " << j << ") = " << got << ", exact " << want << ", bound "
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
    {67, 261, 259, 1.0, 0.0},   // crosses the 64/256/256 blocks of the blocked loop
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
      EXPECT_TRUE(check_gemm<T>(gemm_blocked_cpu<T>, ta, tb, cs, seed)) << "gemm_blocked_cpu";
      // The reference in T itself: padding, beta = 0 over NaN, k = 0.
      EXPECT_TRUE(check_gemm<T>(gemm_reference<T>, ta, tb, cs, seed)) << "gemm_reference";
      seed += 3;
    }
  }
}

TEST(Gemm, AllTransposesFloat) { check_all<float>("float"); }
TEST(Gemm, AllTransposesDouble) { check_all<double>("double"); }

// gemm_cpu and the blocked loop agree closely with each other too (same
// math, different summation order).
TEST(Gemm, BlasMatchesBlockedLoop) {
  const int64_t m = 129, n = 97, k = 300;
  const std::vector<float> a = random_matrix<float>(k, m, 41);  // stored (k, m): trans_a
  const std::vector<float> b = random_matrix<float>(n, k, 42);  // stored (n, k): trans_b
  std::vector<float> c1(m * n, std::nanf("")), c2(m * n, std::nanf(""));
  gemm_cpu<float>(true, true, m, n, k, 1.0f, a.data(), m, b.data(), k, 0.0f, c1.data(), n);
  gemm_blocked_cpu<float>(true, true, m, n, k, 1.0f, a.data(), m, b.data(), k, 0.0f, c2.data(),
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
