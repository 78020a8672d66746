// Batches as the loaders hand them out, and host copies to compare, built
// the same way by every test that needs them.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "tests/support/gradcheck.h"  // random_floats

namespace tl::test {

// (N) int32 class labels on the host.
inline Tensor labels_tensor(const std::vector<int32_t>& labels) {
  Tensor t = Tensor::empty({static_cast<int64_t>(labels.size())}, DType::I32);
  for (size_t i = 0; i < labels.size(); ++i) t.data<int32_t>()[i] = labels[i];
  return t;
}

// (N, size, size, 3) uint8 RGB noise from a fixed seed (CIFAR-10's size by default).
inline Tensor random_images(int64_t batch, uint64_t seed, int64_t size = 32) {
  Tensor images = Tensor::empty({batch, size, size, 3}, DType::U8);
  const std::vector<float> noise = random_floats(static_cast<size_t>(images.numel()), seed, 0, 255);
  for (size_t i = 0; i < noise.size(); ++i)
    images.data<uint8_t>()[i] = static_cast<uint8_t>(noise[i]);
  return images;
}

// A float32 host copy of t (a bf16 tensor widened, which is exact), for
// the comparisons of tests/support/compare.h.
inline Tensor host_float32(const Tensor& t) {
  return Tensor::from_vector(t.shape(), t.to_vector());
}

}  // namespace tl::test
