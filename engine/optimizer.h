// Optimisers: SGD (momentum, Nesterov, weight decay) and Adam / AdamW, with
// PyTorch's update rules (kernels/optim.h), over groups of parameters that
// each carry their own hyper-parameters (a smaller learning rate for the
// pretrained backbone than for the new head, no weight decay on BN, ...).
//
// State (SGD velocity, Adam m and v, Adam's per-parameter step count) is
// allocated lazily on the first step that sees a parameter's gradient, on
// that step's Context device, as torch.optim does. Parameters whose gradient
// is undefined (frozen, or not reached by backward) are skipped: they are
// not updated and their state does not advance.
//
// state() / load_state() expose the state by name ("g<group>.p<index>.<what>")
// for checkpoints.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"

namespace tl {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// A group's hyper-parameters (the update rules are written out in
// kernels/optim.h). Defaults: PyTorch's SGD momentum 0.9 is the recipe's;
// Adam's eps is Keras's 1e-7 (PyTorch's default is 1e-8).
struct SgdHyper {
  float lr = 0.01f, momentum = 0.9f, weight_decay = 0.0f;
  bool nesterov = false;
};
struct AdamHyper {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-7f, weight_decay = 0.0f;
  bool decoupled = false;  // AdamW: weight decay applied to the weight, not the gradient
};

struct SgdGroup {
  std::vector<Tensor> params;
  SgdHyper hyper;  // lr, momentum, weight_decay, nesterov
};

struct AdamGroup {
  std::vector<Tensor> params;
  AdamHyper hyper;  // lr, beta1, beta2, eps, weight_decay, decoupled (AdamW)
};

// What the training loop and checkpoints need from any optimiser.
class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual const char* kind() const = 0;  // "sgd", "adam", "adamw"
  // Updates every parameter that has a gradient; no autograd is recorded.
  void step(Context& ctx) { step(ctx, Tensor()); }
  // The same, guarded: `skip_if_not_finite` is a (1) float32 tensor on ctx's
  // device, the step's loss. When its value is NaN or infinite, no parameter
  // and no state tensor changes. On a GPU the update kernel reads it, so the
  // host need not wait to learn the loss. The step counts (steps(), Adam's
  // per-parameter counts) advance either way: a run stops at such a step
  // (apps/trainer.cpp), it does not carry on.
  // While ctx captures a CUDA graph (Context::capture(), engine/step_capture.h)
  // the update is captured reading its per-step numbers from device memory,
  // and the host side of the step (step counts, learning rates) runs before
  // each replay instead; the state must exist by then (one eager step first).
  virtual void step(Context& ctx, const Tensor& skip_if_not_finite) = 0;
  // Drops the gradients of all parameters (the next backward starts afresh).
  virtual void zero_grad() = 0;
  virtual size_t num_groups() const = 0;
  virtual void set_lr(size_t g, float lr) = 0;
  virtual float lr(size_t g) const = 0;
  virtual int64_t steps() const = 0;  // calls to step() so far
  // Named state tensors, for checkpoints.
  virtual NamedTensors state() const = 0;
  // Restores state written by state() (missing entries stay unallocated);
  // throws a tl::Error naming an unknown entry or a shape mismatch.
  virtual void load_state(Context& ctx, const NamedTensors& state, int64_t steps) = 0;
};

struct StepCapture;  // engine/step_capture.h

class Sgd final : public Optimizer {
 public:
  explicit Sgd(std::vector<SgdGroup> groups);

  const char* kind() const override { return "sgd"; }
  using Optimizer::step;
  void step(Context& ctx, const Tensor& skip_if_not_finite) override;
  void zero_grad() override;

  size_t num_groups() const override { return groups_.size(); }
  const SgdGroup& group(size_t g) const;
  void set_lr(size_t g, float lr) override;
  float lr(size_t g) const override { return group(g).hyper.lr; }
  int64_t steps() const override { return steps_; }

  // The velocities allocated so far: "g<group>.p<index>.velocity".
  NamedTensors state() const override;
  void load_state(Context& ctx, const NamedTensors& state, int64_t steps) override;

 private:
  void capture_step(Context& ctx, const float* guard, StepCapture& capture);

  std::vector<SgdGroup> groups_;
  std::vector<std::vector<Tensor>> velocity_;  // [group][param], undefined until used
  int64_t steps_ = 0;
};

// Adam, or AdamW when a group's hyper.decoupled is set.
class Adam final : public Optimizer {
 public:
  explicit Adam(std::vector<AdamGroup> groups);

  const char* kind() const override;  // "adamw" when the first group is decoupled
  using Optimizer::step;
  void step(Context& ctx, const Tensor& skip_if_not_finite) override;
  void zero_grad() override;

  size_t num_groups() const override { return groups_.size(); }
  const AdamGroup& group(size_t g) const;
  void set_lr(size_t g, float lr) override;
  float lr(size_t g) const override { return group(g).hyper.lr; }
  int64_t steps() const override { return steps_; }

  // "g<group>.p<index>.m", ".v" (float, like the parameter) and ".step"
  // (int32, shape (1), on the host): the bias correction uses each
  // parameter's own step count, as torch.optim does.
  NamedTensors state() const override;
  void load_state(Context& ctx, const NamedTensors& state, int64_t steps) override;

 private:
  void capture_step(Context& ctx, const float* guard, StepCapture& capture);

  struct ParamState {
    Tensor m, v;       // undefined until the first update of this parameter
    int64_t step = 0;  // updates applied to this parameter
  };
  std::vector<AdamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;  // [group][param]
  int64_t steps_ = 0;
};

}  // namespace tl
