#include "weights/keras_layout.h"

#include <map>

namespace tl {
namespace {

// "conv2_block1_0_conv" -> "conv2_block1_"; "" when not a block layer.
std::string block_prefix_of(const std::string& name) {
  const size_t b = name.find("_block");
  if (name.rfind("conv", 0) != 0 || b == std::string::npos) return "";
  const size_t end = name.find('_', b + 1);
  return end == std::string::npos ? "" : name.substr(0, end + 1);
}

bool is_backbone_layer(const std::string& name) { return name.rfind("conv", 0) == 0 || name == "pool1_pool"; }

}  // namespace

std::vector<LayerWeights> keras_model_order(std::vector<LayerWeights> layers) {
  // Pull every shortcut layer (_0_conv, _0_bn) out, then put _0_conv right
  // before its block's _3_conv and _0_bn right before its _3_bn.
  std::map<std::string, LayerWeights> shortcut;  // by the name of the layer it precedes
  std::vector<LayerWeights> rest;
  for (LayerWeights& l : layers) {
    const std::string prefix = block_prefix_of(l.layer);
    if (!prefix.empty() && l.layer == prefix + "0_conv") shortcut.emplace(prefix + "3_conv", std::move(l));
    else if (!prefix.empty() && l.layer == prefix + "0_bn") shortcut.emplace(prefix + "3_bn", std::move(l));
    else rest.push_back(std::move(l));
  }
  std::vector<LayerWeights> out;
  out.reserve(layers.size());
  for (LayerWeights& l : rest) {
    if (auto it = shortcut.find(l.layer); it != shortcut.end()) {
      out.push_back(std::move(it->second));
      shortcut.erase(it);
    }
    out.push_back(std::move(l));
  }
  for (auto& [_, l] : shortcut) out.push_back(std::move(l));  // a shortcut without its block: keep it
  return out;
}

std::string keras3_class_of(const LayerWeights& layer) {
  const auto& w = layer.weights;
  if (w.size() == 4 && w[0].name == "gamma") return "batch_normalization";
  if ((w.size() == 1 || w.size() == 2) && w[0].name == "kernel") {
    if (w[0].shape.size() == 4) return "conv2d";
    if (w[0].shape.size() == 2) return "dense";
  }
  return "";
}

std::vector<std::string> keras3_group_paths(const std::vector<LayerWeights>& keras_ordered,
                                            KerasConstruction construction) {
  // One counter per class and per model: the first layer of a class is
  // "conv2d", the next "conv2d_1", ...
  std::map<std::string, int> backbone_count, head_count;
  std::vector<std::string> paths;
  for (const LayerWeights& l : keras_ordered) {
    const std::string cls = keras3_class_of(l);
    if (cls.empty()) {
      paths.push_back("");
      continue;
    }
    const bool nested_backbone = construction == KerasConstruction::kSequential && is_backbone_layer(l.layer);
    // Functional: one model, but its Dense counter starts at 0 in the head
    // anyway (the backbone has none), so one counter map serves both.
    std::map<std::string, int>& count =
        construction == KerasConstruction::kFunctional || nested_backbone ? backbone_count : head_count;
    const int n = count[cls]++;
    const std::string name = n == 0 ? cls : cls + "_" + std::to_string(n);
    paths.push_back((nested_backbone ? "layers/functional/layers/" : "layers/") + name);
  }
  return paths;
}

}  // namespace tl
