// Checks on the values a file hands us, for files that reach a model:
// checkpoints (weights/checkpoint.h) and Keras weight files
// (weights/model_weights.h). A NaN or an infinity in a weight never trains
// back to a number, and a negative variance makes sqrt(var + eps) NaN, so
// either is refused at load time, naming the tensor, instead of showing up
// later as a NaN loss (or, worse, as finite but wrong outputs).
#pragma once

#include <cstddef>
#include <string>

namespace tl {

// "" when every value is finite (and, with must_be_non_negative, >= 0);
// otherwise the first problem, for a message that names the tensor:
//   "holds NaN at index 17 (and 3 more non-finite values)"
//   "holds -0.5 at index 3, but a variance cannot be negative"
std::string value_problem(const float* values, size_t count, bool must_be_non_negative);

// BN statistics that are variances (Keras "moving_variance", and Keras 1's
// "running_std", which held the variance despite its name).
bool is_variance_name(const std::string& tensor_name);

}  // namespace tl
