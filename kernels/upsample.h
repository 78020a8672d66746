// Bilinear upsampling (or downsampling), NHWC, half-pixel centres: the
// align_corners=False convention of PyTorch's F.interpolate and Keras's
// UpSampling2D(interpolation="bilinear"). Output pixel (oy, ox) samples the
// input at sy = (oy + 0.5) * in_h / out_h - 0.5 (clamped below at 0), and
// mixes the 2x2 neighbours with the usual bilinear weights.
#pragma once

#include <cstdint>

namespace tl {

struct UpsampleGeometry {
  int64_t batch = 0, in_h = 0, in_w = 0, channels = 0;
  int64_t out_h = 0, out_w = 0;
};

// The source index pair and weight of the second one for output index `o`
// along one axis: value = (1 - lambda) * in[i0] + lambda * in[i1]. One type
// for the CPU reference, the CUDA kernels (kernels/bilinear_tap.cuh computes
// the same taps on the device), the data pipeline's image resize and the
// kernel lab. 32-bit indices: an axis of 2^31 pixels is far beyond any
// tensor tl can hold, and the CUDA kernels' tap tables stay 12 bytes a tap.
struct BilinearTap {
  int32_t i0, i1;
  float lambda;
};
BilinearTap bilinear_tap(int64_t o, int64_t in_size, int64_t out_size);

// y: (N, OH, OW, C); x: (N, H, W, C).
template <typename T>
void upsample_bilinear_forward_cpu(T* y, const T* x, const UpsampleGeometry& g);
// dx: (N, H, W, C), overwritten: each dy is spread back with the same weights.
template <typename T>
void upsample_bilinear_backward_cpu(T* dx, const T* dy, const UpsampleGeometry& g);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launchers (kernels/upsample.cu; a CPU-only build has
// stubs that throw: kernels/cuda_stubs.cpp), float32, on the CudaState's stream;
// bit-identical to the CPU functions above (device pointers).
void upsample_bilinear_forward_cuda(cuda::CudaState& gpu, float* y, const float* x,
                                    const UpsampleGeometry& g);
void upsample_bilinear_backward_cuda(cuda::CudaState& gpu, float* dx, const float* dy,
                                     const UpsampleGeometry& g);
}  // namespace tl
