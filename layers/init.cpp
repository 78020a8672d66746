#include "layers/init.h"

#include <cmath>

#include "engine/philox.h"

namespace tl {

uint64_t name_hash(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

Tensor glorot_uniform(const Shape& shape, int64_t fan_in, int64_t fan_out, uint64_t seed,
                      const std::string& layer_name) {
  Tensor t = Tensor::empty(shape);
  const float limit = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
  const uint64_t stream = name_hash(layer_name);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = (2.0f * philox_uniform_at(seed, stream, static_cast<uint64_t>(i)) - 1.0f) * limit;
  return t;
}

}  // namespace tl
