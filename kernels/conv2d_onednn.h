// 2-D convolution through oneDNN (Intel's deep learning kernels, the library
// behind TensorFlow's and PyTorch's CPU convolutions): the CPU's fast
// convolution path when the build found it, the way cuDNN serves the GPU.
//
// Same layouts and contracts as kernels/conv2d.h (NHWC activations, OHWI
// weights, symmetric zero padding), float32 only. oneDNN reads and writes the
// NHWC activations in place; only the weights are re-laid out (into the
// blocked layout its kernels want) on every call, because they change every
// training step: 94 MB for ResNet50, about 8% of a 224x224 batch-8 forward.
//
// Each function returns false, having done nothing, when this build has no
// oneDNN (kernels/onednn/unavailable.cpp); conv2d_forward_cpu and
// conv2d_backward_cpu (conv2d.cpp) then take the im2col + GEMM path.
#pragma once

#include "kernels/conv2d.h"

namespace tl {

// Whether this build links oneDNN (CMake found libdnnl: cmake/TlDependencies.cmake).
bool onednn_available();

// y (N, OH, OW, O) = conv(x, w) + bias; bias may be null. With a fold
// (conv2d.h), the weights are scaled per output channel as they are re-laid
// out (a reorder with output scales) and the ReLU is a post-op, applied to
// each output block before it is stored.
bool conv2d_forward_onednn(float* y, const float* x, const float* w, const float* bias,
                           const Conv2dGeometry& g, const ConvFold& fold = {});

// dx (N, H, W, C) and dw (O, KH, KW, C) for the given dy; either may be null
// and is then not computed. The bias gradient is not computed here: the
// caller sums dy in double (conv2d.cpp), as the im2col path does.
bool conv2d_backward_onednn(float* dx, float* dw, const float* dy, const float* x, const float* w,
                            const Conv2dGeometry& g);

}  // namespace tl
