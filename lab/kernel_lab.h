// The kernel lab: the two hardest CUDA kernels of tl, each in several
// versions, from the simplest that is correct up to the production launcher,
// which the last version calls (it is not copied here). Every version has the
// production launcher's signature, so the driver (lab/kernel_lab.cpp) can
// validate and time each one the same way, with the harness that times the
// production kernels (bench/cuda_harness.h).
//
//   BN + ReLU backward (training):  lab/batchnorm_backward.cu,
//                                   docs/lab/batchnorm_backward.md
//   bilinear upsampling backward:   lab/upsample_backward.cu,
//                                   docs/lab/upsample_backward.md
#pragma once

#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/upsample.h"

namespace tl::lab {

// batchnorm_backward_train_cuda's contract (kernels/batchnorm.h), except that
// the lab versions require dx, dgamma and dbeta (none may be null).
using BnBackwardFn = void (*)(cuda::CudaState& gpu, float* dx, float* dgamma, float* dbeta,
                              const float* dy, const float* x, const float* gamma,
                              const float* beta, const float* mean, const float* invstd,
                              const BatchNormGeometry& g, bool relu);

// upsample_bilinear_backward_cuda's contract (kernels/upsample.h).
using UpsampleBackwardFn = void (*)(cuda::CudaState& gpu, float* dx, const float* dy,
                                    const UpsampleGeometry& g);

template <typename Fn>
struct Version {
  const char* name;    // "v1_thread_per_channel": the table's row label
  const char* change;  // what this version changes from the one before, and why
  // Bit-identical to the CPU reference by construction (validated bit for
  // bit); otherwise validated under a tolerance the driver states.
  bool bit_exact;
  Fn run;
};

// v1 ... vN in order, vN being the production launcher.
std::vector<Version<BnBackwardFn>> batchnorm_backward_versions();
std::vector<Version<UpsampleBackwardFn>> upsample_backward_versions();

}  // namespace tl::lab
