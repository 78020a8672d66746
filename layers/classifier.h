// The whole model of the recipe: ResNet50 backbone + reference head, with
// the freezing policies transfer learning needs.
#pragma once

#include <iosfwd>
#include <string>

#include "layers/head.h"
#include "layers/resnet50.h"

namespace tl {

struct ClassifierConfig {
  int64_t input_size = 224;  // square input resolution
  int64_t classes = 10;
  HeadPool pool = HeadPool::kFlatten;
  float dropout = 0.5f;
  // Every BN's moving-average momentum (Keras's 0.99 keeps 99% of the old
  // value per step; short runs from scratch want less, e.g. 0.9).
  float bn_momentum = 0.99f;
  uint64_t seed = 0;  // initialisation
};

// Which part of the backbone is frozen: nothing, all of it, or the stem and
// the stages up to and including conv<stage> (stage 1 = the stem).
struct FreezeSpec {
  enum Kind { kNone, kBackbone, kUpToStage } kind = kNone;
  int stage = 0;
  // BNs of a frozen part run in inference mode (running statistics, never
  // updated), as Keras does for trainable=False; false keeps batch statistics.
  bool frozen_bn_inference = true;
  // Parses "none", "backbone", "up-to:<stage>" (stage 1..5 or conv1..conv5).
  static FreezeSpec parse(const std::string& text);
  std::string str() const;
};

class Classifier : public Module {
 public:
  explicit Classifier(const ClassifierConfig& config);
  const char* kind() const override { return "Classifier"; }
  Tensor forward(Context& ctx, const Tensor& x) override;  // logits (N, classes)
  Shape output_shape(const Shape& input) const override;
  // The backbone's output for x (what the head takes), float32 whatever
  // the backbone's activation dtype.
  Tensor backbone_features(Context& ctx, const Tensor& x);

  // The dtype of the backbone's activations: float32 (the default), or
  // bfloat16, the tensor cores' format (--precision bf16). Parameters,
  // optimiser state, BN statistics and the head stay float32 either way
  // (engine/ops.h says where a bf16 op rounds). A run setting, not saved
  // with the model.
  void set_backbone_dtype(DType dtype);
  DType backbone_dtype() const { return backbone_dtype_; }

  ResNet50& backbone() { return *backbone_; }
  ReferenceHead& head() { return *head_; }
  const ClassifierConfig& config() const { return config_; }

  void apply_freeze(const FreezeSpec& spec);
  // True when the backbone's output depends on the image alone: every
  // backbone parameter frozen and every backbone BN in inference mode
  // (--freeze backbone with --frozen-bn inference). Its outputs can then be
  // computed once and reused (layers/feature_cache.h).
  bool backbone_is_fixed();

 private:
  ClassifierConfig config_;
  DType backbone_dtype_ = DType::F32;
  ResNet50* backbone_;
  ReferenceHead* head_;
};

// Prints a Keras-style summary: layer, kind, output shape, parameters, BN mode.
void print_summary(std::ostream& os, const Module& model, const Shape& input);

}  // namespace tl
