#include "tests/support/gradcheck.h"

#include <cmath>
#include <random>
#include <sstream>

namespace tl::test {

std::vector<double> random_doubles(size_t n, uint64_t seed, double lo, double hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = dist(rng);
  return v;
}

std::vector<float> random_floats(size_t n, uint64_t seed, float lo, float hi) {
  std::vector<double> d = random_doubles(n, seed, lo, hi);
  return std::vector<float>(d.begin(), d.end());
}

::testing::AssertionResult gradcheck(const ForwardFn& forward, const BackwardFn& backward,
                                     const Buffers& inputs, const GradCheckOptions& options) {
  const std::vector<double> out = forward(inputs);
  const std::vector<double> dout = random_doubles(out.size(), options.seed);
  auto loss = [&](const Buffers& x) {
    const std::vector<double> y = forward(x);
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += dout[i] * y[i];
    return l;
  };
  const double l0 = loss(inputs);
  const Buffers analytic = backward(inputs, dout);
  if (analytic.size() != inputs.size())
    return ::testing::AssertionFailure() << "backward returned " << analytic.size()
                                         << " gradients for " << inputs.size() << " inputs";

  Buffers x = inputs;
  int64_t checked = 0, kinks = 0, failures = 0;
  double max_err = 0;
  std::ostringstream first_failures;
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!options.check.empty() && !options.check[k]) continue;
    if (analytic[k].size() != inputs[k].size())
      return ::testing::AssertionFailure() << "gradient " << k << " has " << analytic[k].size()
                                           << " elements, input has " << inputs[k].size();
    for (size_t j = 0; j < inputs[k].size(); ++j) {
      const double h = options.step;
      x[k][j] = inputs[k][j] + h;
      const double lp = loss(x);
      x[k][j] = inputs[k][j] - h;
      const double lm = loss(x);
      x[k][j] = inputs[k][j];
      const double numeric = (lp - lm) / (2 * h);
      const double forward_diff = (lp - l0) / h, backward_diff = (l0 - lm) / h;
      ++checked;
      // One-sided slopes that disagree by far more than O(h) curvature: a kink.
      if (std::fabs(forward_diff - backward_diff) >
          1e-3 * (1 + std::fabs(forward_diff) + std::fabs(backward_diff))) {
        ++kinks;
        continue;
      }
      const double a = analytic[k][j];
      const double err = std::fabs(a - numeric);
      const double bound = options.atol + options.rtol * std::max(std::fabs(a), std::fabs(numeric));
      max_err = std::max(max_err, err);
      if (!(err <= bound)) {
        if (failures < 5)
          first_failures << "\n  input " << k << " element " << j << ": analytic " << a
                         << " numeric " << numeric << " (bound " << bound << ")";
        ++failures;
      }
    }
  }
  if (checked == 0) return ::testing::AssertionFailure() << "gradcheck checked no element";
  if (failures > 0)
    return ::testing::AssertionFailure() << failures << " of " << checked
                                         << " gradient elements wrong:" << first_failures.str();
  if (kinks > options.max_kink_fraction * checked)
    return ::testing::AssertionFailure() << kinks << " of " << checked
                                         << " elements sit on a kink: too many to trust";
  return ::testing::AssertionSuccess() << checked << " elements checked, " << kinks
                                       << " kinks skipped, max abs error " << max_err;
}

}  // namespace tl::test
