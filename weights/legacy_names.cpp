// Legacy (fchollet) ResNet50 layer names -> current Keras names; the table is
// in legacy_names.h. Parsed by hand: the patterns are fixed and short.
#include "weights/legacy_names.h"

#include <optional>

namespace tl {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }

// "res2a_branch2b" / "bn4f_branch1" -> "conv2_block1_2_conv" / "conv4_block6_0_bn".
std::optional<std::string> map_branch_name(const std::string& name) {
  std::string kind;  // "conv" or "bn"
  size_t pos = 0;
  if (name.rfind("res", 0) == 0) {
    kind = "conv";
    pos = 3;
  } else if (name.rfind("bn", 0) == 0) {
    kind = "bn";
    pos = 2;
  } else {
    return std::nullopt;
  }
  // {S}{b}_branch: one stage digit, one block letter.
  if (name.size() < pos + 2 || !is_digit(name[pos]) || !is_lower(name[pos + 1])) return std::nullopt;
  const char stage = name[pos];
  const int block = name[pos + 1] - 'a' + 1;
  const std::string rest = name.substr(pos + 2);
  std::string conv_index;
  if (rest == "_branch2a") conv_index = "1";
  else if (rest == "_branch2b") conv_index = "2";
  else if (rest == "_branch2c") conv_index = "3";
  else if (rest == "_branch1") conv_index = "0";  // the projection shortcut
  else return std::nullopt;
  return std::string("conv") + stage + "_block" + std::to_string(block) + "_" + conv_index + "_" + kind;
}

}  // namespace

std::string map_legacy_resnet_name(const std::string& name) {
  if (name == "conv1") return "conv1_conv";
  if (name == "bn_conv1") return "conv1_bn";
  if (name == "fc1000") return "predictions";
  if (std::optional<std::string> mapped = map_branch_name(name)) return *mapped;
  return name;
}

bool uses_legacy_resnet_names(const std::vector<std::string>& layer_names) {
  for (const std::string& name : layer_names)
    if (name == "bn_conv1" || map_branch_name(name)) return true;
  return false;
}

}  // namespace tl
