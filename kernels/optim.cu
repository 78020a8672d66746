// CUDA optimiser updates (same rules as kernels/optim.cpp, PyTorch's): SGD
// (momentum, Nesterov, weight decay) and Adam / AdamW, applied to ALL the
// parameters of a step in ONE launch (a multi-tensor kernel).
//
// Why one launch: ResNet50 plus the head has ~230 parameter tensors, most of
// them tiny (BN gammas and conv biases of 64..2048 values). One launch per
// tensor would cost ~230 launch latencies (~2-4 us each, ~0.7 ms) per step,
// more than moving the Adam traffic itself takes (0.7 GB with the
// global-average-pool head: ~0.16 ms at 4.3 TB/s), and the small launches
// would leave most SMs idle.
//
// Layout: a device array of descriptors {param, grad, state pointers, n,
// first_block, per-tensor scalars}. Each tensor is cut into chunks of
// kChunk elements; block b finds its tensor by a binary search over
// first_block (thread 0, ~8 steps for 230 tensors, then broadcast through
// shared memory) and updates chunk b - first_block with 256 threads striding
// it (coalesced). The per-tensor scalars (bias corrections, which depend on
// each parameter's own step count, and the group's hyper-parameters) are
// computed on the host exactly as optim.cpp computes them.
//
// The descriptor array (~20 KB) goes to scratch device memory through the
// CudaState's pinned staging ring (runtime/cuda/staged_upload.h): a copy
// from pageable memory could make the host wait for the GPU mid-step. The
// stream orders the copy before the kernel. In a CUDA graph the kernel is
// captured reading a fixed buffer, and the descriptors of each step are
// uploaded there before the replay (*_write_descriptors_cuda): the learning
// rate and the bias corrections change every step, the graph does not.
//
// The guard: a device pointer to the step's loss. When it is not finite
// every block returns before touching anything, so a NaN step leaves the
// weights and the state as they were, decided on the GPU without the host
// reading the loss (layers/training_step.cpp).
//
// Arithmetic: the CPU's float expressions in the CPU's order, rounded step by
// step (mul_exact, add_exact, sub_exact: kernels/exact_math.cuh; __fdiv_rn,
// __fsqrt_rn), so nvcc cannot contract them into FMAs: every update is
// bit-identical to the CPU's.
// Memory traffic per element: SGD with momentum reads p, g, v and writes p, v
// (20 bytes); Adam reads p, g, m, v and writes p, m, v (28 bytes).
#include <algorithm>
#include <cmath>
#include <vector>

#include "runtime/check.h"
#include "runtime/cuda/scratch.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/staged_upload.h"
#include "kernels/channel_tiling.cuh"
#include "kernels/exact_math.cuh"
#include "kernels/optim.h"

namespace tl {
namespace {

using cuda::add_exact;
using cuda::mul_exact;
using cuda::sub_exact;

// Elements per block: 32 per thread. The tensor search costs thread 0 ~9
// dependent L2 reads (~2 us); a chunk of 8192 Adam elements is ~230 KB of
// traffic, so the search is a few percent of a block's life, and ResNet50
// plus the head (~24-50 M values) still makes thousands of blocks.
constexpr int64_t kChunk = 32 * cuda::kBlockThreads;

struct SgdDesc {
  float* param;
  float* velocity;  // null when momentum == 0
  const float* grad;
  int64_t n, first_block;
  float lr, momentum, weight_decay;
  int nesterov;
};

struct AdamDesc {
  float* param;
  float* m;
  float* v;
  const float* grad;
  int64_t n, first_block;
  float beta1, beta2, one_minus_beta1, one_minus_beta2, eps, weight_decay;
  float step_size, bias2_sqrt, decay;
  int decoupled;
};

// The descriptor whose chunks include block b: the last with first_block <= b.
template <typename Desc>
__device__ __forceinline__ const Desc& find_desc(const Desc* descs, int count) {
  __shared__ int found;
  if (threadIdx.x == 0) {
    int lo = 0, hi = count - 1;
    const int64_t b = blockIdx.x;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (descs[mid].first_block <= b) lo = mid;
      else hi = mid - 1;
    }
    found = lo;
  }
  __syncthreads();
  return descs[found];
}

__global__ void __launch_bounds__(cuda::kBlockThreads)
    sgd_multi_tensor_kernel(const SgdDesc* __restrict__ descs, int count,
                            const float* __restrict__ guard) {
  if (guard && !isfinite(*guard)) return;  // the whole block: before find_desc's barrier
  const SgdDesc d = find_desc(descs, count);
  const int64_t begin = (int64_t(blockIdx.x) - d.first_block) * kChunk;
  const int64_t end = begin + kChunk < d.n ? begin + kChunk : d.n;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float p = d.param[i];
    float g = d.grad[i];
    if (d.weight_decay != 0.0f) g = add_exact(g, mul_exact(d.weight_decay, p));
    if (d.momentum != 0.0f) {
      const float v = add_exact(mul_exact(d.momentum, d.velocity[i]), g);
      d.velocity[i] = v;
      g = d.nesterov ? add_exact(g, mul_exact(d.momentum, v)) : v;
    }
    d.param[i] = sub_exact(p, mul_exact(d.lr, g));
  }
}

