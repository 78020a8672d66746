// Training-time augmentation (random horizontal flip + pad-and-crop) as a
// pure function of (seed, epoch, sample), and the GPU's input stage: gather a
// batch of uint8 images from the training set resident on the device and
// augment it, so a training step on the GPU reads no host memory. The host
// loader (data/loader.h) applies the same augmentation_for, so both produce
// the same bytes.
#pragma once

#include <cstdint>

#include "runtime/philox.h"

namespace tl {

// The Philox stream of the augmentation draws (| epoch); the tag in the top
// byte keeps them apart from the data pipeline's other streams (data/random.h).
constexpr uint64_t kAugmentStream = uint64_t{2} << 56;

// One sample's augmentation. The crop window is shifted by (dy, dx), each in
// [-pad, pad], from the centre of the image padded with `pad` zero pixels on
// every side (He et al. 2016's CIFAR recipe; torchvision's RandomCrop(32,
// padding=4) default), then mirrored left-right when `flip`:
//   out(y, x) = in(y + dy, (flip ? W-1-x : x) + dx),   0 outside the image.
// Zero rather than reflect padding (Keras RandomTranslation's default): it
// is the published CIFAR recipe, and a black border is obviously not image
// content, where a reflection invents plausible structure.
struct Augmentation {
  bool flip = false;
  int64_t dy = 0, dx = 0;
};

// The augmentation of sample `sample` in epoch `epoch`: a pure function,
// shared by the host loader (data/loader.cpp) and the GPU's gather-augment kernel
// (kernels/augment.cu) so both produce the same bytes.
TL_HOST_DEVICE Augmentation augmentation_for(uint64_t seed, int64_t epoch, int64_t sample, int64_t pad) {
  // One Philox block per sample: word 0 flips, words 1 and 2 shift.
  const Philox4x32 r = philox_block(seed, kAugmentStream | static_cast<uint64_t>(epoch),
                                    static_cast<uint64_t>(sample));
  const auto choices = static_cast<uint32_t>(2 * pad + 1);
  Augmentation aug;
  aug.flip = (r.v[0] >> 31) != 0;
  aug.dy = static_cast<int64_t>(r.v[1] % choices) - pad;
  aug.dx = static_cast<int64_t>(r.v[2] % choices) - pad;
  return aug;
}

}  // namespace tl

namespace tl {
namespace cuda {
struct CudaState;  // runtime/cuda/cuda_state.h: the stream, handles and scratch memory
}  // namespace cuda
// out: (count, h, w, 3) uint8; labels_out: (count) int32; images: (N, h, w, 3)
// uint8 and labels: (N) int32, all on the device; order: (count) int32
// sample indices on the device. augment=false copies the images unchanged.
void gather_augment_cuda(cuda::CudaState& gpu, uint8_t* out, int32_t* labels_out, const uint8_t* images,
                         const int32_t* labels, const int32_t* order, int64_t count, int64_t h,
                         int64_t w, bool augment, uint64_t seed, int64_t epoch, int64_t pad);
}  // namespace tl
