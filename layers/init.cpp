#include "layers/init.h"

#include <cmath>

#include "runtime/philox.h"
#include "runtime/thread_pool.h"

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
  const int64_t n = t.numel();
  // Element i takes word i % 4 of Philox block i / 4 (the same numbers as
  // philox_uniform_at), one block computed per four elements.
  parallel_for((n + 3) / 4, n > (1 << 16), [&](int64_t begin, int64_t end) {
    for (int64_t block = begin; block < end; ++block) {
      const Philox4x32 r = philox_block(seed, stream, static_cast<uint64_t>(block));
      for (int64_t j = 0; j < 4 && 4 * block + j < n; ++j)
        p[4 * block + j] = (2.0f * philox_uniform(r.v[j]) - 1.0f) * limit;
    }
  });
  return t;
}

}  // namespace tl
