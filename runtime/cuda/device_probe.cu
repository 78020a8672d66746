// A do-nothing kernel used only to ask the runtime whether this binary holds
// code for the current GPU's architecture (see CudaState::create).
#include "runtime/cuda/check.h"

namespace tl::cuda {

__global__ void probe_kernel() {}

void probe_kernel_attributes(cudaFuncAttributes* attributes) {
  TL_CUDA_CHECK(cudaFuncGetAttributes(attributes, probe_kernel));
}

}  // namespace tl::cuda
