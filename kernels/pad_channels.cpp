#include "kernels/pad_channels.h"
#include "runtime/thread_pool.h"

namespace tl {

template <typename T>
void pad_channels_cpu(T* y, const T* x, int64_t rows, int64_t c_in, int64_t c_out) {
  parallel_for(rows, rows * c_out > (1 << 16), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t c = 0; c < c_out; ++c) y[r * c_out + c] = c < c_in ? x[r * c_in + c] : T(0);
  });
}

template <typename T>
void unpad_channels_cpu(T* dx, const T* dy, int64_t rows, int64_t c_in, int64_t c_out) {
  parallel_for(rows, rows * c_in > (1 << 16), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      for (int64_t c = 0; c < c_in; ++c) dx[r * c_in + c] = dy[r * c_out + c];
  });
}

template void pad_channels_cpu<float>(float*, const float*, int64_t, int64_t, int64_t);
template void pad_channels_cpu<uint16_t>(uint16_t*, const uint16_t*, int64_t, int64_t, int64_t);
template void unpad_channels_cpu<float>(float*, const float*, int64_t, int64_t, int64_t);
template void unpad_channels_cpu<uint16_t>(uint16_t*, const uint16_t*, int64_t, int64_t, int64_t);

}  // namespace tl
