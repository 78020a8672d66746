// Shared by the CUDA-vs-CPU tests (tests/gpu/test_cuda_*.cpp): random
// inputs, bitwise comparison, and the tolerance for kernels that are
// bit-identical to the CPU by construction.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"

namespace tl::test {

// Several CUDA kernels replay the CPU's float expressions with explicitly
// rounded intrinsics, so they match bit for bit, PROVIDED the host compiler
// did not fuse the CPU's a * b + c into an FMA. GCC may (it contracts by
// default) only where FMA instructions exist: never on baseline x86-64 (how
// tl builds), always on aarch64. There, allow a few float ulps instead.
#if defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
constexpr bool kHostMayContract = true;
#else
constexpr bool kHostMayContract = false;
#endif

// Uniform floats in [lo, hi) from a fixed seed, as a host tensor.
inline Tensor random_tensor(const Shape& shape, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  return Tensor::from_vector(shape,
                             random_floats(static_cast<size_t>(shape_numel(shape)), seed, lo, hi));
}

// Every element has the same bits (so -0 != +0 and NaN payloads count).
inline ::testing::AssertionResult bit_identical(const Tensor& actual, const Tensor& expected,
                                                const std::string& what) {
  if (!actual.defined() || !expected.defined())
    return ::testing::AssertionFailure() << what << ": undefined tensor";
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << what << ": shape " << shape_str(actual.shape())
                                         << " vs expected " << shape_str(expected.shape());
  const std::vector<float> a = actual.to_vector(), e = expected.to_vector();
  int64_t mismatches = 0, first = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &e[i], sizeof(float)) != 0) {
      if (first < 0) first = static_cast<int64_t>(i);
      ++mismatches;
    }
  }
  if (mismatches == 0)
    return ::testing::AssertionSuccess() << what << ": " << a.size() << " elements bit-identical";
  return ::testing::AssertionFailure()
         << what << ": " << mismatches << " of " << a.size()
         << " elements differ in their bits; first at index " << first << ": actual "
         << a[first] << " expected " << e[first];
}

// For the kernels that are bit-identical by construction: bitwise equality,
// or (on a host that contracts, see kHostMayContract) |diff| <= a few ulps.
inline ::testing::AssertionResult matches_cpu_exactly(const Tensor& actual, const Tensor& expected,
                                                      const std::string& what) {
  // 4 ulps relative, plus a floor for values that cancel to ~0.
  constexpr Tolerance kContractedTol{1e-6, 5e-7};
  if (kHostMayContract) return all_close(actual, expected, kContractedTol, what);
  return bit_identical(actual, expected, what);
}

}  // namespace tl::test
