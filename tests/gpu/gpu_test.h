// Shared by the GPU tests: a CUDA Context when a GPU is present, otherwise a
// GTEST_SKIP with the reason (CTest reports the test as skipped, never passed).
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "engine/context.h"

#ifdef TL_WITH_CUDA
#include "runtime/cuda/cuda_state.h"
#endif

namespace tl::test {

// Use as the first line of a GPU test: TL_REQUIRE_GPU(gpu); then *gpu is a
// CUDA Context (the test reports SKIPPED, with the reason, when there is none).
#define TL_REQUIRE_GPU(ctx_var)                                                            \
  std::unique_ptr<::tl::Context> ctx_var = ::tl::test::make_gpu_context();                 \
  if (!ctx_var) GTEST_SKIP() << ::tl::test::no_gpu_reason();

std::unique_ptr<Context> make_gpu_context();
std::string no_gpu_reason();

}  // namespace tl::test
