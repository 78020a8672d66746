// The input pipeline's first kernel: uint8 RGB images -> bilinear resize to
// the model's resolution -> Keras 'caffe' preprocessing (RGB -> BGR, minus
// the ImageNet channel means [103.939, 116.779, 123.68] in B, G, R order, no
// scaling). Both steps are linear, so one pass does them together and reads
// each 32x32 source image once.
#pragma once

#include <cstdint>

namespace tl {

// The ImageNet means, in B, G, R order, as Keras subtracts them.
constexpr float kCaffeMeanBGR[3] = {103.939f, 116.779f, 123.68f};

// y: (N, OH, OW, 3) float, BGR minus mean; x: (N, H, W, 3) uint8 RGB.
void preprocess_caffe_cpu(float* y, const uint8_t* x, int64_t batch, int64_t in_h, int64_t in_w,
                          int64_t out_h, int64_t out_w);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launcher (kernels/preprocess.cu; a CPU-only build has
// stubs that throw: kernels/cuda_stubs.cpp), on the CudaState's stream;
// bit-identical to preprocess_caffe_cpu (device pointers).
void preprocess_caffe_cuda(cuda::CudaState& gpu, float* y, const uint8_t* x, int64_t batch, int64_t in_h,
                           int64_t in_w, int64_t out_h, int64_t out_w);
}  // namespace tl
