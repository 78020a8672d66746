// The two CPU kernel tiers (engine/context.h: CpuKernels), for tests that run
// an op on each: the plain reference first (the tier the outside judges,
// gradient checks and PyTorch, are aimed at), then the fast path (the one
// training runs). docs/cpu_reference.md.
#pragma once

#include <string>

#include "engine/context.h"

namespace tl::test {

inline constexpr CpuKernels kCpuTiers[] = {CpuKernels::Reference, CpuKernels::Fast};

inline std::string tier_name(CpuKernels tier) {
  return tier == CpuKernels::Reference ? "reference CPU kernels" : "fast CPU kernels";
}

}  // namespace tl::test
