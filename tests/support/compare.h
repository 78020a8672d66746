// Comparing tensors with an explicit tolerance: |a - b| <= atol + rtol * |ref|
// elementwise. Every check in the suite states its atol/rtol beside it with
// the reason. NaN or inf in the actual values always fails (outputs are
// poisoned with NaN, so an unwritten element shows up here).
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace tl::test {

struct Tolerance {
  double atol;
  double rtol;
};

// Statistics of one comparison, for messages and closing notes.
struct CloseReport {
  bool ok = true;
  double max_abs = 0, max_rel = 0;
  int64_t worst = -1, failures = 0, non_finite = 0;
  std::string message;
};
CloseReport compare_close(const std::vector<float>& actual, const std::vector<float>& expected,
                          Tolerance tol);

// gtest assertion form: EXPECT_TRUE(all_close(...)).
::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol,
                                     const std::string& what);
::testing::AssertionResult all_close(const std::vector<float>& actual,
                                     const std::vector<float>& expected, Tolerance tol,
                                     const std::string& what);

}  // namespace tl::test
