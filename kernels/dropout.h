// Inverted dropout: y = x * keep / (1 - rate), keep = (u >= rate) with
// u = philox_uniform_at(seed, stream, i) (runtime/philox.h). The mask is never
// stored: the backward draws it again from the same (seed, stream), and the
// CUDA kernel draws the very same bits.
#pragma once

#include <cstdint>

namespace tl {

// True when element i is kept.
bool dropout_keep(uint64_t seed, uint64_t stream, uint64_t i, float rate);

template <typename T>
void dropout_forward_cpu(T* y, const T* x, int64_t n, float rate, uint64_t seed, uint64_t stream);
// dx = dy * keep / (1 - rate)
template <typename T>
void dropout_backward_cpu(T* dx, const T* dy, int64_t n, float rate, uint64_t seed,
                          uint64_t stream);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launchers (kernels/dropout.cu; a CPU-only build has
// stubs that throw: kernels/cuda_stubs.cpp), float32, on the CudaState's stream: the
// same mask, bit for bit, as the CPU functions above.
// `stream_base`, when not null, is device memory holding a number the kernel
// adds to `stream` as it runs: in a captured CUDA graph the step's stream
// position is written there before each replay (engine/step_capture.h).
void dropout_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, int64_t n, float rate,
                          uint64_t seed, uint64_t stream, const uint64_t* stream_base = nullptr);
void dropout_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy, int64_t n, float rate,
                           uint64_t seed, uint64_t stream, const uint64_t* stream_base = nullptr);
}  // namespace tl
