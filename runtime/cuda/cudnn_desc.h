// RAII owners of cuDNN descriptors (tensor, filter, convolution). Each
// constructor creates the descriptor; the set_* calls fill it. Keeping the
// two apart means a failed set_* (a shape cuDNN rejects) still destroys the
// descriptor: the object is fully constructed by then. Copies are deleted:
// a descriptor has exactly one owner.
#pragma once

#include <cudnn.h>

#include "runtime/cuda/check.h"

namespace tl::cuda {

template <typename Handle, cudnnStatus_t (*Create)(Handle*), cudnnStatus_t (*Destroy)(Handle)>
class CudnnDescriptor {
 public:
  CudnnDescriptor() { TL_CUDNN_CHECK(Create(&handle_)); }
  ~CudnnDescriptor() {
    if (handle_) Destroy(handle_);  // a destructor must not throw: status ignored
  }
  CudnnDescriptor(const CudnnDescriptor&) = delete;
  CudnnDescriptor& operator=(const CudnnDescriptor&) = delete;
  Handle get() const { return handle_; }

 private:
  Handle handle_ = nullptr;
};

// A 4-D tensor (float32, or bfloat16 for the tensor cores) stored NHWC
// (channels innermost). cuDNN always takes the dimensions in the order N, C,
// H, W; the format says how they are laid out in memory.
class TensorDesc
    : public CudnnDescriptor<cudnnTensorDescriptor_t, cudnnCreateTensorDescriptor,
                             cudnnDestroyTensorDescriptor> {
 public:
  void set_nhwc(int n, int c, int h, int w, cudnnDataType_t type = CUDNN_DATA_FLOAT) {
    TL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(get(), CUDNN_TENSOR_NHWC, type, n, c, h, w));
  }
};

// A filter (float32 or bfloat16) of K output channels, C input channels,
// R x S taps, stored KRSC (NHWC filter format): exactly tl's OHWI conv weights.
class FilterDesc
    : public CudnnDescriptor<cudnnFilterDescriptor_t, cudnnCreateFilterDescriptor,
                             cudnnDestroyFilterDescriptor> {
 public:
  void set_krsc(int k, int c, int r, int s, cudnnDataType_t type = CUDNN_DATA_FLOAT) {
    TL_CUDNN_CHECK(cudnnSetFilter4dDescriptor(get(), type, CUDNN_TENSOR_NHWC, k, c, r, s));
  }
};

// A 2-D cross-correlation (what every DL framework calls convolution: the
// kernel is not flipped) with symmetric padding, no dilation, float32
// accumulation (for bfloat16 data too).
class ConvDesc
    : public CudnnDescriptor<cudnnConvolutionDescriptor_t, cudnnCreateConvolutionDescriptor,
                             cudnnDestroyConvolutionDescriptor> {
 public:
  void set_2d(int pad, int stride) {
    TL_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(get(), pad, pad, stride, stride, 1, 1,
                                                   CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  }
  void set_math(cudnnMathType_t math) { TL_CUDNN_CHECK(cudnnSetConvolutionMathType(get(), math)); }
};

}  // namespace tl::cuda
