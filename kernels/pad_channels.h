// Zero channels appended to NHWC data, and the gradient's way back: the
// stem's 3-channel image padded to 8 channels so that its bf16 convolution
// can run on the tensor cores, which want channel counts that are multiples
// of 8 (engine/ops_conv.cpp). The padded channels multiply zero weights, so
// the convolution's value is unchanged; only its summation order may be.
//
// Data movement only: every element is copied or zeroed, never computed, so
// one template serves float32 and bfloat16 (uint16_t bit patterns) alike.
#pragma once

#include <cstdint>

namespace tl {

// x (rows, c_in) -> y (rows, c_out), c_out >= c_in: y[r, c] = x[r, c] for
// c < c_in, 0 after.
template <typename T>
void pad_channels_cpu(T* y, const T* x, int64_t rows, int64_t c_in, int64_t c_out);
// The backward: dx (rows, c_in) = the first c_in channels of dy (rows, c_out).
template <typename T>
void unpad_channels_cpu(T* dx, const T* dy, int64_t rows, int64_t c_in, int64_t c_out);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launchers (kernels/pad_channels.cu; a CPU-only build has stubs that
// throw: kernels/cuda_stubs.cpp), on the CudaState's stream.
void pad_channels_cuda(cuda::CudaState& gpu, float* y, const float* x, int64_t rows, int64_t c_in,
                       int64_t c_out);
void pad_channels_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* x, int64_t rows,
                       int64_t c_in, int64_t c_out);
void unpad_channels_cuda(cuda::CudaState& gpu, float* dx, const float* dy, int64_t rows,
                         int64_t c_in, int64_t c_out);
void unpad_channels_cuda(cuda::CudaState& gpu, uint16_t* dx, const uint16_t* dy, int64_t rows,
                         int64_t c_in, int64_t c_out);
}  // namespace tl
