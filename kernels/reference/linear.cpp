// Plain reference for the fully connected layer (kernels/reference/linear.h).
//
//   forward   y[n, o]  = b[o] + sum over i of x[n, i] * w[i, o]
//   backward  dx[n, i] = sum over o of dy[n, o] * w[i, o]     (dy w^T)
//             dw[i, o] = sum over n of x[n, i] * dy[n, o]     (x^T dy)
//             db[o]    = sum over n of dy[n, o]
//
// Each element is one dot product with its own double accumulator, rounded
// to T once. An empty sum (batch 0 for dw and db, out 0 for dx) is zero.
#include "kernels/reference/linear.h"

namespace tl {

template <typename T>
void linear_forward_reference(T* y, const T* x, const T* w, const T* b, int64_t batch,
                              int64_t in, int64_t out) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t o = 0; o < out; ++o) {
      double sum = b ? static_cast<double>(b[o]) : 0.0;
      for (int64_t i = 0; i < in; ++i)
        sum += static_cast<double>(x[n * in + i]) * static_cast<double>(w[i * out + o]);
      y[n * out + o] = static_cast<T>(sum);
    }
}

template <typename T>
void linear_backward_reference(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w,
                               int64_t batch, int64_t in, int64_t out) {
  // Step 1: dx = dy w^T, one row of w per input feature.
  if (dx)
    for (int64_t n = 0; n < batch; ++n)
      for (int64_t i = 0; i < in; ++i) {
        double sum = 0;
        for (int64_t o = 0; o < out; ++o)
          sum += static_cast<double>(dy[n * out + o]) * static_cast<double>(w[i * out + o]);
        dx[n * in + i] = static_cast<T>(sum);
      }
  // Step 2: dw = x^T dy, summed over the batch.
  if (dw)
    for (int64_t i = 0; i < in; ++i)
      for (int64_t o = 0; o < out; ++o) {
        double sum = 0;
        for (int64_t n = 0; n < batch; ++n)
          sum += static_cast<double>(x[n * in + i]) * static_cast<double>(dy[n * out + o]);
        dw[i * out + o] = static_cast<T>(sum);
      }
  // Step 3: db = the column sums of dy.
  if (db)
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0;
      for (int64_t n = 0; n < batch; ++n) sum += static_cast<double>(dy[n * out + o]);
      db[o] = static_cast<T>(sum);
    }
}

#define TL_INSTANTIATE(T)                                                                     \
  template void linear_forward_reference<T>(T*, const T*, const T*, const T*, int64_t,       \
                                            int64_t, int64_t);                                \
  template void linear_backward_reference<T>(T*, T*, T*, const T*, const T*, const T*,       \
                                             int64_t, int64_t, int64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
