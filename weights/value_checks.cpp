#include "weights/value_checks.h"

#include <cmath>
#include <sstream>

namespace tl {
namespace {

// NaN as "NaN" (printf's "nan" reads like a word); inf and numbers as C++ prints them.
std::string format_value(float v) {
  if (std::isnan(v)) return "NaN";
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

std::string value_problem(const float* values, size_t count, bool must_be_non_negative) {
  size_t first_non_finite = count, non_finite = 0;
  for (size_t i = 0; i < count; ++i)
    if (!std::isfinite(values[i])) {
      if (non_finite++ == 0) first_non_finite = i;
    }
  if (non_finite > 0) {
    std::string s = "holds " + format_value(values[first_non_finite]) + " at index " +
                    std::to_string(first_non_finite);
    if (non_finite > 1) s += " (and " + std::to_string(non_finite - 1) + " more non-finite values)";
    return s;
  }
  if (must_be_non_negative)
    for (size_t i = 0; i < count; ++i)
      if (values[i] < 0.0f)
        return "holds " + format_value(values[i]) + " at index " + std::to_string(i) +
               ", but a variance cannot be negative";
  return "";
}

bool is_variance_name(const std::string& tensor_name) {
  for (const std::string suffix : {"moving_variance", "running_std"})
    if (tensor_name.size() >= suffix.size() &&
        tensor_name.compare(tensor_name.size() - suffix.size(), suffix.size(), suffix) == 0)
      return true;
  return false;
}

}  // namespace tl
