// Fast CPU path for the fused softmax cross-entropy (see softmax_xent.h; the
// plain reference is kernels/reference/softmax_xent.cpp): float arithmetic,
// the samples split across the thread pool (runtime/thread_pool.h).
//   loss = mean_n [ logsumexp(z_n) - z_n[label_n] ],
//   dlogits = dloss * (softmax(z_n) - onehot(label_n)) / N.
// Each row subtracts its max before exp, so exp never overflows and the
// largest term is exp(0) = 1: logits of +-1e4 give finite values.
#include "kernels/softmax_xent.h"

#include <cmath>
#include <vector>

#include "runtime/check.h"
#include "runtime/thread_pool.h"

namespace tl {

void check_class_labels(const int32_t* labels, int64_t batch, int64_t classes) {
  for (int64_t n = 0; n < batch; ++n)
    if (labels[n] < 0 || labels[n] >= classes)
      fail("softmax_cross_entropy: sample ", n, " has label ", labels[n], ", outside [0, ",
           classes, "); check the data set's labels and the number of classes of the head");
}

template <typename T>
T softmax_xent_forward_cpu(T* probs, const T* logits, const int32_t* labels, int64_t batch,
                           int64_t classes) {
  // Labels first, serially: a bad label is an error before any work starts.
  check_class_labels(labels, batch, classes);
  std::vector<double> row_loss(static_cast<size_t>(batch));
  parallel_for(batch, batch * classes >= kParallelWorkMin / 4, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const T* z = logits + n * classes;
      T* p = probs + n * classes;
      T zmax = z[0];
      for (int64_t c = 1; c < classes; ++c) zmax = z[c] > zmax ? z[c] : zmax;
      T sum = T(0);
      for (int64_t c = 0; c < classes; ++c) {
        p[c] = std::exp(z[c] - zmax);
        sum += p[c];
      }
      const T inv = T(1) / sum;
      for (int64_t c = 0; c < classes; ++c) p[c] *= inv;
      // logsumexp(z) - z[label] = log(sum) + zmax - z[label]: the difference
      // zmax - z[label] is taken first so +-1e4 logits lose no precision.
      row_loss[static_cast<size_t>(n)] =
          static_cast<double>(std::log(sum)) + static_cast<double>(zmax - z[labels[n]]);
    }
  });
  // The mean in a fixed order (independent of the thread count), in double.
  double total = 0;
  for (double l : row_loss) total += l;
  return batch > 0 ? static_cast<T>(total / static_cast<double>(batch)) : T(0);
}

template <typename T>
void softmax_xent_backward_cpu(T* dlogits, const T* probs, const int32_t* labels, T dloss,
                               int64_t batch, int64_t classes) {
  if (batch == 0) return;
  const T scale = dloss / static_cast<T>(batch);
  parallel_for(batch, batch * classes >= kParallelWorkMin / 4, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const T* p = probs + n * classes;
      T* d = dlogits + n * classes;
      for (int64_t c = 0; c < classes; ++c) d[c] = scale * p[c];
      d[labels[n]] = scale * (p[labels[n]] - T(1));
    }
  });
}

#define TL_INSTANTIATE(T)                                                                     \
  template T softmax_xent_forward_cpu<T>(T*, const T*, const int32_t*, int64_t, int64_t);    \
  template void softmax_xent_backward_cpu<T>(T*, const T*, const int32_t*, T, int64_t, int64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
