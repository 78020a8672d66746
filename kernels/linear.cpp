// Fast CPU path for the fully connected layer (see linear.h; the plain dot
// products are kernels/reference/linear.cpp): y = x w + b with
// x (N, in), w (in, out), all row-major. Every product is one call to
// gemm_cpu (BLAS when available), so the Dense layers of the head cost what
// the GEMM costs; the bias is a broadcast add over rows.
#include "kernels/linear.h"

#include "kernels/gemm.h"
#include "runtime/thread_pool.h"

namespace tl {

template <typename T>
void linear_forward_cpu(T* y, const T* x, const T* w, const T* b, int64_t batch, int64_t in,
                        int64_t out) {
  // Start y from the bias (or zero) so the GEMM can accumulate into it with beta = 1.
  parallel_for(batch, batch * out >= kParallelWorkMin, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n)
      for (int64_t o = 0; o < out; ++o) y[n * out + o] = b ? b[o] : T(0);
  });
  if (batch == 0 || out == 0 || in == 0) return;
  // y (N, out) += x (N, in) * w (in, out)
  gemm_cpu<T>(false, false, batch, out, in, T(1), x, in, w, out, T(1), y, out);
}

template <typename T>
void linear_backward_cpu(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t batch,
                         int64_t in, int64_t out) {
  // dx (N, in) = dy (N, out) * w^T (out, in)
  if (dx) {
    if (out == 0) {
      for (int64_t i = 0; i < batch * in; ++i) dx[i] = T(0);
    } else if (batch > 0 && in > 0) {
      gemm_cpu<T>(false, true, batch, in, out, T(1), dy, out, w, out, T(0), dx, in);
    }
  }
  // dw (in, out) = x^T (in, N) * dy (N, out)
  if (dw) {
    if (batch == 0) {
      for (int64_t i = 0; i < in * out; ++i) dw[i] = T(0);
    } else if (in > 0 && out > 0) {
      gemm_cpu<T>(true, false, in, out, batch, T(1), x, in, dy, out, T(0), dw, out);
    }
  }
  // db (out) = column sums of dy; each thread owns a set of columns, rows
  // summed in order so the result does not depend on the thread count.
  if (db) {
    parallel_for(out, batch * out >= kParallelWorkMin, [&](int64_t begin, int64_t end) {
      for (int64_t o = begin; o < end; ++o) {
        T s = T(0);
        for (int64_t n = 0; n < batch; ++n) s += dy[n * out + o];
        db[o] = s;
      }
    });
  }
}

#define TL_INSTANTIATE(T)                                                                    \
  template void linear_forward_cpu<T>(T*, const T*, const T*, const T*, int64_t, int64_t,   \
                                      int64_t);                                              \
  template void linear_backward_cpu<T>(T*, T*, T*, const T*, const T*, const T*, int64_t,   \
                                       int64_t, int64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
