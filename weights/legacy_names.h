// Layer names of the older Keras ResNet50 weight files (fchollet's
// deep-learning-models v0.2 release, used by standalone Keras <= 2.3), mapped
// to the names of today's keras.applications.ResNet50. Same weights, other
// names: res2a_branch2c holds what conv2_block1_3_conv holds (see
// docs/keras_weights.md and formats.md section 2). Block letters a, b, c, ...
// become block1, block2, block3, ...
//
//   conv1                        -> conv1_conv
//   bn_conv1                     -> conv1_bn
//   res{S}{b}_branch2a/2b/2c     -> conv{S}_block{n}_1/_2/_3_conv
//   bn{S}{b}_branch2a/2b/2c      -> conv{S}_block{n}_1/_2/_3_bn
//   res{S}{b}_branch1, bn...     -> conv{S}_block{n}_0_conv, _0_bn
//   fc1000                       -> predictions
#pragma once

#include <string>
#include <vector>

namespace tl {

// The current name for a legacy ResNet50 layer name; any other name is
// returned unchanged.
std::string map_legacy_resnet_name(const std::string& name);

// True when the list holds a name only the legacy files use (bn_conv1 or a
// res/bn..._branch name). "conv1" and "fc1000" alone are not enough: a
// user's own model may well have layers called that.
bool uses_legacy_resnet_names(const std::vector<std::string>& layer_names);

}  // namespace tl