__global__ void __launch_bounds__(cuda::kBlockThreads)
    adam_multi_tensor_kernel(const AdamDesc* __restrict__ descs, int count,
                             const float* __restrict__ guard) {
  if (guard && !isfinite(*guard)) return;  // the whole block: before find_desc's barrier
  const AdamDesc d = find_desc(descs, count);
  const int64_t begin = (int64_t(blockIdx.x) - d.first_block) * kChunk;
  const int64_t end = begin + kChunk < d.n ? begin + kChunk : d.n;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float p = mul_exact(d.param[i], d.decay);  // AdamW: shrink first
    float g = d.grad[i];
    if (!d.decoupled && d.weight_decay != 0.0f) g = add_exact(g, mul_exact(d.weight_decay, p));
    const float mi = add_exact(mul_exact(d.beta1, d.m[i]), mul_exact(d.one_minus_beta1, g));
    const float vi =
        add_exact(mul_exact(d.beta2, d.v[i]), mul_exact(mul_exact(d.one_minus_beta2, g), g));
    d.m[i] = mi;
    d.v[i] = vi;
    // p - step_size * (m / (sqrt(v) / sqrt(bias2) + eps)), PyTorch's grouping.
    const float denom = add_exact(__fdiv_rn(__fsqrt_rn(vi), d.bias2_sqrt), d.eps);
    d.param[i] = sub_exact(p, mul_exact(d.step_size, __fdiv_rn(mi, denom)));
  }
}

// Gives every descriptor its first block; returns the total block count.
template <typename Desc>
int64_t assign_blocks(std::vector<Desc>& descs) {
  int64_t blocks = 0;
  for (Desc& d : descs) {
    d.first_block = blocks;
    blocks += cuda::ceil_div(d.n, kChunk);
  }
  return blocks;
}

// All parameters of a step are updated concurrently, so one listed twice
// would race (torch.optim refuses it too).
template <typename Ref>
void check_distinct(const std::vector<Ref>& tensors, const char* opt) {
  std::vector<const float*> params;
  params.reserve(tensors.size());
  for (const Ref& t : tensors) params.push_back(t.param);
  std::sort(params.begin(), params.end());
  if (std::adjacent_find(params.begin(), params.end()) != params.end())
    fail(opt, ": a parameter appears more than once in the parameter groups; list each "
              "parameter in exactly one group");
}

// Launches `kernel` once over descriptors already on the device.
template <typename Desc, typename Kernel>
void launch_over(cuda::CudaState& gpu, const Desc* device_descs, size_t count, int64_t blocks,
                 Kernel kernel, const float* guard, const char* opt) {
  if (blocks == 0) return;
  if (blocks > 0x7fffffff || count > 0x7fffffff)
    fail(opt, ": too many parameter elements for one launch (", blocks, " blocks)");
  kernel<<<static_cast<unsigned>(blocks), cuda::kBlockThreads, 0, gpu.stream>>>(
      device_descs, static_cast<int>(count), guard);
  TL_LAUNCH_CHECK(gpu);
}

// Copies the descriptors to scratch device memory and launches `kernel` once.
template <typename Desc, typename Kernel>
void launch_multi_tensor(cuda::CudaState& gpu, std::vector<Desc>& descs, Kernel kernel,
                         const float* guard, const char* opt) {
  const int64_t blocks = assign_blocks(descs);
  if (blocks == 0) return;
  cuda::Scratch holder;
  Desc* device_descs = holder.take<Desc>(gpu, static_cast<int64_t>(descs.size()));
  gpu.uploads->copy(gpu.stream, device_descs, descs.data(), descs.size() * sizeof(Desc));
  launch_over(gpu, device_descs, descs.size(), blocks, kernel, guard, opt);
}

// The graph form: the descriptors go to (write) or are read from (launch) a
// fixed device buffer.
template <typename Desc>
void write_descriptors(cuda::CudaState& gpu, std::vector<Desc>& descs, void* device_descs) {
  assign_blocks(descs);
  if (!descs.empty())
    gpu.uploads->copy(gpu.stream, device_descs, descs.data(), descs.size() * sizeof(Desc));
}

