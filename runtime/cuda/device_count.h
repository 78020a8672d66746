// How many GPUs this process can use, without any CUDA header, so that code
// built with or without the CUDA backend can ask (a CPU-only build answers 0:
// runtime/cuda_stubs.cpp).
#pragma once

#include <string>

namespace tl::cuda {

// Number of usable GPUs; 0 when the driver is missing or too old (the
// runtime then returns an error rather than 0: any error means "no GPU").
int device_count();
// Why device_count() is 0, in words (e.g. "CUDA driver version is insufficient").
std::string no_device_reason();

}  // namespace tl::cuda
