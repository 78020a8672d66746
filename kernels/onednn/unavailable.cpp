// The build without oneDNN (CMake did not find libdnnl): every entry point of
// kernels/conv2d_onednn.h says "not here", and conv2d.cpp takes its own
// im2col + GEMM path instead.
#include "kernels/conv2d_onednn.h"

namespace tl {

bool onednn_available() { return false; }

bool conv2d_forward_onednn(float*, const float*, const float*, const float*, const Conv2dGeometry&,
                           const ConvFold&) {
  return false;
}

bool conv2d_backward_onednn(float*, float*, const float*, const float*, const float*,
                            const Conv2dGeometry&) {
  return false;
}

}  // namespace tl
