// CUDA optimiser steps (one multi-tensor launch per step) vs the CPU
// reference: SGD (plain, momentum + weight decay, Nesterov) and Adam (L2) /
// AdamW over two groups with their own hyper-parameters, tensors of several
// chunk counts (3 to 20,000 elements; chunks are 8,192), 4 steps, one
// parameter without a gradient at one step (skipped: no update, its state
// and step count do not advance), and a step guarded by a NaN loss (read by
// the kernel: nothing moves, the counts advance, as on the CPU), the others
// guarded by a finite one or not at all. The updates replay the CPU's float
// expressions with explicitly rounded intrinsics, so parameters and state
// must be bit-identical (see cuda_parity.h for hosts that contract).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>

#include "engine/optimizer.h"
#include "kernels/optim.h"
#include "tests/gpu/cuda_parity.h"
#include "tests/gpu/gpu_test.h"

namespace tl::test {
namespace {

const Shape kShapes[] = {{1000}, {3}, {20000}, {8193}, {8, 8, 3, 4}};
constexpr int kSteps = 4;
// Parameter 1 has no gradient at step 2.
bool has_grad(size_t param, int step) { return !(param == 1 && step == 2); }

struct Params {
  std::vector<Tensor> list;
  Params(Context& ctx, uint64_t seed) {
    for (const Shape& s : kShapes) {
      Tensor p = ctx.to_device(random_tensor(s, seed++, -2.0f, 2.0f));
      p.set_requires_grad(true);
      list.push_back(p);
    }
  }
  void set_grads(Context& ctx, int step) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (has_grad(i, step))
        list[i].set_grad(ctx.to_device(random_tensor(kShapes[i], 1000 + 10 * step + i)));
      else
        list[i].zero_grad();
    }
  }
};

// Groups: parameters {0, 1} and {2, 3, 4}.
template <typename Group, typename Hyper>
std::vector<Group> two_groups(const Params& p, const Hyper& h0, const Hyper& h1) {
  return {Group{{p.list[0], p.list[1]}, h0}, Group{{p.list[2], p.list[3], p.list[4]}, h1}};
}

template <typename Opt, typename Group, typename Hyper>
void compare_optimizer(Context& gpu, const Hyper& h0, const Hyper& h1, const std::string& name) {
  Context cpu(Device::CPU);
  Params pc(cpu, 7), pg(gpu, 7);
  Opt oc(two_groups<Group>(pc, h0, h1)), og(two_groups<Group>(pg, h0, h1));
  for (int step = 0; step < kSteps; ++step) {
    pc.set_grads(cpu, step);
    pg.set_grads(gpu, step);
    // Step 1: a NaN guard; step 3: a finite one; steps 0 and 2: none.
    if (step % 2 == 1) {
      const float guard = step == 1 ? std::nanf("") : 2.5f;
      oc.step(cpu, cpu.full({1}, guard));
      og.step(gpu, gpu.full({1}, guard));
    } else {
      oc.step(cpu);
      og.step(gpu);
    }
    const std::string at = name + " step " + std::to_string(step) + " ";
    for (size_t i = 0; i < pc.list.size(); ++i)
      EXPECT_TRUE(matches_cpu_exactly(gpu.to_host(pg.list[i]), pc.list[i],
                                      at + "param " + std::to_string(i)));
    const NamedTensors sc = oc.state(), sg = og.state();
    ASSERT_EQ(sc.size(), sg.size()) << at;
    for (size_t i = 0; i < sc.size(); ++i) {
      ASSERT_EQ(sc[i].first, sg[i].first) << at;
      if (sc[i].second.dtype() == DType::I32)  // Adam's step counts (host)
        EXPECT_EQ(sc[i].second.data<int32_t>()[0], gpu.to_host(sg[i].second).data<int32_t>()[0])
            << at << sc[i].first;
      else
        EXPECT_TRUE(matches_cpu_exactly(gpu.to_host(sg[i].second), sc[i].second, at + sc[i].first));
    }
  }
}

TEST(CudaParity, SgdMultiTensor) {
  TL_REQUIRE_GPU(gpu);
  compare_optimizer<Sgd, SgdGroup>(*gpu, SgdHyper{0.1f, 0.0f, 0.0f, false},
                                   SgdHyper{0.05f, 0.0f, 1e-2f, false}, "sgd plain");
  compare_optimizer<Sgd, SgdGroup>(*gpu, SgdHyper{0.1f, 0.9f, 1e-2f, false},
                                   SgdHyper{0.05f, 0.8f, 0.0f, false}, "sgd momentum");
  compare_optimizer<Sgd, SgdGroup>(*gpu, SgdHyper{0.1f, 0.9f, 1e-2f, true},
                                   SgdHyper{0.05f, 0.9f, 1e-4f, true}, "sgd nesterov");
}

TEST(CudaParity, AdamMultiTensor) {
  TL_REQUIRE_GPU(gpu);
  compare_optimizer<Adam, AdamGroup>(*gpu, AdamHyper{1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, false},
                                     AdamHyper{5e-3f, 0.8f, 0.99f, 1e-7f, 0.0f, false}, "adam");
  compare_optimizer<Adam, AdamGroup>(*gpu, AdamHyper{1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, true},
                                     AdamHyper{5e-3f, 0.8f, 0.99f, 1e-7f, 0.1f, true}, "adamw");
}

// Every parameter is updated concurrently in one launch, so a parameter
// listed twice would race: it is an error (torch.optim refuses it too).
TEST(CudaParity, OptimizerRejectsDuplicateParameter) {
  TL_REQUIRE_GPU(gpu);
  Tensor p = gpu->to_device(random_tensor({10}, 3));
  p.set_requires_grad(true);
  p.set_grad(gpu->to_device(random_tensor({10}, 4)));
  // Refused when the optimiser is built, as on the CPU (engine/optimizer.cpp)...
  EXPECT_THROW(Sgd({SgdGroup{{p}, SgdHyper{}}, SgdGroup{{p}, SgdHyper{}}}), Error);
  EXPECT_THROW(Adam({AdamGroup{{p, p}, AdamHyper{}}}), Error);
  // ...and by the launcher itself, for a caller that builds the list by hand.
  const SgdTensorRef ref{p.data<float>(), nullptr, p.grad().data<float>(), 10,
                         SgdUpdate{0.1f, 0.0f, 0.0f, false}};
  EXPECT_THROW(sgd_update_cuda(gpu->gpu(), {ref, ref}), Error);
}

}  // namespace
}  // namespace tl::test
