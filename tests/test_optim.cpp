// Optimisers against torch.optim: SGD (momentum, Nesterov, weight decay),
// Adam (L2 weight decay) and AdamW, 3 steps over two parameter groups with
// their own hyper-parameters, one parameter skipped at one step (no
// gradient). Plus the state accessors used by checkpoints.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "runtime/check.h"
#include "engine/optimizer.h"
#include "tests/support/compare.h"
#include "tests/support/npy.h"

namespace tl::test {
namespace {

// float32 updates against float64 torch.optim: each step rounds the
// parameter (|p| < 4, ulp <= 4.8e-7) and the update; after 3 steps a few
// float32 ulps of the parameter.
constexpr Tolerance kOptimTol{1e-7, 1e-6};

// Mirrors tests/reference/ref_optim.py.
constexpr int kSteps = 3;
constexpr int kParams = 2;
bool has_grad(int param, int step) { return !(param == 1 && step == 1); }

struct Run {
  std::vector<Tensor> params;
  explicit Run(const std::string& name) {
    for (int i = 0; i < kParams; ++i) {
      // A copy: the optimiser updates in place and must not touch the reference.
      const Tensor init = load_reference(name, "p" + std::to_string(i) + "_init");
      params.push_back(Tensor::from_vector(init.shape(), init.to_vector()));
      params.back().set_requires_grad(true);
    }
  }
  // Sets the gradients of step `step` (none for the skipped parameter).
  void set_grads(const std::string& name, int step) {
    for (int i = 0; i < kParams; ++i) {
      if (has_grad(i, step))
        params[i].set_grad(load_reference(name, "g" + std::to_string(i) + "_step" + std::to_string(step)));
      else
        params[i].zero_grad();
    }
  }
  void check(const std::string& name, int step) {
    for (int i = 0; i < kParams; ++i) {
      const std::string key = "p" + std::to_string(i) + "_step" + std::to_string(step);
      EXPECT_TRUE(all_close(params[i], load_reference(name, key), kOptimTol, name + " " + key));
    }
  }
};

template <typename Opt>
void run_parity(const std::string& name, Opt& opt, Run& run) {
  Context ctx(Device::CPU);
  for (int step = 0; step < kSteps; ++step) {
    run.set_grads(name, step);
    opt.step(ctx);
    run.check(name, step);
  }
  EXPECT_EQ(opt.steps(), kSteps);
}

void sgd_parity(const std::string& name, bool nesterov, float wd1) {
  Run run(name);
  SgdHyper h0{0.1f, 0.9f, 1e-2f, nesterov}, h1{0.05f, 0.9f, wd1, nesterov};
  Sgd opt({SgdGroup{{run.params[0]}, h0}, SgdGroup{{run.params[1]}, h1}});
  run_parity(name, opt, run);
}

TEST(Parity, SgdMomentum) { sgd_parity("sgd_momentum", false, 0.0f); }
TEST(Parity, SgdNesterov) { sgd_parity("sgd_nesterov", true, 1e-2f); }

void adam_parity(const std::string& name, bool decoupled, float wd1) {
  Run run(name);
  AdamHyper h0{1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, decoupled};
  AdamHyper h1{5e-3f, 0.8f, 0.99f, 1e-8f, wd1, decoupled};
  Adam opt({AdamGroup{{run.params[0]}, h0}, AdamGroup{{run.params[1]}, h1}});
  run_parity(name, opt, run);
}

TEST(Parity, AdamL2) { adam_parity("adam_l2", false, 0.0f); }
TEST(Parity, AdamW) { adam_parity("adamw", true, 0.1f); }

Tensor make_param(const Shape& shape, float value) {
  Tensor p = Tensor::full(shape, value);
  p.set_requires_grad(true);
  return p;
}

TEST(Optimizer, SkipsParamsWithoutGradAndZeroGradDropsThem) {
  Context ctx(Device::CPU);
  Tensor a = make_param({3}, 1.0f), b = make_param({2}, 2.0f);
  Sgd opt({SgdGroup{{a, b}, SgdHyper{0.5f, 0.0f, 0.0f, false}}});
  a.set_grad(Tensor::full({3}, 1.0f));
  opt.step(ctx);
  EXPECT_EQ(a.to_vector(), std::vector<float>(3, 0.5f));
  EXPECT_EQ(b.to_vector(), std::vector<float>(2, 2.0f));
  EXPECT_TRUE(opt.state().empty()) << "momentum 0 keeps no velocity";
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
  opt.set_lr(0, 0.25f);
  EXPECT_FLOAT_EQ(opt.lr(0), 0.25f);
  EXPECT_THROW(opt.set_lr(1, 0.1f), Error);
}

// A parameter listed twice would be updated twice per step on the CPU (and
// raced on by the GPU's one-launch update): refused when the optimiser is
// built, naming both places. (Before: the CPU silently applied two updates,
// p = 0.8 where one SGD step gives 0.9.)
TEST(Optimizer, ParameterListedTwiceIsRefused) {
  Tensor p = Tensor::from_vector({1}, {1.0f});
  p.set_requires_grad(true);
  Tensor q = Tensor::from_vector({1}, {1.0f});
  q.set_requires_grad(true);
  SgdHyper h;
  h.lr = 0.1f;
  try {
    Sgd sgd({SgdGroup{{p, q}, h}, SgdGroup{{p}, h}});
    FAIL() << "sgd accepted a parameter listed twice";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("parameter 0 of group 1 is the same tensor as parameter 0 of group 0"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(Adam({AdamGroup{{q, q}, AdamHyper{}}}), Error);
  // Distinct tensors with equal values are fine.
  Sgd ok({SgdGroup{{p, q}, h}});
  p.set_grad(Tensor::from_vector({1}, {1.0f}));
  Context ctx;
  ok.step(ctx);
  EXPECT_FLOAT_EQ(p.to_vector()[0], 0.9f);
}

// The guard of a step (the training step passes its loss): a finite value
// changes nothing; NaN or infinity skips every update, so the parameters
// and the optimiser's state stay as they were, while the step counts still
// advance. A guard that is not one float32 value on the step's device is an
// error naming the optimiser.
TEST(Optimizer, NonFiniteGuardSkipsTheUpdate) {
  Context ctx(Device::CPU);
  for (const float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    Tensor a = make_param({3}, 1.0f), b = make_param({3}, 1.0f);
    Adam guarded({AdamGroup{{a}, AdamHyper{}}}), plain({AdamGroup{{b}, AdamHyper{}}});
    a.set_grad(Tensor::full({3}, 0.5f));
    b.set_grad(Tensor::full({3}, 0.5f));
    guarded.step(ctx, Tensor::full({1}, 2.5f));  // finite: the same as no guard
    plain.step(ctx);
    EXPECT_EQ(a.to_vector(), b.to_vector());
    const std::vector<float> before = a.to_vector();
    guarded.step(ctx, Tensor::full({1}, bad));
    EXPECT_EQ(a.to_vector(), before) << "guard " << bad;
    EXPECT_EQ(guarded.steps(), 2);
    // The state as after the first step: m and v are what plain's are.
    const NamedTensors g = guarded.state(), p = plain.state();
    ASSERT_EQ(g.size(), p.size());
    for (size_t i = 0; i + 1 < g.size(); i += 3) {  // m, v, step per parameter
      EXPECT_EQ(g[i].second.to_vector(), p[i].second.to_vector()) << g[i].first;
      EXPECT_EQ(g[i + 1].second.to_vector(), p[i + 1].second.to_vector()) << g[i + 1].first;
    }

    Tensor c = make_param({2}, 3.0f);
    Sgd sgd({SgdGroup{{c}, SgdHyper{0.5f, 0.9f, 0.0f, false}}});
    c.set_grad(Tensor::full({2}, 1.0f));
    sgd.step(ctx, Tensor::full({1}, bad));
    EXPECT_EQ(c.to_vector(), std::vector<float>(2, 3.0f));
    EXPECT_EQ(sgd.state().at(0).second.to_vector(), std::vector<float>(2, 0.0f)) << "velocity";
  }
  Tensor d = make_param({2}, 1.0f);
  Sgd sgd({SgdGroup{{d}, SgdHyper{}}});
  d.set_grad(Tensor::full({2}, 1.0f));
  try {
    sgd.step(ctx, Tensor::full({2}, 1.0f));
    FAIL() << "a guard of two values was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sgd: the step's guard must be one float32 value"),
              std::string::npos)
        << e.what();
  }
}

TEST(Optimizer, RejectsGradientOfWrongShape) {
  Context ctx(Device::CPU);
  Tensor a = make_param({3}, 1.0f);
  Adam opt({AdamGroup{{a}, AdamHyper{}}});
  a.set_grad(Tensor::full({4}, 1.0f));
  EXPECT_THROW(opt.step(ctx), Error);
}

// Saving the state after two steps and loading it into a fresh optimiser
// over copies of the parameters continues the run exactly.
TEST(Optimizer, AdamStateRoundTripContinuesExactly) {
  Context ctx(Device::CPU);
  Tensor a = make_param({4}, 0.5f), b = make_param({2}, -1.0f);
  AdamHyper h{1e-2f, 0.9f, 0.999f, 1e-8f, 1e-2f, true};
  Adam opt({AdamGroup{{a}, h}, AdamGroup{{b}, h}});
  const Tensor ga = Tensor::from_vector({4}, {0.1f, -0.2f, 0.3f, -0.4f});
  const Tensor gb = Tensor::from_vector({2}, {1.0f, -2.0f});
  a.set_grad(ga);
  b.set_grad(gb);
  opt.step(ctx);
  b.zero_grad();  // b's step count stays at 1
  opt.step(ctx);

  const NamedTensors state = opt.state();
  ASSERT_EQ(state.size(), 6u);
  EXPECT_EQ(state[0].first, "g0.p0.m");
  EXPECT_EQ(state[5].first, "g1.p0.step");
  EXPECT_EQ(state[2].second.data<int32_t>()[0], 2);
  EXPECT_EQ(state[5].second.data<int32_t>()[0], 1);

  Tensor a2 = Tensor::from_vector({4}, a.to_vector());
  Tensor b2 = Tensor::from_vector({2}, b.to_vector());
  a2.set_requires_grad(true);
  b2.set_requires_grad(true);
  Adam resumed({AdamGroup{{a2}, h}, AdamGroup{{b2}, h}});
  resumed.load_state(ctx, state, opt.steps());
  EXPECT_EQ(resumed.steps(), 2);

  for (Tensor* p : {&a, &a2}) p->set_grad(ga);
  for (Tensor* p : {&b, &b2}) p->set_grad(gb);
  opt.step(ctx);
  resumed.step(ctx);
  EXPECT_EQ(a.to_vector(), a2.to_vector());
  EXPECT_EQ(b.to_vector(), b2.to_vector());

  NamedTensors bad = state;
  bad[0].first = "g7.p0.m";
  EXPECT_THROW(resumed.load_state(ctx, bad, 2), Error);
}

TEST(Optimizer, SgdStateRoundTripContinuesExactly) {
  Context ctx(Device::CPU);
  SgdHyper h{0.1f, 0.9f, 1e-2f, true};
  Tensor a = make_param({3}, 0.5f);
  Sgd opt({SgdGroup{{a}, h}});
  const Tensor g = Tensor::from_vector({3}, {0.3f, -0.1f, 0.7f});
  a.set_grad(g);
  opt.step(ctx);
  const NamedTensors state = opt.state();
  ASSERT_EQ(state.size(), 1u);
  EXPECT_EQ(state[0].first, "g0.p0.velocity");

  Tensor a2 = Tensor::from_vector({3}, a.to_vector());
  a2.set_requires_grad(true);
  Sgd resumed({SgdGroup{{a2}, h}});
  resumed.load_state(ctx, state, opt.steps());
  a2.set_grad(g);
  opt.step(ctx);
  resumed.step(ctx);
  EXPECT_EQ(a.to_vector(), a2.to_vector());
  EXPECT_THROW(resumed.load_state(ctx, {{"g0.p0.velocity", Tensor::zeros({4})}}, 1), Error);
}

}  // namespace
}  // namespace tl::test
