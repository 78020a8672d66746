// Plain reference for the fused softmax cross-entropy
// (kernels/reference/softmax_xent.h). For sample n with logits z and label t:
//
//   softmax   p[c] = exp(z[c] - zmax) / sum over c' of exp(z[c'] - zmax)
//   loss_n    = logsumexp(z) - z[t] = log(sum) + zmax - z[t]
//   loss      = the mean of loss_n over the batch
//   dlogits   = dloss * (p - onehot(t)) / N
//
// zmax = the largest logit: subtracting it changes nothing mathematically and
// makes the largest exp exactly 1, so no exp overflows (logits of +-1e4 are
// fine). Everything is computed in double and rounded to T once.
#include "kernels/reference/softmax_xent.h"

#include <cmath>

#include "kernels/softmax_xent.h"  // check_class_labels

namespace tl {

template <typename T>
T softmax_xent_forward_reference(T* probs, const T* logits, const int32_t* labels, int64_t batch,
                                 int64_t classes) {
  check_class_labels(labels, batch, classes);
  double loss_sum = 0;
  for (int64_t n = 0; n < batch; ++n) {
    const T* z = logits + n * classes;
    // Step 1: the largest logit of the sample.
    double zmax = z[0];
    for (int64_t c = 1; c < classes; ++c) zmax = z[c] > zmax ? z[c] : zmax;
    // Step 2: the softmax's denominator.
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(z[c]) - zmax);
    // Step 3: the softmax, kept for the backward.
    for (int64_t c = 0; c < classes; ++c)
      probs[n * classes + c] = static_cast<T>(std::exp(static_cast<double>(z[c]) - zmax) / sum);
    // Step 4: this sample's loss.
    loss_sum += std::log(sum) + (zmax - static_cast<double>(z[labels[n]]));
  }
  return batch > 0 ? static_cast<T>(loss_sum / static_cast<double>(batch)) : T(0);
}

template <typename T>
void softmax_xent_backward_reference(T* dlogits, const T* probs, const int32_t* labels, T dloss,
                                     int64_t batch, int64_t classes) {
  const double scale = static_cast<double>(dloss) / static_cast<double>(batch);
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t c = 0; c < classes; ++c) {
      const double onehot = c == labels[n] ? 1.0 : 0.0;
      dlogits[n * classes + c] =
          static_cast<T>(scale * (static_cast<double>(probs[n * classes + c]) - onehot));
    }
}

#define TL_INSTANTIATE(T)                                                                      \
  template T softmax_xent_forward_reference<T>(T*, const T*, const int32_t*, int64_t, int64_t); \
  template void softmax_xent_backward_reference<T>(T*, const T*, const int32_t*, T, int64_t,    \
                                                   int64_t);
TL_INSTANTIATE(float)
TL_INSTANTIATE(double)
#undef TL_INSTANTIATE

}  // namespace tl
