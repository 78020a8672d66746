#include "layers/module.h"

namespace tl {

void Module::register_parameter(const std::string& weight, Tensor t) {
  t.set_requires_grad(true);
  parameters_.emplace_back(weight, std::move(t));
}

void Module::register_buffer(const std::string& weight, Tensor t) {
  buffers_.emplace_back(weight, std::move(t));
}

namespace {
const Tensor& find_weight(const std::vector<std::pair<std::string, Tensor>>& list,
                          const std::string& layer, const std::string& weight) {
  for (const auto& [w, t] : list)
    if (w == weight) return t;
  fail("layer '", layer, "' has no weight '", weight, "'");
}
}  // namespace

const Tensor& Module::parameter(const std::string& weight) const {
  return find_weight(parameters_, name_, weight);
}
const Tensor& Module::buffer(const std::string& weight) const {
  return find_weight(buffers_, name_, weight);
}

std::vector<NamedTensor> Module::named_parameters() const {
  std::vector<NamedTensor> out;
  for (const auto& [w, t] : parameters_) out.push_back({name_ + "/" + w, t});
  for (const auto& child : children_)
    for (auto& nt : child->named_parameters()) out.push_back(std::move(nt));
  return out;
}

std::vector<NamedTensor> Module::named_buffers() const {
  std::vector<NamedTensor> out;
  for (const auto& [w, t] : buffers_) out.push_back({name_ + "/" + w, t});
  for (const auto& child : children_)
    for (auto& nt : child->named_buffers()) out.push_back(std::move(nt));
  return out;
}

std::vector<Module*> Module::leaf_modules() {
  if (children_.empty()) return {this};
  std::vector<Module*> out;
  for (auto& child : children_)
    for (Module* m : child->leaf_modules()) out.push_back(m);
  return out;
}

void Module::train(bool training) {
  training_ = training;
  for (auto& child : children_) child->train(training);
}

int64_t Module::set_trainable(const std::string& layer_prefix, bool trainable) {
  int64_t changed = 0;
  for (auto& [w, t] : parameters_) {
    if (name_.rfind(layer_prefix, 0) != 0) continue;
    if (t.requires_grad() != trainable) ++changed;
    t.set_requires_grad(trainable);
    if (!trainable) t.zero_grad();
  }
  for (auto& child : children_) changed += child->set_trainable(layer_prefix, trainable);
  return changed;
}

int64_t Module::count_trainable() const {
  int64_t n = 0;
  for (const auto& nt : named_parameters()) n += nt.tensor.requires_grad() ? nt.tensor.numel() : 0;
  return n;
}

int64_t Module::count_frozen() const {
  int64_t n = 0;
  for (const auto& nt : named_parameters()) n += nt.tensor.requires_grad() ? 0 : nt.tensor.numel();
  return n;
}

int64_t Module::count_buffers() const {
  int64_t n = 0;
  for (const auto& nt : named_buffers()) n += nt.tensor.numel();
  return n;
}

void Module::append_summary(Shape& shape, std::vector<SummaryRow>& rows) const {
  if (!children_.empty()) {
    for (const auto& child : children_) child->append_summary(shape, rows);
    return;
  }
  shape = output_shape(shape);
  SummaryRow row;
  row.layer = name_;
  row.kind = kind();
  row.output = Shape(shape.begin() + 1, shape.end());
  for (const auto& [w, t] : parameters_) (t.requires_grad() ? row.trainable : row.frozen) += t.numel();
  for (const auto& [w, t] : buffers_) row.buffers += t.numel();
  row.mode = mode_string();
  rows.push_back(std::move(row));
}

std::vector<SummaryRow> Module::summary(const Shape& input) const {
  std::vector<SummaryRow> rows;
  Shape shape = input;
  append_summary(shape, rows);
  return rows;
}

void Module::to(Context& ctx) {
  for (auto& [w, t] : parameters_) {
    const bool trainable = t.requires_grad();
    t = ctx.to_device(t);
    t.set_requires_grad(trainable);
  }
  for (auto& [w, t] : buffers_) t = ctx.to_device(t);
  for (auto& child : children_) child->to(ctx);
}

Tensor Sequential::forward(Context& ctx, const Tensor& x) {
  Tensor y = x;
  for (auto& child : children_) y = child->forward(ctx, y);
  return y;
}

Shape Sequential::output_shape(const Shape& input) const {
  Shape s = input;
  for (const auto& child : children_) s = child->output_shape(s);
  return s;
}

}  // namespace tl
