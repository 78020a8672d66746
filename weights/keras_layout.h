// Where Keras puts each layer of ResNet50 + the reference head, so tl can
// write files Keras's own loaders accept and read files that identify layers
// by position or by class rather than by name.
//
// Keras's loaders do not look at layer names (tests/data/keras_layer_order/
// README.md has the evidence from Keras 3.15, 3.5 and tf_keras 2.21):
//  * legacy .h5: layers are paired by POSITION among the layers with weights,
//    in model.layers order;
//  * Keras 3 .weights.h5: by group PATH, snake_case(class) + a counter per
//    model in model.layers order ("layers/conv2d_3", "layers/dense").
// tl creates a projection block's shortcut first (layers/resnet50.cpp);
// Keras's order is _1_conv, _1_bn, _2_conv, _2_bn, _0_conv, _3_conv, _0_bn,
// _3_bn. keras_model_order() turns one into the other.
#pragma once

#include <string>
#include <vector>

#include "weights/keras_h5.h"

namespace tl {

// `layers` (tl's creation order) reordered into Keras's model.layers order.
std::vector<LayerWeights> keras_model_order(std::vector<LayerWeights> layers);

// The Keras class of a layer with weights, snake_case as Keras 3 names its
// groups: "conv2d", "batch_normalization", "dense"; "" for a weightless layer
// or one this code does not know.
std::string keras3_class_of(const LayerWeights& layer);

// How the model was built in Keras, which decides the .weights.h5 paths.
enum class KerasConstruction {
  kFunctional,  // one flat functional model: every layer under layers/, one counter per class
  kSequential,  // Sequential([ResNet50, head...]): backbone under layers/functional/layers/
};

// The .weights.h5 group path ("layers/conv2d_3") of every layer with
// weights, parallel to `keras_ordered` ("" for weightless layers).
// Backbone layers are the ones whose name starts with "conv".
std::vector<std::string> keras3_group_paths(const std::vector<LayerWeights>& keras_ordered,
                                            KerasConstruction construction);

}  // namespace tl
