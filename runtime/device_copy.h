// Byte copies between host and device memory. Implemented by the CUDA
// backend (runtime/cuda/); a CPU-only build throws a clear error instead.
#pragma once

#include <cstddef>

namespace tl {

void copy_host_to_device(void* dst, const void* src, size_t bytes);
void copy_device_to_host(void* dst, const void* src, size_t bytes);
void copy_device_to_device(void* dst, const void* src, size_t bytes);

}  // namespace tl
