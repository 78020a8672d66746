// Gather + augment on the GPU (kernels/augment.h).
//
// Layout: one thread per output byte of the (count, h, w, 3) uint8 batch.
// A 32x32x3 CIFAR image is 3 KB, so a batch is tiny next to the model's
// work; the kernel exists so that the training set can live on the device and
// no step waits for a host-to-device copy. Each thread recomputes its
// sample's augmentation (one Philox block): cheaper than a second launch and
// a buffer, and it keeps the arithmetic identical to the host loader's.
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "kernels/augment.h"

namespace tl {
namespace {

__global__ void gather_augment_kernel(uint8_t* out, int32_t* labels_out, const uint8_t* images,
                                      const int32_t* labels, const int32_t* order, int64_t count,
                                      int64_t h, int64_t w, bool augment, uint64_t seed,
                                      int64_t epoch, int64_t pad) {
  const int64_t image_bytes = h * w * 3;
  const int64_t total = count * image_bytes;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t b = i / image_bytes, r = i % image_bytes;
    const int64_t y = r / (w * 3), x = (r / 3) % w, c = r % 3;
    const int64_t sample = order[b];
    const uint8_t* src = images + sample * image_bytes;
    if (r == 0) labels_out[b] = labels[sample];
    if (!augment) {
      out[i] = src[r];
      continue;
    }
    const Augmentation aug = augmentation_for(seed, epoch, sample, pad);
    const int64_t sy = y + aug.dy, sx = (aug.flip ? w - 1 - x : x) + aug.dx;
    out[i] = (sy < 0 || sy >= h || sx < 0 || sx >= w) ? uint8_t(0) : src[(sy * w + sx) * 3 + c];
  }
}

}  // namespace

void gather_augment_cuda(cuda::CudaState& gpu, uint8_t* out, int32_t* labels_out, const uint8_t* images,
                         const int32_t* labels, const int32_t* order, int64_t count, int64_t h,
                         int64_t w, bool augment, uint64_t seed, int64_t epoch, int64_t pad) {
  const int64_t total = count * h * w * 3;
  if (total == 0) return;
  gather_augment_kernel<<<cuda::blocks_for(total), cuda::kBlockThreads, 0, gpu.stream>>>(
      out, labels_out, images, labels, order, count, h, w, augment, seed, epoch, pad);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace tl
