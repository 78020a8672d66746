// float32 <-> bfloat16 conversion kernels and the bf16 gradient sum. Each
// thread converts one value with runtime/bf16.h's functions, the very code
// the CPU runs, so the results are bit-identical (not __float2bfloat16_rn:
// it rounds the same way, but one definition is easier to trust). Purely
// memory-bound: 6 bytes moved per value for a conversion, 6 for the sum.
#include "kernels/cast.h"
#include "runtime/bf16.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"

namespace tl {
namespace {

__global__ void float_to_bf16_kernel(uint16_t* y, const float* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = bf16_bits_from_float(x[i]);
}

__global__ void bf16_to_float_kernel(float* y, const uint16_t* x, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = float_from_bf16_bits(x[i]);
}

__global__ void add_bf16_kernel(uint16_t* y, const uint16_t* a, const uint16_t* b, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x)
    y[i] = bf16_bits_from_float(__fadd_rn(float_from_bf16_bits(a[i]), float_from_bf16_bits(b[i])));
}

}  // namespace

void float_to_bf16_cuda(cuda::CudaState& gpu, uint16_t* y, const float* x, int64_t n) {
  if (n == 0) return;
  float_to_bf16_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(y, x, n);
  TL_LAUNCH_CHECK(gpu);
}

void bf16_to_float_cuda(cuda::CudaState& gpu, float* y, const uint16_t* x, int64_t n) {
  if (n == 0) return;
  bf16_to_float_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(y, x, n);
  TL_LAUNCH_CHECK(gpu);
}

void add_bf16_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* a, const uint16_t* b,
                   int64_t n) {
  if (n == 0) return;
  add_bf16_kernel<<<cuda::blocks_for(n), cuda::kBlockThreads, 0, gpu.stream>>>(y, a, b, n);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace tl
