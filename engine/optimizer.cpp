// Sgd and Adam/AdamW over parameter groups (see optimizer.h). The update
// arithmetic lives in kernels/optim.cpp (CPU, one call per tensor) and
// kernels/optim.cu (CUDA: all the step's tensors in one launch); this file
// walks the groups, checks each gradient, allocates state lazily and names
// it for checkpoints.
#include "engine/optimizer.h"

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/ops_common.h"
#include "engine/step_capture.h"
#include "kernels/optim.h"
#include "runtime/device_copy.h"

namespace tl {

namespace {

// The numbers the update kernels take, from a group's hyper-parameters.
SgdUpdate update_of(const SgdHyper& h) { return {h.lr, h.momentum, h.weight_decay, h.nesterov}; }
AdamUpdate update_of(const AdamHyper& h) {
  return {h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.decoupled};
}

std::string state_name(size_t g, size_t p, const char* what) {
  return detail::concat("g", g, ".p", p, ".", what);
}

// The parameter must be a float32 tensor on ctx's device; its gradient, when
// defined, must match it. Returns whether there is a gradient to apply.
bool check_param(const Context& ctx, const Tensor& param, const char* opt, size_t g, size_t p) {
  if (!param.defined()) fail(opt, ": parameter ", p, " of group ", g, " is undefined");
  if (param.dtype() != DType::F32)
    fail(opt, ": parameter ", p, " of group ", g, " must be float32, got ",
         dtype_name(param.dtype()));
  const Tensor grad = param.grad();
  if (!grad.defined()) return false;
  if (grad.dtype() != DType::F32 || grad.shape() != param.shape())
    fail(opt, ": the gradient of parameter ", p, " of group ", g, " has shape ",
         shape_str(grad.shape()), " (", dtype_name(grad.dtype()), "), the parameter ",
         shape_str(param.shape()), " (float32)");
  if (param.device() != ctx.device() || grad.device() != ctx.device())
    fail(opt, ": parameter ", p, " of group ", g, " or its gradient is not on ",
         device_name(ctx.device()), ", the device of the step's context");
  return true;
}

// A parameter listed twice (in one group or in two) would be updated twice
// per step on the CPU and raced on by the GPU's one-launch update: refused
// at construction, on every device, as torch.optim does. Identity is the
// tensor itself (its TensorImpl), so two views of one buffer are distinct.
template <typename Group>
void check_each_parameter_once(const std::vector<Group>& groups, const char* opt) {
  std::map<const TensorImpl*, std::pair<size_t, size_t>> seen;  // -> (group, index)
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t p = 0; p < groups[g].params.size(); ++p) {
      const TensorImpl* impl = groups[g].params[p].impl();
      if (!impl) continue;  // undefined: check_param names it at the first step
      auto [it, inserted] = seen.emplace(impl, std::make_pair(g, p));
      if (!inserted)
        fail(opt, ": parameter ", p, " of group ", g, " is the same tensor as parameter ",
             it->second.second, " of group ", it->second.first,
             "; list each parameter in exactly one group");
    }
}

// The guard of a step (Optimizer::step): checks it, and returns its device
// pointer (null when there is none) and, on the CPU, whether to skip.
struct Guard {
  const float* device_value = nullptr;
  bool skip_on_cpu = false;
};
Guard guard_of(const Context& ctx, const Tensor& loss, const char* opt) {
  if (!loss.defined()) return {};
  if (loss.dtype() != DType::F32 || loss.numel() != 1 || loss.device() != ctx.device())
    fail(opt, ": the step's guard must be one float32 value on ", device_name(ctx.device()),
         ", got ", shape_str(loss.shape()), " ", dtype_name(loss.dtype()), " on ",
         device_name(loss.device()));
  if (ctx.device() == Device::CPU) return {nullptr, !std::isfinite(loss.data<float>()[0])};
  return {loss.data<float>(), false};
}

// A new tensor on ctx's device holding a copy of `src` (any device).
Tensor copy_to(Context& ctx, const Tensor& src) {
  const Tensor host = ctx.to_host(src);
  Tensor out = ctx.empty(src.shape(), src.dtype());
  if (!out.nbytes()) return out;
  if (ctx.device() == Device::CPU)
    std::memcpy(out.raw_data(), host.raw_data(), out.nbytes());
  else
    copy_host_to_device(out.raw_data(), host.raw_data(), out.nbytes());
  return out;
}

// Finds each named entry in `slots` and fills it with a copy of the tensor,
// checking its shape; unknown names are an error.
void load_named(Context& ctx, const NamedTensors& state,
                const std::map<std::string, std::pair<Tensor*, Shape>>& slots, const char* opt) {
  for (const auto& [name, tensor] : state) {
    auto it = slots.find(name);
    if (it == slots.end())
      fail(opt, ": checkpoint state '", name, "' matches no parameter of this optimiser; was "
                "it written for another model or another parameter grouping?");
    if (!tensor.defined() || tensor.shape() != it->second.second)
      fail(opt, ": checkpoint state '", name, "' has shape ",
           tensor.defined() ? shape_str(tensor.shape()) : std::string("(undefined)"),
           ", the parameter has ", shape_str(it->second.second));
    if (tensor.dtype() != DType::F32)
      fail(opt, ": checkpoint state '", name, "' must be float32, got ", dtype_name(tensor.dtype()));
    *it->second.first = copy_to(ctx, tensor);
  }
}

// One parameter of an update captured into a CUDA graph: the tensors the
// graph reads and writes, held so that their memory lives as long as the
// graph does. state1/state2: SGD's velocity (undefined without momentum);
// Adam's m and v.
struct CapturedParam {
  size_t g, p;
  Tensor param, grad, state1, state2;
};

// Which parameters of the groups require a gradient, in order: a captured
// update is out of date once a parameter is frozen or unfrozen.
template <typename Group>
std::vector<bool> requires_grad_flags(const std::vector<Group>& groups) {
  std::vector<bool> flags;
  for (const Group& group : groups)
    for (const Tensor& p : group.params) flags.push_back(p.defined() && p.requires_grad());
  return flags;
}

[[noreturn]] void fail_capture_before_first_step(const char* opt, size_t g, size_t p) {
  fail(opt, ": a CUDA graph of the step was captured before the optimiser's first step (the "
            "state of parameter ", p, " of group ", g, " does not exist yet); run one step "
            "without a graph first");
}

// Before each replay: the gradients the graph writes are the parameters'
// .grad, as after an eager backward (a step run eagerly in between may have
// replaced them).
void show_captured_gradients(const std::vector<CapturedParam>& params) {
  for (const CapturedParam& c : params)
    if (c.param.grad().impl() != c.grad.impl()) c.param.set_grad(c.grad);
}

// A device buffer for the descriptors of a captured update. Allocated while
// the capture is open, so it comes from the graph's private memory pool.
Tensor descriptor_buffer(Context& ctx, size_t bytes) {
  return ctx.empty({static_cast<int64_t>(bytes > 0 ? bytes : 1)}, DType::U8);
}

}  // namespace

