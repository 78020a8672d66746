// CUDA fused softmax cross-entropy (same contract as kernels/softmax_xent.cpp):
//   loss = mean_n [ logsumexp(z_n) - z_n[label_n] ],  probs = softmax(z) kept
//   for the backward,  dlogits = dloss * (probs - onehot(labels)) / N.
//
// Forward, launch shape: one warp per row (8 rows per 256-thread block). The
// rows are short (10 classes for CIFAR-10, 1000 for ImageNet): a warp strides
// its row with coalesced loads and reduces with shuffles, with no shared
// memory and no __syncthreads; a block per row would leave most of its
// threads idle. Each row is stable: its max is subtracted before expf, so
// logits of +-1e4 give finite values. The max is exact (same as the CPU);
// expf is within 2 ulp of the CPU's and the row sum is a shuffle tree
// instead of a serial loop, so probs and the loss agree with the CPU to a few
// float ulps, not bit for bit.
//
// The loss is reduced on the device: each row writes its loss in double, and
// a one-block kernel adds the N row losses in a fixed order (deterministic)
// and writes the (1)-element loss tensor, as the CPU does in double.
//
// Bad labels. The kernel never indexes memory with a label it has not
// checked: a label outside [0, C) sets an error word (atomicMin of
// sample << 32 | label, so the first bad sample wins) and gives that row a NaN
// loss. The launcher reads the word back (8 bytes) and throws the CPU's
// message naming the sample. Why a device flag rather than copying the labels
// to the host first: both cost one stream synchronisation per call, but the
// flag keeps the kernel memory-safe by construction (it does not rely on a
// host check having run), copies 8 bytes instead of N*4, and works unchanged
// when the labels are produced on the device.
//
// Backward: elementwise over (N, C), one thread per logit; the scale
// dloss / N is computed in float on the host, as the CPU does.
#include <cmath>

#include "runtime/check.h"
#include "runtime/cuda/scratch.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "kernels/channel_tiling.cuh"
#include "kernels/softmax_xent.h"

namespace tl {
namespace {

constexpr int kWarpsPerBlock = cuda::kBlockThreads / 32;

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void __launch_bounds__(cuda::kBlockThreads)
    softmax_xent_forward_kernel(float* __restrict__ probs, double* __restrict__ row_loss,
                                cuda::DeferredChecks* checks, const float* __restrict__ logits,
                                const int32_t* __restrict__ labels, int64_t batch,
                                int64_t classes) {
  const int lane = threadIdx.x & 31;
  const int64_t row = int64_t(blockIdx.x) * kWarpsPerBlock + threadIdx.x / 32;
  if (row >= batch) return;  // the whole warp leaves together
  const float* z = logits + row * classes;
  float* p = probs + row * classes;
  float zmax = -INFINITY;
  for (int64_t c = lane; c < classes; c += 32) zmax = z[c] > zmax ? z[c] : zmax;
  zmax = warp_max(zmax);
  float sum = 0.0f;
  for (int64_t c = lane; c < classes; c += 32) {
    const float e = expf(z[c] - zmax);
    p[c] = e;
    sum += e;
  }
  sum = warp_sum(sum);
  const float inv = 1.0f / sum;
  // Each lane rescales the values it wrote itself: no cross-lane hazard.
  for (int64_t c = lane; c < classes; c += 32) p[c] *= inv;
  if (lane == 0) {
    const int32_t label = labels[row];
    if (label < 0 || label >= classes) {
      atomicMin(&checks->bad_label,
                (static_cast<unsigned long long>(row) << 32) |
                    static_cast<unsigned long long>(static_cast<uint32_t>(label)));
      checks->bad_label_classes = classes;
      row_loss[row] = nan("");  // so the loss is NaN and the optimiser's guard skips the update
    } else {
      // log(sum) + (zmax - z[label]): the difference first, as the CPU.
      row_loss[row] = static_cast<double>(logf(sum)) + static_cast<double>(zmax - z[label]);
    }
  }
}

// loss[0] = mean of the row losses, summed in double in a fixed order.
__global__ void __launch_bounds__(cuda::kBlockThreads)
    mean_loss_kernel(float* loss, const double* row_loss, int64_t batch) {
  __shared__ double sm[cuda::kBlockThreads];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < batch; i += blockDim.x) s += row_loss[i];
  sm[threadIdx.x] = s;
  __syncthreads();
  for (unsigned o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) sm[threadIdx.x] += sm[threadIdx.x + o];
    __syncthreads();
  }
  if (threadIdx.x == 0) loss[0] = static_cast<float>(sm[0] / static_cast<double>(batch));
}

__global__ void __launch_bounds__(cuda::kBlockThreads)
    softmax_xent_backward_kernel(float* __restrict__ dlogits, const float* __restrict__ probs,
                                 const int32_t* __restrict__ labels,
                                 const float* __restrict__ dloss, int64_t batch, int64_t classes) {
  // dloss / N in float, as the CPU; read on the device, so the host never waits for it.
  const float scale = __fdiv_rn(dloss[0], static_cast<float>(batch));
  const int64_t total = batch * classes;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t n = i / classes, c = i - n * classes;
    const float p = probs[i];
    // Compared, never used as an index: a bad label cannot fault here.
    dlogits[i] = c == labels[n] ? scale * (p - 1.0f) : scale * p;
  }
}

}  // namespace

void softmax_xent_forward_cuda(cuda::CudaState& gpu, float* loss, float* probs, const float* logits,
                               const int32_t* labels, int64_t batch, int64_t classes) {
  if (batch == 0 || classes == 0) return;
  cudaStream_t stream = gpu.stream;
  cuda::Scratch row_holder;
  double* row_loss = row_holder.take<double>(gpu, batch);
  const auto blocks = static_cast<unsigned>(cuda::ceil_div(batch, kWarpsPerBlock));
  softmax_xent_forward_kernel<<<blocks, cuda::kBlockThreads, 0, stream>>>(
      probs, row_loss, gpu.deferred_checks_on_device(), logits, labels, batch, classes);
  TL_LAUNCH_CHECK(gpu);
  mean_loss_kernel<<<1, cuda::kBlockThreads, 0, stream>>>(loss, row_loss, batch);
  TL_LAUNCH_CHECK(gpu);
  // No wait for a bad label's verdict here: the kernel recorded it in the
  // deferred checks, raised at the host's next wait for the GPU.
}

void softmax_xent_backward_cuda(cuda::CudaState& gpu, float* dlogits, const float* probs,
                                const int32_t* labels, const float* dloss, int64_t batch,
                                int64_t classes) {
  if (batch == 0 || classes == 0) return;
  softmax_xent_backward_kernel<<<cuda::blocks_for(batch * classes), cuda::kBlockThreads, 0,
                                 gpu.stream>>>(dlogits, probs, labels, dloss, batch, classes);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace tl
