// Dense layer on the GPU (linear.h): y = x w + b and its gradients, with
// cuBLAS SGEMM for the three products and two small kernels for the bias.
//
// Layout: row-major, as everywhere in tl: x (N, in), w (in, out) (Keras's
// Dense kernel layout), y (N, out), b (out).
//
// The transposition trick. cuBLAS is column-major: it reads an array with
// leading dimension ld as a matrix whose COLUMNS are contiguous. A row-major
// (r, c) matrix M is, byte for byte, the column-major (c, r) matrix M^T with
// ld = c. So instead of asking cuBLAS for a row-major product C = A B, we ask
// it for C^T = B^T A^T on the same buffers, which needs no copy and no
// transpose flag:
//   y  = x w      ->  y^T  (out, N)  = w^T (out, in)  * x^T  (in, N)
//                     gemm(N, N, m=out, n=N,  k=in,  A=w,  lda=out, B=x,  ldb=in,  C=y,  ldc=out)
//   dx = dy w^T   ->  dx^T (in, N)   = w   (in, out)  * dy^T (out, N)
//                     (w's buffer reads as w^T (out, in): transpose it back with op T)
//                     gemm(T, N, m=in,  n=N,  k=out, A=w,  lda=out, B=dy, ldb=out, C=dx, ldc=in)
//   dw = x^T dy   ->  dw^T (out, in) = dy^T (out, N)  * x    (N, in)
//                     (x's buffer reads as x^T (in, N): op T gives x)
//                     gemm(N, T, m=out, n=in, k=N,   A=dy, lda=out, B=x,  ldb=in,  C=dw, ldc=out)
//
// Bias: added by a grid-stride kernel after the GEMM (float4 when out % 4 == 0),
// rather than by seeding y with the bias and running the GEMM with beta = 1:
// the same memory traffic, and the GEMM keeps beta = 0 (no read of y).
// The bias gradient is a column sum of dy, by a deterministic two-pass
// reduction (see bias_grad_rows_cuda) shared with the convolutions, whose
// NHWC output is a (N*H*W, C) matrix too.
//
// Math: the Context's cuBLAS handle runs CUBLAS_PEDANTIC_MATH (strict FP32)
// unless the Context allows TF32 (CUBLAS_TF32_TENSOR_OP_MATH): see
// CudaState::set_allow_tf32.
#include <climits>

#include "runtime/cuda/scratch.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "runtime/cuda/launch.h"
#include "kernels/channel_tiling.cuh"
#include "kernels/linear.h"

namespace tl {
namespace {

// y[r, c] += bias[c] over n = rows * cols elements, VEC consecutive channels
// per step (cols % VEC == 0, so a vector never straddles two rows).
template <int VEC>
__global__ void bias_add_kernel(float* y, const float* bias, int64_t n_vec, int64_t cols_vec) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n_vec;
       i += int64_t(gridDim.x) * blockDim.x) {
    float v[VEC], b[VEC];
    cuda::load_vec<VEC>(v, y + i * VEC);
    cuda::load_vec<VEC>(b, bias + (i % cols_vec) * VEC);
#pragma unroll
    for (int k = 0; k < VEC; ++k) v[k] += b[k];
    cuda::store_vec<VEC>(y + i * VEC, v);
  }
}

// The column-sum block: 32 lanes along the columns (a warp reads 128
// contiguous bytes of one row) times 8 rows.
constexpr int kSumLanes = 32, kSumRows = 8;

// partial[chunk, c] = sum of dy[r, c] over the rows of this block's chunk.
// Each thread sums every 8th row of the chunk in order, then thread row 0
// adds the 8 thread sums in order: a fixed order, so the result is the same
// on every run. Sums are kept in double, as the CPU reference does: a float
// running sum over up to 802,816 rows (the stem's bias at batch 64) would
// lose about three digits.
__global__ void column_partial_sums_kernel(float* partial, const float* dy, int64_t rows,
                                           int64_t cols, int64_t rows_per_chunk) {
  __shared__ double sums[kSumRows][kSumLanes + 1];  // +1: no bank conflicts on the transpose read
  const int64_t c = blockIdx.x * int64_t(kSumLanes) + threadIdx.x;
  const int64_t r0 = blockIdx.y * rows_per_chunk;
  const int64_t r1 = r0 + rows_per_chunk < rows ? r0 + rows_per_chunk : rows;
  double s = 0.0;
  if (c < cols)
    for (int64_t r = r0 + threadIdx.y; r < r1; r += kSumRows) s += dy[r * cols + c];
  sums[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    double t = 0.0;
#pragma unroll
    for (int k = 0; k < kSumRows; ++k) t += sums[k][threadIdx.x];
    partial[blockIdx.y * cols + c] = static_cast<float>(t);
  }
}

// out[c] = sum over chunks of partial[chunk, c], chunks in order.
__global__ void column_sum_kernel(float* out, const float* partial, int64_t chunks, int64_t cols) {
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < cols;
       c += int64_t(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (int64_t k = 0; k < chunks; ++k) s += partial[k * cols + c];
    out[c] = static_cast<float>(s);
  }
}

