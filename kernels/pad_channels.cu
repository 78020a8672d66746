// Channel padding on the GPU: one thread per output element, a grid-stride
// loop; consecutive threads write consecutive elements (coalesced). The
// inputs are a few MB (the stem's image): the launch is most of the cost.
#include "kernels/pad_channels.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"

namespace tl {
namespace {

template <typename T>
__global__ void pad_kernel(T* y, const T* x, int64_t rows, int64_t c_in, int64_t c_out) {
  const int64_t total = rows * c_out;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / c_out, c = i - r * c_out;
    y[i] = c < c_in ? x[r * c_in + c] : T(0);
  }
}

template <typename T>
__global__ void unpad_kernel(T* dx, const T* dy, int64_t rows, int64_t c_in, int64_t c_out) {
  const int64_t total = rows * c_in;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < total;
       i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t r = i / c_in, c = i - r * c_in;
    dx[i] = dy[r * c_out + c];
  }
}

template <typename T>
void pad(cuda::CudaState& gpu, T* y, const T* x, int64_t rows, int64_t c_in, int64_t c_out) {
  const int64_t total = rows * c_out;
  if (total == 0) return;
  pad_kernel<<<cuda::blocks_for(total), cuda::kBlockThreads, 0, gpu.stream>>>(y, x, rows, c_in,
                                                                              c_out);
  TL_LAUNCH_CHECK(gpu);
}

template <typename T>
void unpad(cuda::CudaState& gpu, T* dx, const T* dy, int64_t rows, int64_t c_in, int64_t c_out) {
  const int64_t total = rows * c_in;
  if (total == 0) return;
  unpad_kernel<<<cuda::blocks_for(total), cuda::kBlockThreads, 0, gpu.stream>>>(dx, dy, rows,
                                                                                c_in, c_out);
  TL_LAUNCH_CHECK(gpu);
}

}  // namespace

void pad_channels_cuda(cuda::CudaState& gpu, float* y, const float* x, int64_t rows, int64_t c_in,
                       int64_t c_out) {
  pad(gpu, y, x, rows, c_in, c_out);
}
void pad_channels_cuda(cuda::CudaState& gpu, uint16_t* y, const uint16_t* x, int64_t rows,
                       int64_t c_in, int64_t c_out) {
  pad(gpu, y, x, rows, c_in, c_out);
}
void unpad_channels_cuda(cuda::CudaState& gpu, float* dx, const float* dy, int64_t rows,
                         int64_t c_in, int64_t c_out) {
  unpad(gpu, dx, dy, rows, c_in, c_out);
}
void unpad_channels_cuda(cuda::CudaState& gpu, uint16_t* dx, const uint16_t* dy, int64_t rows,
                         int64_t c_in, int64_t c_out) {
  unpad(gpu, dx, dy, rows, c_in, c_out);
}

}  // namespace tl
