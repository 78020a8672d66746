// The Module contract: a named piece of a model that owns parameters
// (trained) and buffers (BN running statistics), has a train/eval mode, can
// be frozen by name prefix, and knows the shape it produces.
//
// Names follow Keras exactly: a layer is named like `conv2_block1_1_conv`
// and its tensors `conv2_block1_1_conv/kernel`, `.../bias`, or for a BN
// `gamma`, `beta`, `moving_mean`, `moving_variance`. Container modules
// (a bottleneck block, the whole ResNet) add no prefix, so every tensor's
// full name is `<keras layer>/<weight>` and loading from a Keras file is a
// lookup by name.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "engine/context.h"
#include "engine/tensor.h"

namespace tl {

struct NamedTensor {
  std::string name;  // "<layer>/<weight>"
  Tensor tensor;
};

// One row of a model summary.
struct SummaryRow {
  std::string layer, kind;
  Shape output;  // without the batch axis
  int64_t trainable = 0, frozen = 0, buffers = 0;
  std::string mode;  // e.g. "train", "inference (frozen)"
};

class Module {
 public:
  explicit Module(std::string name) : name_(std::move(name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& name() const { return name_; }
  virtual const char* kind() const = 0;  // "Conv2D", "BatchNormalization", ...

  virtual Tensor forward(Context& ctx, const Tensor& x) = 0;
  // The output shape for an input shape (both with the batch axis).
  virtual Shape output_shape(const Shape& input) const = 0;

  // Recursively, in creation order (which is Keras's model order).
  std::vector<NamedTensor> named_parameters() const;
  std::vector<NamedTensor> named_buffers() const;
  std::vector<Module*> leaf_modules();  // modules with no children, in order

  // train(true): dropout active, BN uses batch statistics (unless frozen).
  virtual void train(bool training = true);
  void eval() { train(false); }
  bool training() const { return training_; }

  // Parameters whose full name starts with one of the prefixes stop
  // requiring gradients (or start again). Returns how many tensors changed.
  int64_t set_trainable(const std::string& layer_prefix, bool trainable);

  int64_t count_trainable() const;
  int64_t count_frozen() const;   // parameters with requires_grad false
  int64_t count_buffers() const;

  // One row per leaf layer, shapes propagated from `input` (with batch axis).
  std::vector<SummaryRow> summary(const Shape& input) const;

  // Moves every parameter and buffer to the context's device.
  void to(Context& ctx);

  // Appends this module's summary rows for an input of `shape` and advances
  // `shape` to the output. Leaves describe themselves; containers walk their
  // children in order (a container with branches overrides this).
  virtual void append_summary(Shape& shape, std::vector<SummaryRow>& rows) const;

 protected:
  void register_parameter(const std::string& weight, Tensor t);
  void register_buffer(const std::string& weight, Tensor t);
  // The current tensor of a weight (to(ctx) replaces tensors, so modules
  // look them up rather than keep copies).
  const Tensor& parameter(const std::string& weight) const;
  const Tensor& buffer(const std::string& weight) const;
  template <typename M>
  M* add_child(std::unique_ptr<M> child) {
    M* raw = child.get();
    children_.push_back(std::move(child));
    return raw;
  }
  virtual std::string mode_string() const { return training_ ? "train" : "inference"; }

  std::vector<std::unique_ptr<Module>> children_;
  bool training_ = true;

 private:
  std::string name_;
  // Owned tensors, by short weight name ("kernel"), in Keras's file order.
  std::vector<std::pair<std::string, Tensor>> parameters_;
  std::vector<std::pair<std::string, Tensor>> buffers_;
};

// A module that runs its children one after the other.
class Sequential : public Module {
 public:
  explicit Sequential(std::string name) : Module(std::move(name)) {}
  const char* kind() const override { return "Sequential"; }
  Tensor forward(Context& ctx, const Tensor& x) override;
  Shape output_shape(const Shape& input) const override;
  template <typename M>
  M* add(std::unique_ptr<M> child) { return add_child(std::move(child)); }
};

}  // namespace tl
