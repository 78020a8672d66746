// Helpers shared by the engine/ops_*.cpp files (not part of the public API).
#pragma once

#include <string>

#include "engine/context.h"
#include "engine/tensor.h"

namespace tl::ops::detail {

// Checks that every defined tensor lives on the Context's device.
void check_device(const Context& ctx, const char* op, std::initializer_list<const Tensor*> tensors);
// Checks a float32 tensor of the given rank, naming the op and the argument.
void check_float(const Tensor& t, const char* op, const char* arg, int64_t rank);
// `required` ? a new tensor shaped like `like` on ctx's device : undefined.
Tensor maybe_empty(const Context& ctx, bool required, const Tensor& like);
// Raw pointer of an optional tensor (null when undefined).
inline float* ptr_or_null(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

}  // namespace tl::ops::detail