// ---------------------------------------------------------------- SGD ----

Sgd::Sgd(std::vector<SgdGroup> groups) : groups_(std::move(groups)) {
  check_each_parameter_once(groups_, "sgd");
  for (const SgdGroup& group : groups_) velocity_.emplace_back(group.params.size());
}

const SgdGroup& Sgd::group(size_t g) const {
  if (g >= groups_.size()) fail("sgd: no parameter group ", g, " (there are ", groups_.size(), ")");
  return groups_[g];
}

void Sgd::set_lr(size_t g, float lr) {
  group(g);  // range check
  groups_[g].hyper.lr = lr;
}

void Sgd::step(Context& ctx, const Tensor& skip_if_not_finite) {
  const Guard guard = guard_of(ctx, skip_if_not_finite, "sgd");
  if (StepCapture* capture = ctx.capture()) return capture_step(ctx, guard.device_value, *capture);
  std::vector<SgdTensorRef> device_batch;  // CUDA: gathered, then updated in one launch
  for (size_t g = 0; g < groups_.size(); ++g) {
    const SgdUpdate h = update_of(groups_[g].hyper);
    for (size_t p = 0; p < groups_[g].params.size(); ++p) {
      const Tensor& param = groups_[g].params[p];
      if (!check_param(ctx, param, "sgd", g, p)) continue;
      Tensor& velocity = velocity_[g][p];
      // Plain SGD (momentum 0) needs no velocity at all.
      if (h.momentum != 0.0f && !velocity.defined()) velocity = ctx.zeros(param.shape());
      if (guard.skip_on_cpu) continue;
      if (ctx.device() == Device::CPU) {
        sgd_update_cpu(param.data<float>(), ops::detail::ptr_or_null(velocity),
                       param.grad().data<float>(), param.numel(), h);
      } else {
        device_batch.push_back(SgdTensorRef{param.data<float>(), ops::detail::ptr_or_null(velocity),
                                            param.grad().data<float>(), param.numel(), h});
      }
    }
  }
  if (!device_batch.empty()) sgd_update_cuda(ctx.gpu(), device_batch, guard.device_value);
  ++steps_;
}

