// Counter-based random draws for the data pipeline, on top of runtime/philox.h.
//
// Everything random in data/ (the synthetic images, the shuffle, the
// augmentation) is a pure function of (seed, stream, index): no generator
// state, so a run resumed at epoch e sees exactly the order and the crops it
// would have seen, whatever ran before, and loops over samples parallelise
// without changing a single value. The counter layout is the one
// philox_uniform_at uses: block = index / 4, stream in the high counter words.
#pragma once

#include <cstdint>

#include "runtime/philox.h"

namespace tl {

// Stream tags in the top byte keep the pipeline's draws apart from each other
// and from make_synthetic's per-sample streams (2i, 2i+1), even under one seed.
constexpr uint64_t kShuffleStream = uint64_t{1} << 56;  // | epoch
// uint64_t{2} << 56 is kAugmentStream (kernels/augment.h), | epoch
constexpr uint64_t kHoldoutStream = uint64_t{3} << 56;  // the test set held out of one image folder

// philox_block (runtime/philox.h): the four words of one block of a stream.

// A uniform integer in [0, bound) from 64 random bits (block `index` of
// `stream`, words 0-1). The modulo bias is below bound / 2^64: nil for any
// data set size.
inline uint64_t random_below(uint64_t seed, uint64_t stream, uint64_t index, uint64_t bound) {
  const Philox4x32 r = philox_block(seed, stream, index);
  const uint64_t bits = (static_cast<uint64_t>(r.v[1]) << 32) | r.v[0];
  return bits % bound;
}

}  // namespace tl
