// The device twin of bilinear_tap() (kernels/upsample.cpp), shared by
// kernels/upsample.cu, kernels/preprocess.cu and the kernel lab
// (lab/upsample_backward.cu): the source index pair and the weight of the
// second one for output index o along one axis, with half-pixel centres
// (align_corners=False), as the same BilinearTap the CPU uses
// (kernels/upsample.h); and, for a backward written as a gather, the range of
// outputs that read a given input index.
//
// The arithmetic is the CPU's, operation for operation, in double and
// rounded step by step (kernels/exact_math.cuh): every tap, hence every
// weight, is bit-identical to the CPU's.
#pragma once

#include <cstdint>

#include "kernels/exact_math.cuh"
#include "kernels/upsample.h"  // BilinearTap

namespace tl::cuda {

__device__ __forceinline__ BilinearTap bilinear_tap_device(int64_t o, int64_t in_size,
                                                           int64_t out_size) {
  const double scale = __ddiv_rn(static_cast<double>(in_size), static_cast<double>(out_size));
  double src = sub_exact(mul_exact(add_exact(static_cast<double>(o), 0.5), scale), 0.5);
  if (src < 0) src = 0;
  int64_t i0 = static_cast<int64_t>(src);
  if (i0 > in_size - 1) i0 = in_size - 1;
  const int64_t i1 = i0 < in_size - 1 ? i0 + 1 : i0;
  return BilinearTap{static_cast<int32_t>(i0), static_cast<int32_t>(i1),
                     static_cast<float>(sub_exact(src, static_cast<double>(i0)))};
}

// The outputs [lo, hi] (empty when lo > hi) whose taps read input index i.
// Output o reads i iff i0(o) == i or i1(o) == i, i.e. iff i0(o) is i - 1 or
// i (i1 = i0 + 1 except at the clamped right edge, where i1 = i0); i0(o) is
// non-decreasing in o, so these outputs form one contiguous range, found by
// two binary searches over o: exact, no floating-point inversion of the
// sampling formula.
__device__ inline int2 bilinear_readers(int64_t i, int64_t in_size, int64_t out_size) {
  int64_t lo = 0, hi = out_size;  // first o with i0(o) >= i - 1
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (bilinear_tap_device(mid, in_size, out_size).i0 >= i - 1) hi = mid;
    else lo = mid + 1;
  }
  const int64_t first = lo;
  hi = out_size;  // first o with i0(o) > i
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (bilinear_tap_device(mid, in_size, out_size).i0 > i) hi = mid;
    else lo = mid + 1;
  }
  return make_int2(static_cast<int>(first), static_cast<int>(lo - 1));
}

}  // namespace tl::cuda
