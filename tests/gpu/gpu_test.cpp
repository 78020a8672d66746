#include "tests/gpu/gpu_test.h"

namespace tl::test {

std::unique_ptr<Context> make_gpu_context() {
#ifdef TL_WITH_CUDA
  if (cuda::device_count() == 0) return nullptr;
  auto ctx = std::make_unique<Context>(Device::CUDA, /*seed=*/0);
  ctx->set_poison_allocations(true);
  return ctx;
#else
  return nullptr;
#endif
}

std::string no_gpu_reason() {
#ifdef TL_WITH_CUDA
  return "SKIPPED: no usable GPU here (" + cuda::no_device_reason() +
         "); this test compares a CUDA kernel with the CPU reference and needs a GPU";
#else
  return "SKIPPED: this build has no CUDA backend (configured with TL_CUDA=OFF or without nvcc/cuDNN)";
#endif
}

}  // namespace tl::test
