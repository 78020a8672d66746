// The synthetic image set: per-class colour + oriented stripes + noise.
//
//   value_c(y, x) = 0.15 + brightness * rgb_c(hue, saturation)
//                 + contrast/2 * sin(2*pi*freq * (u cos(a) + v sin(a)) / size + phase)
//                 + noise,                      clamped to [0, 1], times 255,
// where (u, v) are pixel coordinates from the image centre. Draws come from
// Philox keyed by the seed: sample i's parameters are philox_uniform_at(seed,
// 2i, 0..7) and its noise value j is philox_uniform_at(seed, 2i+1, j), so
// each sample is a pure function of (seed, i) and the loop runs in parallel.
#include "data/synthetic.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "data/random.h"
#include "runtime/thread_pool.h"

namespace tl {
namespace {

// HSV with value 1 -> RGB in [0, 1]; hue in turns (any real, wraps).
void hue_to_rgb(double hue, double saturation, double rgb[3]) {
  hue -= std::floor(hue);
  for (int c = 0; c < 3; ++c) {
    // Each channel is a triangle wave over the hue circle, offset by 1/3 turn.
    double t = hue + (2 - c) / 3.0;
    t -= std::floor(t);
    const double tri = std::clamp(std::abs(t * 6.0 - 3.0) - 1.0, 0.0, 1.0);
    rgb[c] = 1.0 - saturation * (1.0 - tri);
  }
}

}  // namespace

ImageSet make_synthetic(int64_t n, int64_t size, uint64_t seed, int64_t classes) {
  if (n < 0 || size < 4 || classes < 2 || classes > 1000)
    fail("make_synthetic: need n >= 0, size >= 4 and 2 <= classes <= 1000; got n=", n,
         " size=", size, " classes=", classes);
  constexpr double kTwoPi = 2.0 * std::numbers::pi;
  ImageSet set;
  set.images = Tensor::empty({n, size, size, 3}, DType::U8);
  set.labels = Tensor::empty({n}, DType::I32);
  for (int64_t k = 0; k < classes; ++k) set.class_names.push_back("synthetic-" + std::to_string(k));
  set.source = "synthetic(seed=" + std::to_string(seed) + ")";
  uint8_t* images = n ? set.images.data<uint8_t>() : nullptr;
  int32_t* labels = n ? set.labels.data<int32_t>() : nullptr;
  const int64_t pixels = size * size;

  parallel_for(n, true, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t k = i % classes;
      labels[i] = static_cast<int32_t>(k);
      auto draw = [&](uint64_t j) { return static_cast<double>(philox_uniform_at(seed, 2 * uint64_t(i), j)); };
      const double spacing = 1.0 / static_cast<double>(classes);
      // Jitter of +-1/4 of the spacing between classes: neighbours nearly touch.
      const double hue = (static_cast<double>(k) + 0.5 * (draw(0) - 0.5)) * spacing;
      const double angle = (static_cast<double>(k) + 0.5 * (draw(1) - 0.5)) * spacing * std::numbers::pi;
      const double freq = 1.5 + static_cast<double>(k % 3);  // cycles across the image
      const double phase = kTwoPi * draw(2);
      const double contrast = 0.25 + 0.2 * draw(3);
      const double brightness = 0.45 + 0.2 * draw(4);
      const double saturation = 0.5 + 0.3 * draw(5);
      double rgb[3];
      hue_to_rgb(hue, saturation, rgb);
      const double ca = std::cos(angle) * kTwoPi * freq / static_cast<double>(size);
      const double sa = std::sin(angle) * kTwoPi * freq / static_cast<double>(size);
      const double centre = 0.5 * static_cast<double>(size - 1);

      uint8_t* out = images + i * pixels * 3;
      Philox4x32 noise_bits{};  // one Philox block serves 4 consecutive values
      for (int64_t y = 0; y < size; ++y)
        for (int64_t x = 0; x < size; ++x) {
          const double stripe = 0.5 * contrast *
              std::sin((static_cast<double>(x) - centre) * ca + (static_cast<double>(y) - centre) * sa + phase);
          for (int64_t c = 0; c < 3; ++c) {
            const uint64_t j = static_cast<uint64_t>((y * size + x) * 3 + c);
            if ((j & 3) == 0) noise_bits = philox_block(seed, 2 * uint64_t(i) + 1, j >> 2);
            const double noise = 0.24 * (philox_uniform(noise_bits.v[j & 3]) - 0.5);
            const double v = std::clamp(0.15 + brightness * rgb[c] + stripe + noise, 0.0, 1.0);
            out[j] = static_cast<uint8_t>(std::lround(v * 255.0));
          }
        }
    }
  });
  return set;
}

}  // namespace tl
