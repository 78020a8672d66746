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
#include "kernels/optim.h"

namespace tl {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct SgdGroup {
  std::vector<Tensor> params;
  SgdHyper hyper;  // lr, momentum, weight_decay, nesterov
};

struct AdamGroup {
  std::vector<Tensor> params;
  AdamHyper hyper;  // lr, beta1, beta2, eps, weight_decay, decoupled (AdamW)
};

class Sgd {
 public:
  explicit Sgd(std::vector<SgdGroup> groups);

  // Updates every parameter that has a gradient; no autograd is recorded.
  void step(Context& ctx);
  // Drops the gradients of all parameters (the next backward starts afresh).
  void zero_grad();

  size_t num_groups() const { return groups_.size(); }
  const SgdGroup& group(size_t g) const;
  void set_lr(size_t g, float lr);
  float lr(size_t g) const { return group(g).hyper.lr; }
  int64_t steps() const { return steps_; }  // calls to step() so far

  // The velocities allocated so far: "g<group>.p<index>.velocity".
  NamedTensors state() const;
  // Restores state written by state() (missing entries stay unallocated);
  // throws a tl::Error naming an unknown entry or a shape mismatch.
  void load_state(Context& ctx, const NamedTensors& state, int64_t steps);

 private:
  std::vector<SgdGroup> groups_;
  std::vector<std::vector<Tensor>> velocity_;  // [group][param], undefined until used
  int64_t steps_ = 0;
};

// Adam, or AdamW when a group's hyper.decoupled is set.
class Adam {
 public:
  explicit Adam(std::vector<AdamGroup> groups);

  void step(Context& ctx);
  void zero_grad();

  size_t num_groups() const { return groups_.size(); }
  const AdamGroup& group(size_t g) const;
  void set_lr(size_t g, float lr);
  float lr(size_t g) const { return group(g).hyper.lr; }
  int64_t steps() const { return steps_; }

  // "g<group>.p<index>.m", ".v" (float, like the parameter) and ".step"
  // (int32, shape (1), on the host): the bias correction uses each
  // parameter's own step count, as torch.optim does.
  NamedTensors state() const;
  void load_state(Context& ctx, const NamedTensors& state, int64_t steps);

 private:
  struct ParamState {
    Tensor m, v;       // undefined until the first update of this parameter
    int64_t step = 0;  // updates applied to this parameter
  };
  std::vector<AdamGroup> groups_;
  std::vector<std::vector<ParamState>> state_;  // [group][param]
  int64_t steps_ = 0;
};

}  // namespace tl
