// Shapes and element types. A shape is a small vector of extents, outermost
// first; activations are NHWC (channels last), so a batch of feature maps is
// (N, H, W, C) and element (n, y, x, c) sits at ((n*H + y)*W + x)*C + c.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace tl {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
std::string shape_str(const Shape& shape);  // "(2, 3, 4)"

// BF16: bfloat16 (runtime/bf16.h), for reduced-precision copies of
// activations and weights on the GPU; master weights stay F32.
enum class DType { F32, I32, U8, BF16 };
size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);

enum class Device { CPU, CUDA };
const char* device_name(Device device);

}  // namespace tl
