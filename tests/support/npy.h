// A minimal reader for NumPy .npy files (format 1.0/2.0/3.0, little-endian,
// C order): how the PyTorch reference script hands tensors to the tests.
#pragma once

#include <string>

#include "engine/tensor.h"

namespace tl::test {

// float32 -> F32; float64 -> F32 (converted); int64/int32 -> I32; uint8 -> U8.
// Throws tl::Error naming the file on anything else.
Tensor load_npy(const std::string& path);

// The directory the reference script wrote (TL_REFERENCE_DIR at build time).
std::string reference_dir();

// Loads <reference_dir>/<case_name>/<tensor_name>.npy. A missing file is a
// test FAILURE (via tl::Error) that says how to produce it, never a skip.
Tensor load_reference(const std::string& case_name, const std::string& tensor_name);

}  // namespace tl::test