void Sgd::capture_step(Context& ctx, const float* guard, StepCapture& capture) {
  auto params = std::make_shared<std::vector<CapturedParam>>();
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t p = 0; p < groups_[g].params.size(); ++p) {
      const Tensor& param = groups_[g].params[p];
      if (!check_param(ctx, param, "sgd", g, p)) continue;
      if (groups_[g].hyper.momentum != 0.0f && !velocity_[g][p].defined())
        fail_capture_before_first_step("sgd", g, p);
      params->push_back({g, p, param, param.grad(), velocity_[g][p], Tensor()});
    }
  // The tensors as the kernels take them, with the groups' hyper-parameters
  // as they are when called (the learning rate follows the schedule).
  auto refs = [this, params] {
    std::vector<SgdTensorRef> out;
    for (const CapturedParam& c : *params)
      out.push_back(SgdTensorRef{c.param.data<float>(), ops::detail::ptr_or_null(c.state1),
                                 c.grad.data<float>(), c.param.numel(),
                                 update_of(groups_[c.g].hyper)});
    return out;
  };
  const Tensor descriptors = descriptor_buffer(ctx, sgd_descriptor_bytes(refs()));
  sgd_launch_cuda(ctx.gpu(), refs(), descriptors.raw_data(), guard);
  capture.out_of_date.push_back([this, params, trained = requires_grad_flags(groups_)]()
                                    -> std::string {
    if (requires_grad_flags(groups_) != trained)
      return "sgd: a parameter was frozen or unfrozen since the graph was captured";
    for (const CapturedParam& c : *params)
      if (groups_[c.g].params[c.p].impl() != c.param.impl() ||
          velocity_[c.g][c.p].impl() != c.state1.impl() ||
          (groups_[c.g].hyper.momentum != 0.0f) != c.state1.defined())
        return detail::concat("sgd: parameter ", c.p, " of group ", c.g,
                              " or its velocity is not the tensor the graph was captured with");
    return "";
  });
  capture.before_replay.push_back([this, params, refs, descriptors](Context& ctx) {
    show_captured_gradients(*params);
    sgd_write_descriptors_cuda(ctx.gpu(), refs(), descriptors.raw_data());
    ++steps_;
  });
}

void Sgd::zero_grad() {
  for (const SgdGroup& group : groups_)
    for (const Tensor& p : group.params)
      if (p.defined()) p.zero_grad();
}