int checked_int(int64_t v, const char* what) {
  if (v > INT_MAX) fail("linear (CUDA): ", what, " = ", v, " exceeds cuBLAS's 32-bit sizes");
  return static_cast<int>(v);
}

// C (m x n, column-major, ldc) = op(A) op(B), k the shared dimension. k == 0
// is an empty sum: C = 0 (cuBLAS would leave C untouched).
void sgemm(cuda::CudaState& gpu, cublasOperation_t op_a, cublasOperation_t op_b, int64_t m, int64_t n,
           int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
           int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    TL_CUDA_CHECK(cudaMemsetAsync(c, 0, size_t(m) * size_t(n) * sizeof(float), gpu.stream));
    return;
  }
  const float one = 1.0f, zero = 0.0f;
  TL_CUBLAS_CHECK(cublasSgemm(gpu.cublas, op_a, op_b, checked_int(m, "m"),
                              checked_int(n, "n"), checked_int(k, "k"), &one, a,
                              checked_int(lda, "lda"), b, checked_int(ldb, "ldb"), &zero, c,
                              checked_int(ldc, "ldc")));
  if (gpu.sync_check) TL_CUDA_CHECK(cudaStreamSynchronize(gpu.stream));
}

}  // namespace

void bias_add_rows_cuda(cuda::CudaState& gpu, float* y, const float* bias, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n == 0) return;
  cudaStream_t stream = gpu.stream;
  if (cols % 4 == 0 && cuda::aligned16(y) && cuda::aligned16(bias)) {
    bias_add_kernel<4><<<cuda::blocks_for(n / 4), cuda::kBlockThreads, 0, stream>>>(
        y, bias, n / 4, cols / 4);
  } else {
    bias_add_kernel<1><<<cuda::blocks_for(n), cuda::kBlockThreads, 0, stream>>>(y, bias, n,
                                                                                      cols);
  }
  TL_LAUNCH_CHECK(gpu);
}

void bias_grad_rows_cuda(cuda::CudaState& gpu, float* db, const float* dy, int64_t rows, int64_t cols) {
  if (cols == 0) return;
  cudaStream_t stream = gpu.stream;
  if (rows == 0) {  // an empty sum
    TL_CUDA_CHECK(cudaMemsetAsync(db, 0, size_t(cols) * sizeof(float), stream));
    return;
  }
  // Chunks of at least 256 rows (32 per thread, enough to hide the load
  // latency), and at most ~4096 blocks in all: plenty to fill 132 SMs while
  // keeping the second pass (chunks values per column) short.
  const int64_t col_tiles = cuda::ceil_div(cols, kSumLanes);
  int64_t chunks = cuda::ceil_div(rows, 256);
  const int64_t max_chunks = 4096 / col_tiles > 1 ? 4096 / col_tiles : 1;
  if (chunks > max_chunks) chunks = max_chunks;
  const int64_t rows_per_chunk = cuda::ceil_div(rows, chunks);
  chunks = cuda::ceil_div(rows, rows_per_chunk);  // no empty chunk at the end
  if (col_tiles > INT_MAX) fail("linear (CUDA): ", cols, " columns is too many for the bias gradient");

  const dim3 block(kSumLanes, kSumRows);
  const dim3 grid(static_cast<unsigned>(col_tiles), static_cast<unsigned>(chunks));
  if (chunks == 1) {  // one chunk: its partial sums are the result
    column_partial_sums_kernel<<<grid, block, 0, stream>>>(db, dy, rows, cols, rows_per_chunk);
    TL_LAUNCH_CHECK(gpu);
    return;
  }
  cuda::Scratch holder;
  float* partial = holder.take<float>(gpu, chunks * cols);
  column_partial_sums_kernel<<<grid, block, 0, stream>>>(partial, dy, rows, cols, rows_per_chunk);
  TL_LAUNCH_CHECK(gpu);
  column_sum_kernel<<<cuda::blocks_for(cols), cuda::kBlockThreads, 0, stream>>>(
      db, partial, chunks, cols);
  TL_LAUNCH_CHECK(gpu);
}

void linear_forward_cuda(cuda::CudaState& gpu, float* y, const float* x, const float* w, const float* b,
                         int64_t batch, int64_t in, int64_t out) {
  // y^T (out, N) = w^T (out, in) * x^T (in, N): see the comment at the top.
  sgemm(gpu, CUBLAS_OP_N, CUBLAS_OP_N, out, batch, in, w, out, x, in, y, out);
  if (b) bias_add_rows_cuda(gpu, y, b, batch, out);
}

void linear_backward_cuda(cuda::CudaState& gpu, float* dx, float* dw, float* db, const float* dy,
                          const float* x, const float* w, int64_t batch, int64_t in,
                          int64_t out) {
  // dx^T (in, N) = w (in, out) * dy^T (out, N)
  if (dx) sgemm(gpu, CUBLAS_OP_T, CUBLAS_OP_N, in, batch, out, w, out, dy, out, dx, in);
  // dw^T (out, in) = dy^T (out, N) * x (N, in)
  if (dw) sgemm(gpu, CUBLAS_OP_N, CUBLAS_OP_T, out, in, batch, dy, out, x, in, dw, out);
  if (db) bias_grad_rows_cuda(gpu, db, dy, batch, out);
}

}  // namespace tl
