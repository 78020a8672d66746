// CUDA fused input pipeline (same contract as kernels/preprocess.cpp):
// uint8 RGB (N, H, W, 3) -> bilinear resize with half-pixel centres ->
// BGR minus the ImageNet means, float (N, OH, OW, 3).
//
// Launch shape: one thread per OUTPUT pixel, which computes its two taps
// (kernels/bilinear_tap.cuh: the CPU's double arithmetic, bit for bit), reads
// the 2x2 source pixels' 3 bytes each (a 32x32x3 source image is 3 KB, so
// these reads hit L1 after the first warp), and writes its 3 floats.
// Consecutive threads write consecutive 12-byte pixels, so the stores (the
// only DRAM traffic that matters: 12 bytes per output pixel against
// 3 / (upsampling factor)^2 bytes read) coalesce into full lines. The
// arithmetic is the CPU's expression in the CPU's order, rounded step by
// step (kernels/exact_math.cuh: no FMA contraction): bit-identical output.
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "kernels/bilinear_tap.cuh"
#include "kernels/channel_tiling.cuh"
#include "kernels/exact_math.cuh"
#include "kernels/preprocess.h"

namespace tl {
namespace {

using cuda::add_exact;
using cuda::mul_exact;
using cuda::sub_exact;

__global__ void __launch_bounds__(cuda::kBlockThreads)
    preprocess_caffe_kernel(float* __restrict__ y, const uint8_t* __restrict__ x, int64_t batch,
                            int64_t in_h, int64_t in_w, int64_t out_h, int64_t out_w) {
  // The means in B, G, R order (kCaffeMeanBGR), as device constants.
  constexpr float kMean0 = kCaffeMeanBGR[0], kMean1 = kCaffeMeanBGR[1], kMean2 = kCaffeMeanBGR[2];
  const int64_t total = batch * out_h * out_w;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ox = i % out_w;
    const int64_t t = i / out_w;
    const int64_t oy = t % out_h;
    const int64_t n = t / out_h;
    const BilinearTap a = cuda::bilinear_tap_device(oy, in_h, out_h);
    const BilinearTap b = cuda::bilinear_tap_device(ox, in_w, out_w);
    const float ly = a.lambda, ly0 = sub_exact(1.0f, ly);
    const float lx = b.lambda, lx0 = sub_exact(1.0f, lx);
    const uint8_t* row0 = x + (n * in_h + a.i0) * in_w * 3;
    const uint8_t* row1 = x + (n * in_h + a.i1) * in_w * 3;
    const uint8_t *p00 = row0 + b.i0 * 3, *p01 = row0 + b.i1 * 3;
    const uint8_t *p10 = row1 + b.i0 * 3, *p11 = row1 + b.i1 * 3;
    float out[3];
#pragma unroll
    for (int k = 0; k < 3; ++k) {
      const int c = 2 - k;  // output B, G, R reads input channel 2, 1, 0
      const float top = add_exact(mul_exact(lx0, static_cast<float>(p00[c])),
                                  mul_exact(lx, static_cast<float>(p01[c])));
      const float bottom = add_exact(mul_exact(lx0, static_cast<float>(p10[c])),
                                     mul_exact(lx, static_cast<float>(p11[c])));
      out[k] = add_exact(mul_exact(ly0, top), mul_exact(ly, bottom));
    }
    float* dst = y + i * 3;
    dst[0] = sub_exact(out[0], kMean0);
    dst[1] = sub_exact(out[1], kMean1);
    dst[2] = sub_exact(out[2], kMean2);
  }
}

}  // namespace

void preprocess_caffe_cuda(cuda::CudaState& gpu, float* y, const uint8_t* x, int64_t batch, int64_t in_h,
                           int64_t in_w, int64_t out_h, int64_t out_w) {
  const int64_t total = batch * out_h * out_w;
  if (total == 0) return;
  preprocess_caffe_kernel<<<cuda::blocks_for(total), cuda::kBlockThreads, 0, gpu.stream>>>(
      y, x, batch, in_h, in_w, out_h, out_w);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace tl