NamedTensors Sgd::state() const {
  NamedTensors out;
  for (size_t g = 0; g < velocity_.size(); ++g)
    for (size_t p = 0; p < velocity_[g].size(); ++p)
      if (velocity_[g][p].defined()) out.emplace_back(state_name(g, p, "velocity"), velocity_[g][p]);
  return out;
}

void Sgd::load_state(Context& ctx, const NamedTensors& state, int64_t steps) {
  std::map<std::string, std::pair<Tensor*, Shape>> slots;
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t p = 0; p < groups_[g].params.size(); ++p)
      slots[state_name(g, p, "velocity")] = {&velocity_[g][p], groups_[g].params[p].shape()};
  load_named(ctx, state, slots, "sgd");
  steps_ = steps;
}

// --------------------------------------------------------------- Adam ----

Adam::Adam(std::vector<AdamGroup> groups) : groups_(std::move(groups)) {
  check_each_parameter_once(groups_, kind());
  for (const AdamGroup& group : groups_) state_.emplace_back(group.params.size());
}

const char* Adam::kind() const {
  return !groups_.empty() && groups_[0].hyper.decoupled ? "adamw" : "adam";
}

const AdamGroup& Adam::group(size_t g) const {
  if (g >= groups_.size()) fail("adam: no parameter group ", g, " (there are ", groups_.size(), ")");
  return groups_[g];
}

void Adam::set_lr(size_t g, float lr) {
  group(g);  // range check
  groups_[g].hyper.lr = lr;
}

void Adam::step(Context& ctx, const Tensor& skip_if_not_finite) {
  const Guard guard = guard_of(ctx, skip_if_not_finite, "adam");
  if (StepCapture* capture = ctx.capture()) return capture_step(ctx, guard.device_value, *capture);
  std::vector<AdamTensorRef> device_batch;  // CUDA: gathered, then updated in one launch
  for (size_t g = 0; g < groups_.size(); ++g) {
    const AdamUpdate h = update_of(groups_[g].hyper);
    for (size_t p = 0; p < groups_[g].params.size(); ++p) {
      const Tensor& param = groups_[g].params[p];
      if (!check_param(ctx, param, "adam", g, p)) continue;
      ParamState& s = state_[g][p];
      if (!s.m.defined()) {
        s.m = ctx.zeros(param.shape());
        s.v = ctx.zeros(param.shape());
      }
      ++s.step;  // counts from 1 at the first update, as torch.optim's state['step']
      if (guard.skip_on_cpu) continue;
      if (ctx.device() == Device::CPU) {
        adam_update_cpu(param.data<float>(), s.m.data<float>(), s.v.data<float>(),
                        param.grad().data<float>(), param.numel(), h, s.step);
      } else {
        device_batch.push_back(AdamTensorRef{param.data<float>(), s.m.data<float>(),
                                             s.v.data<float>(), param.grad().data<float>(),
                                             param.numel(), h, s.step});
      }
    }
  }
  if (!device_batch.empty()) adam_update_cuda(ctx.gpu(), device_batch, guard.device_value);
  ++steps_;
}

