// The device twin of bilinear_tap() (kernels/upsample.cpp), shared by
// kernels/upsample.cu and kernels/preprocess.cu: the source index pair and
// the weight of the second one for output index o along one axis, with
// half-pixel centres (align_corners=False).
//
// The arithmetic is the CPU's, operation for operation, in double with
// explicitly rounded intrinsics (nvcc would otherwise fuse the multiply and
// the subtraction into an FMA, which rounds once instead of twice): every
// tap, hence every weight, is bit-identical to the CPU's.
#pragma once

#include <cstdint>

namespace tl::cuda {

struct Tap {
  int32_t i0, i1;
  float lambda;  // value = (1 - lambda) * in[i0] + lambda * in[i1]
};

__device__ __forceinline__ Tap bilinear_tap_device(int64_t o, int64_t in_size, int64_t out_size) {
  const double scale = __ddiv_rn(static_cast<double>(in_size), static_cast<double>(out_size));
  double src = __dsub_rn(__dmul_rn(__dadd_rn(static_cast<double>(o), 0.5), scale), 0.5);
  if (src < 0) src = 0;
  int64_t i0 = static_cast<int64_t>(src);
  if (i0 > in_size - 1) i0 = in_size - 1;
  const int64_t i1 = i0 < in_size - 1 ? i0 + 1 : i0;
  return Tap{static_cast<int32_t>(i0), static_cast<int32_t>(i1),
             static_cast<float>(__dsub_rn(src, static_cast<double>(i0)))};
}

}  // namespace tl::cuda
