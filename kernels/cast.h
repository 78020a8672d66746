// float32 <-> bfloat16 conversions of whole tensors (runtime/bf16.h has the
// rounding: to nearest, ties to even), and the one bf16 arithmetic kernel
// the engine itself needs: the sum of two bf16 gradients of one tensor.
// The CPU twins of the conversions are runtime/bf16.h's float_to_bf16_cpu
// and bf16_to_float_cpu; bf16 values travel as their uint16_t bit patterns.
#pragma once

#include <cstdint>

namespace tl {

// y = round_to_bf16(float(a) + float(b)): the sum in float32, rounded once,
// as a native bf16 kernel computes it.
void add_bf16_cpu(uint16_t* y, const uint16_t* a, const uint16_t* b, int64_t n);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launchers (kernels/cast.cu; a CPU-only build has stubs that throw:
// kernels/cuda_stubs.cpp), on the CudaState's stream, bit-identical to the
// CPU functions.
void float_to_bf16_cuda(cuda::CudaState& gpu, uint16_t* y, const float* x, int64_t n);
void bf16_to_float_cuda(cuda::CudaState& gpu, float* y, const uint16_t* x, int64_t n);
void add_bf16_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* a, const uint16_t* b,
                   int64_t n);
}  // namespace tl
