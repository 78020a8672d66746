#include "layers/classifier.h"

#include <iomanip>
#include <ostream>

#include "engine/ops.h"
#include "runtime/check.h"

namespace tl {

FreezeSpec FreezeSpec::parse(const std::string& text) {
  FreezeSpec spec;
  if (text == "none") return spec;
  if (text == "backbone") {
    spec.kind = kBackbone;
    return spec;
  }
  const std::string prefix = "up-to:";
  if (text.rfind(prefix, 0) == 0) {
    std::string stage = text.substr(prefix.size());
    if (stage.rfind("conv", 0) == 0) stage = stage.substr(4);
    if (stage.size() == 1 && stage[0] >= '1' && stage[0] <= '5') {
      spec.kind = kUpToStage;
      spec.stage = stage[0] - '0';
      return spec;
    }
  }
  fail("freeze '", text, "': expected none, backbone or up-to:<stage> with stage 1..5 (conv1..conv5)");
}

std::string FreezeSpec::str() const {
  switch (kind) {
    case kNone: return "none";
    case kBackbone: return "backbone";
    case kUpToStage: return "up-to:conv" + std::to_string(stage);
  }
  return "?";
}

Classifier::Classifier(const ClassifierConfig& config) : Module("classifier"), config_(config) {
  backbone_ = add_child(std::make_unique<ResNet50>(config.seed, config.bn_momentum));
  const Shape features = backbone_->output_shape({1, config.input_size, config.input_size, 3});
  TL_CHECK(features[1] >= 1 && features[2] >= 1, "input size ", config.input_size,
           " is too small for ResNet50 (needs at least 32)");
  head_ = add_child(std::make_unique<ReferenceHead>(Shape{features[1], features[2], features[3]},
                                                    config.pool, config.classes, config.seed,
                                                    config.dropout, config.bn_momentum));
}

Tensor Classifier::forward(Context& ctx, const Tensor& x) {
  return head_->forward(ctx, backbone_features(ctx, x));
}

Tensor Classifier::backbone_features(Context& ctx, const Tensor& x) {
  // The casts are no-ops in float32; in bf16 the input is rounded once and
  // the head gets the backbone's bf16 output widened (exactly).
  return ops::cast(ctx, backbone_->forward(ctx, ops::cast(ctx, x, backbone_dtype_)), DType::F32);
}

void Classifier::set_backbone_dtype(DType dtype) {
  TL_CHECK(dtype == DType::F32 || dtype == DType::BF16,
           "Classifier: the backbone computes in float32 or bfloat16, not ", dtype_name(dtype));
  backbone_dtype_ = dtype;
}

Shape Classifier::output_shape(const Shape& input) const {
  return head_->output_shape(backbone_->output_shape(input));
}

void Classifier::apply_freeze(const FreezeSpec& spec) {
  // Start from everything trainable, then freeze the requested prefixes.
  set_trainable("", true);
  for (Module* m : backbone_->leaf_modules())
    if (auto* bn = dynamic_cast<BatchNorm*>(m)) bn->set_mode(BatchNormMode::kFollowModel);
  int last_stage = 0;
  if (spec.kind == FreezeSpec::kBackbone) last_stage = 5;
  if (spec.kind == FreezeSpec::kUpToStage) last_stage = spec.stage;
  for (int stage = 1; stage <= last_stage; ++stage) {
    const std::string prefix = "conv" + std::to_string(stage) + "_";
    set_trainable(prefix, false);
    if (!spec.frozen_bn_inference) continue;
    for (Module* m : backbone_->leaf_modules())
      if (auto* bn = dynamic_cast<BatchNorm*>(m); bn && bn->name().rfind(prefix, 0) == 0)
        bn->set_mode(BatchNormMode::kInference);
  }
}

bool Classifier::backbone_is_fixed() {
  for (const NamedTensor& p : backbone_->named_parameters())
    if (p.tensor.requires_grad()) return false;
  for (Module* m : backbone_->leaf_modules())
    if (auto* bn = dynamic_cast<BatchNorm*>(m); bn && bn->mode() != BatchNormMode::kInference)
      return false;
  return true;
}

void print_summary(std::ostream& os, const Module& model, const Shape& input) {
  const auto rows = model.summary(input);
  os << std::left << std::setw(28) << "Layer" << std::setw(24) << "Kind" << std::setw(18)
     << "Output shape" << std::right << std::setw(12) << "Trainable" << std::setw(10) << "Frozen"
     << std::setw(10) << "Stats" << "  Mode\n";
  os << std::string(114, '-') << "\n";
  for (const auto& r : rows) {
    os << std::left << std::setw(28) << r.layer << std::setw(24) << r.kind << std::setw(18)
       << shape_str(r.output) << std::right << std::setw(12) << r.trainable << std::setw(10)
       << r.frozen << std::setw(10) << r.buffers << "  "
       << (r.kind == std::string("BatchNormalization") || r.kind == std::string("Dropout") ? r.mode : "")
       << "\n";
  }
  os << std::string(114, '-') << "\n";
  os << "Trainable parameters: " << model.count_trainable() << "\n"
     << "Frozen parameters:    " << model.count_frozen() << "\n"
     << "BN moving statistics: " << model.count_buffers() << "\n"
     << "Total values:         "
     << model.count_trainable() + model.count_frozen() + model.count_buffers() << "\n";
}

}  // namespace tl
