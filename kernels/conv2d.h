// 2-D convolution, NHWC activations, OHWI weights (cuDNN's KRSC filter
// layout), symmetric zero padding, optional bias (Keras convs all have one).
//
//   y[n, oy, ox, o] = bias[o] + sum_{ky, kx, c} x[n, oy*s - p + ky, ox*s - p + kx, c]
//                                               * w[o, ky, kx, c]
//
// Fast CPU path: oneDNN's convolutions for float32 when the build has it
// (kernels/conv2d_onednn.h), otherwise im2col + GEMM (in NHWC a 1x1 stride-1
// conv needs no im2col at all: the input already is the (N*H*W, C) matrix).
// The plain loops of the definition are kernels/reference/conv2d.h.
#pragma once

#include <cstdint>

namespace tl {

struct Conv2dGeometry {
  int64_t batch = 0, in_h = 0, in_w = 0, in_c = 0;  // x: (N, H, W, C)
  int64_t out_c = 0, kernel_h = 0, kernel_w = 0;    // w: (O, KH, KW, C)
  int64_t stride = 1;
  int64_t pad = 0;  // zero rows/columns added on every side
  int64_t out_h() const { return (in_h + 2 * pad - kernel_h) / stride + 1; }
  int64_t out_w() const { return (in_w + 2 * pad - kernel_w) / stride + 1; }
  int64_t patch_size() const { return kernel_h * kernel_w * in_c; }  // GEMM K
  double flops() const {  // forward multiply-adds x 2
    return 2.0 * batch * out_h() * out_w() * out_c * patch_size();
  }
};

// y: (N, OH, OW, O); x: (N, H, W, C); w: (O, KH, KW, C); bias: (O) or null.
template <typename T>
void conv2d_forward_cpu(T* y, const T* x, const T* w, const T* bias, const Conv2dGeometry& g);

// An inference-mode batch norm folded into the convolution, and the ReLU
// after it:  y = conv(x, w * weight_scale[o]) + bias[o], then max(0, .) with
// relu. The scale multiplies each output channel's weights while they are
// re-laid out for oneDNN, a pass that happens anyway (with the scales: 0.49
// instead of 0.39 ms for 9.4 MB of weights), and the BN's own pass over the
// activations is gone
// (ops::conv2d_batchnorm_inference computes the scale and the folded bias).
struct ConvFold {
  const float* weight_scale = nullptr;  // (O)
  bool relu = false;
};

// Runs the folded convolution where it is fast, on oneDNN (the layers
// conv2d_forward_cpu would send there, in a build that has it), and returns
// true; otherwise returns false having done nothing, and the caller runs the
// convolution and the batch norm separately.
bool conv2d_forward_folded_cpu(float* y, const float* x, const float* w, const float* bias,
                               const Conv2dGeometry& g, const ConvFold& fold);

// Gradients for the given dy: (N, OH, OW, O). Each of dx (N,H,W,C),
// dw (O,KH,KW,C), dbias (O) may be null and is then not computed (frozen
// weights, or the first layer's input). Outputs are overwritten.
template <typename T>
void conv2d_backward_cpu(T* dx, T* dw, T* dbias, const T* dy, const T* x, const T* w,
                         const Conv2dGeometry& g);

// The im2col + GEMM path itself, whatever the build has, with an explicit
// bound in bytes on its column buffer (the forms above use 16 MB when they
// take this path). The batch is processed in chunks of whole images that fit
// it; tests pass a small bound to run the chunked path on small shapes.
template <typename T>
void conv2d_forward_im2col_cpu(T* y, const T* x, const T* w, const T* bias,
                               const Conv2dGeometry& g, int64_t column_budget_bytes);
template <typename T>
void conv2d_backward_im2col_cpu(T* dx, T* dw, T* dbias, const T* dy, const T* x, const T* w,
                                const Conv2dGeometry& g, int64_t column_budget_bytes);

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// CUDA launchers (kernels/conv2d.cu; a CPU-only build has
// stubs that throw: kernels/cuda_stubs.cpp): cuDNN, float32, NHWC activations and
// KRSC (= OHWI) filters, device pointers, on the CudaState's stream. Same
// contracts as the CPU functions: bias, dx, dw, dbias may be null.
void conv2d_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, const float* w, const float* bias,
                         const Conv2dGeometry& g);
// add_to_dx: dx holds a gradient already, and the transposed convolution is
// added to it as cuDNN writes it (beta = 1) instead of overwriting it.
void conv2d_backward_cuda(cuda::CudaState& gpu, float* dx, float* dw, float* dbias, const float* dy,
                          const float* x, const float* w, const Conv2dGeometry& g,
                          bool add_to_dx = false);
// The same in bfloat16 (uint16_t bit patterns) on the tensor cores: x, w, y
// and the gradients bf16, the sums float32, each output rounded once. No
// bias (the ops add it in float32 before rounding: engine/ops_conv.cpp).
void conv2d_forward_bf16_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* x,
                              const uint16_t* w, const Conv2dGeometry& g);
void conv2d_backward_bf16_cuda(cuda::CudaState& gpu, uint16_t* dx, uint16_t* dw,
                               const uint16_t* dy, const uint16_t* x, const uint16_t* w,
                               const Conv2dGeometry& g, bool add_to_dx = false);
}  // namespace tl
