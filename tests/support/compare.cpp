#include "tests/support/compare.h"

#include <cmath>
#include <sstream>

namespace tl::test {

CloseReport compare_close(const std::vector<float>& actual, const std::vector<float>& expected,
                          Tolerance tol) {
  CloseReport r;
  if (actual.size() != expected.size()) {
    r.ok = false;
    r.message = "sizes differ: " + std::to_string(actual.size()) + " vs " +
                std::to_string(expected.size());
    return r;
  }
  double worst_excess = -1;
  for (size_t i = 0; i < actual.size(); ++i) {
    const double a = actual[i], e = expected[i];
    if (!std::isfinite(a)) {
      ++r.non_finite;
      ++r.failures;
      if (r.worst < 0 || worst_excess < 1e300) r.worst = static_cast<int64_t>(i), worst_excess = 1e300;
      continue;
    }
    const double diff = std::fabs(a - e);
    const double bound = tol.atol + tol.rtol * std::fabs(e);
    r.max_abs = std::max(r.max_abs, diff);
    if (std::fabs(e) > 0) r.max_rel = std::max(r.max_rel, diff / std::fabs(e));
    if (!(diff <= bound)) {
      ++r.failures;
      if (diff - bound > worst_excess) worst_excess = diff - bound, r.worst = static_cast<int64_t>(i);
    }
  }
  r.ok = r.failures == 0;
  std::ostringstream os;
  os << "max_abs=" << r.max_abs << " max_rel=" << r.max_rel << " (atol=" << tol.atol
     << " rtol=" << tol.rtol << ")";
  if (!r.ok) {
    os << "; " << r.failures << " of " << actual.size() << " elements out of tolerance ("
       << r.non_finite << " not finite); worst at index " << r.worst << ": actual "
       << actual[r.worst] << " expected " << expected[r.worst];
  }
  r.message = os.str();
  return r;
}

::testing::AssertionResult all_close(const std::vector<float>& actual,
                                     const std::vector<float>& expected, Tolerance tol,
                                     const std::string& what) {
  const CloseReport r = compare_close(actual, expected, tol);
  if (r.ok) return ::testing::AssertionSuccess() << what << ": " << r.message;
  return ::testing::AssertionFailure() << what << ": " << r.message;
}

::testing::AssertionResult all_close(const Tensor& actual, const Tensor& expected, Tolerance tol,
                                     const std::string& what) {
  if (!actual.defined() || !expected.defined())
    return ::testing::AssertionFailure() << what << ": undefined tensor";
  if (actual.shape() != expected.shape())
    return ::testing::AssertionFailure() << what << ": shape " << shape_str(actual.shape())
                                         << " vs expected " << shape_str(expected.shape());
  return all_close(actual.to_vector(), expected.to_vector(), tol, what);
}

}  // namespace tl::test