void Adam::capture_step(Context& ctx, const float* guard, StepCapture& capture) {
  auto params = std::make_shared<std::vector<CapturedParam>>();
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t p = 0; p < groups_[g].params.size(); ++p) {
      const Tensor& param = groups_[g].params[p];
      if (!check_param(ctx, param, "adam", g, p)) continue;
      const ParamState& s = state_[g][p];
      if (!s.m.defined()) fail_capture_before_first_step("adam", g, p);
      params->push_back({g, p, param, param.grad(), s.m, s.v});
    }
  // `next_step`: the replayed step counts one more update of each parameter,
  // as the eager step() does before it computes the bias corrections.
  auto refs = [this, params](int64_t next_step) {
    std::vector<AdamTensorRef> out;
    for (const CapturedParam& c : *params)
      out.push_back(AdamTensorRef{c.param.data<float>(), c.state1.data<float>(),
                                  c.state2.data<float>(), c.grad.data<float>(), c.param.numel(),
                                  update_of(groups_[c.g].hyper),
                                  state_[c.g][c.p].step + next_step});
    return out;
  };
  const Tensor descriptors = descriptor_buffer(ctx, adam_descriptor_bytes(refs(1)));
  adam_launch_cuda(ctx.gpu(), refs(1), descriptors.raw_data(), guard);
  capture.out_of_date.push_back([this, params, trained = requires_grad_flags(groups_)]()
                                    -> std::string {
    if (requires_grad_flags(groups_) != trained)
      return "adam: a parameter was frozen or unfrozen since the graph was captured";
    for (const CapturedParam& c : *params) {
      const ParamState& s = state_[c.g][c.p];
      if (groups_[c.g].params[c.p].impl() != c.param.impl() || s.m.impl() != c.state1.impl() ||
          s.v.impl() != c.state2.impl())
        return detail::concat("adam: parameter ", c.p, " of group ", c.g,
                              " or its m, v is not the tensor the graph was captured with");
    }
    return "";
  });
  capture.before_replay.push_back([this, params, refs, descriptors](Context& ctx) {
    show_captured_gradients(*params);
    for (const CapturedParam& c : *params) ++state_[c.g][c.p].step;
    adam_write_descriptors_cuda(ctx.gpu(), refs(0), descriptors.raw_data());
    ++steps_;
  });
}

void Adam::zero_grad() {
  for (const AdamGroup& group : groups_)
    for (const Tensor& p : group.params)
      if (p.defined()) p.zero_grad();
}

NamedTensors Adam::state() const {
  NamedTensors out;
  for (size_t g = 0; g < state_.size(); ++g) {
    for (size_t p = 0; p < state_[g].size(); ++p) {
      const ParamState& s = state_[g][p];
      if (!s.m.defined()) continue;
      out.emplace_back(state_name(g, p, "m"), s.m);
      out.emplace_back(state_name(g, p, "v"), s.v);
      Tensor step = Tensor::empty({1}, DType::I32);
      step.data<int32_t>()[0] = static_cast<int32_t>(s.step);
      out.emplace_back(state_name(g, p, "step"), step);
    }
  }
  return out;
}

void Adam::load_state(Context& ctx, const NamedTensors& state, int64_t steps) {
  // The step counts are int32 scalars; take them out before the float state.
  NamedTensors tensors;
  std::map<std::string, int64_t*> step_slots;
  std::map<std::string, std::pair<Tensor*, Shape>> slots;
  for (size_t g = 0; g < groups_.size(); ++g) {
    for (size_t p = 0; p < groups_[g].params.size(); ++p) {
      ParamState& s = state_[g][p];
      slots[state_name(g, p, "m")] = {&s.m, groups_[g].params[p].shape()};
      slots[state_name(g, p, "v")] = {&s.v, groups_[g].params[p].shape()};
      step_slots[state_name(g, p, "step")] = &s.step;
    }
  }
  for (const auto& entry : state) {
    auto it = step_slots.find(entry.first);
    if (it == step_slots.end()) {
      tensors.push_back(entry);
      continue;
    }
    const Tensor& t = entry.second;
    if (!t.defined() || t.dtype() != DType::I32 || t.numel() != 1)
      fail("adam: checkpoint state '", entry.first, "' must be one int32 step count");
    *it->second = ctx.to_host(t).data<int32_t>()[0];
  }
  load_named(ctx, tensors, slots, "adam");
  // A parameter restored with m but not v (or without a step) is unusable.
  for (size_t g = 0; g < state_.size(); ++g)
    for (size_t p = 0; p < state_[g].size(); ++p) {
      const ParamState& s = state_[g][p];
      if (s.m.defined() != s.v.defined() || (s.m.defined() && s.step <= 0))
        fail("adam: checkpoint state for parameter ", p, " of group ", g,
             " is incomplete (it needs m, v and step)");
    }
  steps_ = steps;
}

}  // namespace tl