std::vector<SgdDesc> sgd_descriptors(const std::vector<SgdTensorRef>& tensors) {
  check_distinct(tensors, "sgd");
  std::vector<SgdDesc> descs;
  descs.reserve(tensors.size());
  for (const SgdTensorRef& t : tensors) {
    if (t.n == 0) continue;
    const SgdUpdate& h = t.update;
    if (h.momentum != 0.0f && !t.velocity)
      fail("sgd: momentum ", h.momentum, " needs a velocity buffer (internal error)");
    descs.push_back(SgdDesc{t.param, h.momentum != 0.0f ? t.velocity : nullptr, t.grad, t.n, 0,
                            h.lr, h.momentum, h.weight_decay, h.nesterov ? 1 : 0});
  }
  return descs;
}

std::vector<AdamDesc> adam_descriptors(const std::vector<AdamTensorRef>& tensors) {
  check_distinct(tensors, "adam");
  std::vector<AdamDesc> descs;
  descs.reserve(tensors.size());
  for (const AdamTensorRef& t : tensors) {
    if (t.n == 0) continue;
    const AdamUpdate& h = t.update;
    // The step-dependent scalars exactly as adam_update_cpu computes them.
    const double step = static_cast<double>(t.step);
    const double bias1 = 1.0 - std::pow(static_cast<double>(h.beta1), step);
    const double bias2 = 1.0 - std::pow(static_cast<double>(h.beta2), step);
    AdamDesc d{};
    d.param = t.param;
    d.m = t.m;
    d.v = t.v;
    d.grad = t.grad;
    d.n = t.n;
    d.beta1 = h.beta1;
    d.beta2 = h.beta2;
    d.one_minus_beta1 = 1.0f - h.beta1;
    d.one_minus_beta2 = 1.0f - h.beta2;
    d.eps = h.eps;
    d.weight_decay = h.weight_decay;
    d.step_size = static_cast<float>(static_cast<double>(h.lr) / bias1);
    d.bias2_sqrt = static_cast<float>(std::sqrt(bias2));
    d.decay = h.decoupled ? static_cast<float>(1.0 - static_cast<double>(h.lr) *
                                                         static_cast<double>(h.weight_decay))
                          : 1.0f;
    d.decoupled = h.decoupled ? 1 : 0;
    descs.push_back(d);
  }
  return descs;
}

}  // namespace

void sgd_update_cuda(cuda::CudaState& gpu, const std::vector<SgdTensorRef>& tensors,
                     const float* skip_if_not_finite) {
  std::vector<SgdDesc> descs = sgd_descriptors(tensors);
  launch_multi_tensor(gpu, descs, sgd_multi_tensor_kernel, skip_if_not_finite, "sgd");
}

void adam_update_cuda(cuda::CudaState& gpu, const std::vector<AdamTensorRef>& tensors,
                      const float* skip_if_not_finite) {
  std::vector<AdamDesc> descs = adam_descriptors(tensors);
  launch_multi_tensor(gpu, descs, adam_multi_tensor_kernel, skip_if_not_finite, "adam");
}

size_t sgd_descriptor_bytes(const std::vector<SgdTensorRef>& tensors) {
  return sgd_descriptors(tensors).size() * sizeof(SgdDesc);
}

void sgd_write_descriptors_cuda(cuda::CudaState& gpu, const std::vector<SgdTensorRef>& tensors,
                                void* descriptors) {
  std::vector<SgdDesc> descs = sgd_descriptors(tensors);
  write_descriptors(gpu, descs, descriptors);
}

void sgd_launch_cuda(cuda::CudaState& gpu, const std::vector<SgdTensorRef>& tensors,
                     const void* descriptors, const float* skip_if_not_finite) {
  std::vector<SgdDesc> descs = sgd_descriptors(tensors);
  const int64_t blocks = assign_blocks(descs);
  launch_over(gpu, static_cast<const SgdDesc*>(descriptors), descs.size(), blocks,
              sgd_multi_tensor_kernel, skip_if_not_finite, "sgd");
}

size_t adam_descriptor_bytes(const std::vector<AdamTensorRef>& tensors) {
  return adam_descriptors(tensors).size() * sizeof(AdamDesc);
}

void adam_write_descriptors_cuda(cuda::CudaState& gpu, const std::vector<AdamTensorRef>& tensors,
                                 void* descriptors) {
  std::vector<AdamDesc> descs = adam_descriptors(tensors);
  write_descriptors(gpu, descs, descriptors);
}

void adam_launch_cuda(cuda::CudaState& gpu, const std::vector<AdamTensorRef>& tensors,
                      const void* descriptors, const float* skip_if_not_finite) {
  std::vector<AdamDesc> descs = adam_descriptors(tensors);
  const int64_t blocks = assign_blocks(descs);
  launch_over(gpu, static_cast<const AdamDesc*>(descriptors), descs.size(), blocks,
              adam_multi_tensor_kernel, skip_if_not_finite, "adam");
}

}  // namespace tl
