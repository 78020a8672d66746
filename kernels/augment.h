// The GPU's input stage: gather a batch of uint8 images from the training
// set resident on the device, applying the same flip + pad-crop as the host
// loader (data/loader.h, augmentation_for), so a training step on the GPU
// reads no host memory.
#pragma once

#include <cstdint>

namespace tl {
class Context;
// out: (count, h, w, 3) uint8; labels_out: (count) int32; images: (N, h, w, 3)
// uint8 and labels: (N) int32, all on the device; order: (count) int32
// sample indices on the device. augment=false copies the images unchanged.
void gather_augment_cuda(Context& ctx, uint8_t* out, int32_t* labels_out, const uint8_t* images,
                         const int32_t* labels, const int32_t* order, int64_t count, int64_t h,
                         int64_t w, bool augment, uint64_t seed, int64_t epoch, int64_t pad);
}  // namespace tl
