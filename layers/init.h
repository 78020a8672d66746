// Weight initialisation, Keras's defaults: glorot_uniform for Conv2D and
// Dense kernels, zeros for biases. Random numbers come from the same Philox
// generator as dropout, keyed by the seed and a hash of the layer's name, so
// a layer's initial weights do not depend on the order layers are built in.
#pragma once

#include <cstdint>
#include <string>

#include "engine/tensor.h"

namespace tl {

// Uniform in [-limit, limit] with limit = sqrt(6 / (fan_in + fan_out)).
Tensor glorot_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, uint64_t seed,
                      const std::string& layer_name);

// 64-bit FNV-1a of a name: the Philox stream of that layer's initialiser.
uint64_t name_hash(const std::string& name);

}  // namespace tl
