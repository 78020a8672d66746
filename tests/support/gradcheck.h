// Central-difference gradient checking in double precision, after Caffe's
// GradientChecker.
//
// The op under test is a forward f(inputs) -> output and a backward
// (inputs, dout) -> dinputs, both on double arrays. In the suite these are
// the plain reference kernels of kernels/reference/ (templates instantiated
// for double exactly for this): the gradient checks judge the reference, and
// tests/test_cpu_fast_vs_reference.cpp holds the fast path against it
// (docs/cpu_reference.md). The scalar checked is
// L = sum_i dout_i * out_i with a fixed random dout, so every output element
// contributes. For each input element x_j:
//    numeric_j = (L(x + h e_j) - L(x - h e_j)) / 2h
// and the analytic gradient must satisfy
//    |analytic - numeric| <= atol + rtol * max(|analytic|, |numeric|).
// Kinks (ReLU at 0, a max-pool tie) make the central difference meaningless;
// an element whose two one-sided differences disagree is counted as a kink
// and skipped, and the check fails if more than `max_kink_fraction` of the
// elements are skipped (so a broken backward cannot hide behind "kinks").
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace tl::test {

using Buffers = std::vector<std::vector<double>>;
using ForwardFn = std::function<std::vector<double>(const Buffers& inputs)>;
using BackwardFn = std::function<Buffers(const Buffers& inputs, const std::vector<double>& dout)>;

struct GradCheckOptions {
  double step = 1e-5;   // h: truncation error O(h^2) ~ 1e-10, rounding ~1e-16/h ~ 1e-11
  double atol = 1e-6;   // absolute floor for gradients that are ~0
  double rtol = 1e-5;   // double-precision analytic vs numeric, relative
  double max_kink_fraction = 0.02;
  std::vector<bool> check;  // which inputs to check (default: all)
  uint64_t seed = 1234;     // for dout
};

::testing::AssertionResult gradcheck(const ForwardFn& forward, const BackwardFn& backward,
                                     const Buffers& inputs, const GradCheckOptions& options = {});

// Uniform values in [lo, hi) from a fixed seed (std::mt19937_64).
std::vector<double> random_doubles(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0);
std::vector<float> random_floats(size_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f);

}  // namespace tl::test
