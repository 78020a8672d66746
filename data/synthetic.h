// A synthetic labelled image set for demos and tests when no real data set
// is present: deterministic (a pure function of n, size, seed, classes) and
// learnable, but not trivial.
//
// Class k has its own hue and stripe orientation/frequency; every sample
// draws its own hue and angle jitter, stripe phase, contrast, brightness,
// saturation and per-pixel noise from Philox (runtime/philox.h), so no two
// images are the same and neighbouring classes overlap in colour. A small
// CNN from random initialisation separates them within an epoch or two.
// Labels cycle 0, 1, ..., classes-1, 0, ... so any prefix (subset) and the
// Keras-style validation tail stay balanced.
#pragma once

#include <cstdint>

#include "data/dataset.h"

namespace tl {

// n images of size x size, class names "synthetic-0" ... .
ImageSet make_synthetic(int64_t n, int64_t size, uint64_t seed, int64_t classes = 10);

}  // namespace tl
