// The CPU optimiser updates (see optim.h). Each is one plain loop (OpenMP
// only splits the index range), so it is both the fast path and its own
// reference (docs/cpu_reference.md): element by element, with PyTorch's
// update rules (torch.optim.SGD with dampening 0, torch.optim.Adam and
// AdamW), so a run here can be checked step by step against torch.optim.
//
// Precision follows PyTorch's float32 path: the per-element arithmetic is in
// float, while the scalar factors that depend on the step (the bias
// corrections) are computed in double, as Python computes them, and rounded
// to float once.
#include "kernels/optim.h"

#include <cmath>

namespace tl {

void sgd_update_cpu(float* param, float* velocity, const float* grad, int64_t n, const SgdUpdate& h) {
  const float lr = h.lr, momentum = h.momentum, wd = h.weight_decay;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float g = grad[i];
    if (wd != 0.0f) g += wd * param[i];
    if (momentum != 0.0f) {
      // With a zero velocity the first step gives v = g, which is PyTorch's
      // "buffer = clone(grad)" on the first step.
      const float v = momentum * velocity[i] + g;
      velocity[i] = v;
      g = h.nesterov ? g + momentum * v : v;
    }
    param[i] -= lr * g;
  }
}

void adam_update_cpu(float* param, float* m, float* v, const float* grad, int64_t n,
                     const AdamUpdate& h, int64_t step) {
  const float beta1 = h.beta1, beta2 = h.beta2, wd = h.weight_decay, eps = h.eps;
  const double t = static_cast<double>(step);
  const double bias1 = 1.0 - std::pow(static_cast<double>(beta1), t);
  const double bias2 = 1.0 - std::pow(static_cast<double>(beta2), t);
  // p -= (lr / bias1) * m / (sqrt(v) / sqrt(bias2) + eps), PyTorch's grouping.
  const float step_size = static_cast<float>(static_cast<double>(h.lr) / bias1);
  const float bias2_sqrt = static_cast<float>(std::sqrt(bias2));
  // AdamW shrinks the weight before the update, independently of the gradient.
  const float decay =
      h.decoupled ? static_cast<float>(1.0 - static_cast<double>(h.lr) * static_cast<double>(wd))
                  : 1.0f;
#pragma omp parallel for simd schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    float p = param[i] * decay;
    float g = grad[i];
    if (!h.decoupled && wd != 0.0f) g += wd * p;  // Adam: weight decay as an L2 term
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = p - step_size * (mi / (std::sqrt(vi) / bias2_sqrt + eps));
  }
}

}  // namespace tl
