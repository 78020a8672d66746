// Byte copies between host and device memory. Implemented by the CUDA
// backend (runtime/cuda/); a CPU-only build throws a clear error instead.
#pragma once

#include <cstddef>

namespace tl {

namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h
}  // namespace cuda

// Blocking copies (the legacy default stream; see runtime/cuda/cuda_state.cpp):
// they return once the bytes have arrived, after all queued work.
void copy_host_to_device(void* dst, const void* src, size_t bytes);
void copy_device_to_host(void* dst, const void* src, size_t bytes);

// Queued on the CudaState's stream like a kernel: the host does not wait, so
// a training step made of these and kernels never stalls the CPU.
void copy_device_to_device(cuda::CudaState& gpu, void* dst, const void* src, size_t bytes);
void fill_device_bytes(cuda::CudaState& gpu, void* dst, unsigned char value, size_t bytes);
// A host -> device copy queued the same way, through the CudaState's pinned
// staging ring (runtime/cuda/staged_upload.h): src may be reused at once.
void queue_host_to_device(cuda::CudaState& gpu, void* dst, const void* src, size_t bytes);

}  // namespace tl
