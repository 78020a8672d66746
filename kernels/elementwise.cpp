// CPU reference for the elementwise ops (see elementwise.h).
#include "kernels/elementwise.h"

namespace tl {

template <typename T>
void relu_forward_cpu(T* y, const T* x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
}

template <typename T>
void relu_backward_cpu(T* dx, const T* dy, const T* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) dx[i] = y[i] > T(0) ? dy[i] : T(0);
}

template <typename T>
void add_forward_cpu(T* y, const T* a, const T* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

template <typename T>
void add_relu_forward_cpu(T* y, const T* a, const T* b, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    const T s = a[i] + b[i];
    y[i] = s > T(0) ? s : T(0);
  }
}

#define TL_INSTANTIATE(T)                                            \
  template void relu_forward_cpu<T>(T*, const T*, int64_t);          \
  template void relu_backward_cpu<T>(T*, const T*, const T*, int64_t); \
  template void add_forward_cpu<T>(T*, const T*, const T*, int64_t); \
  template void add_relu_forward_cpu<T>(T*, const T*, const T*, int64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
