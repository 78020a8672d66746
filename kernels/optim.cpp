// The CPU optimiser updates (see optim.h). Each is one plain loop (the thread
// pool only splits the index range), so it is both the fast path and its own
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

#include "runtime/thread_pool.h"

namespace tl {

namespace {

// Below this many elements a tensor is updated by the calling thread alone:
// ResNet50 has ~320 parameter tensors, most of them BN vectors of 64-2048
// values, and waking a sleeping worker for each would cost more than the
// update (~5-20 us a loop).
constexpr int64_t kParallelFrom = int64_t(1) << 16;

// The loops are templates on the choices that do not change within a call
// (weight decay on or off, momentum, Nesterov, L2 or decoupled decay), so
// each instance is straight-line code the compiler vectorises: with a
// branch on them inside the loop GCC gave up ("control flow in loop") and
// ran Adam at 14.5 GB/s (bench/RESULTS.md). Every element still gets the
// same float expression in the same order, so the results are unchanged.

template <bool kDecay, bool kMomentum, bool kNesterov>
void sgd_loop(float* param, float* velocity, const float* grad, int64_t n, float lr, float momentum,
              float wd) {
  parallel_for(n, n > kParallelFrom, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      float g = grad[i];
      if constexpr (kDecay) g += wd * param[i];
      if constexpr (kMomentum) {
        // With a zero velocity the first step gives v = g, which is PyTorch's
        // "buffer = clone(grad)" on the first step.
        const float v = momentum * velocity[i] + g;
        velocity[i] = v;
        g = kNesterov ? g + momentum * v : v;
      }
      param[i] -= lr * g;
    }
  });
}

template <bool kL2>
void adam_loop(float* param, float* m, float* v, const float* grad, int64_t n, float beta1,
               float beta2, float eps, float wd, float step_size, float bias2_sqrt, float decay) {
  parallel_for(n, n > kParallelFrom, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      const float p = param[i] * decay;  // AdamW shrinks first; 1 otherwise
      float g = grad[i];
      if constexpr (kL2) g += wd * p;  // Adam: weight decay as an L2 term
      const float mi = beta1 * m[i] + (1.0f - beta1) * g;
      const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      // The IEEE square root (vi >= 0, or NaN): this file is compiled with
      // -fno-math-errno (CMakeLists.txt), without which setting errno keeps
      // the loop scalar.
      param[i] = p - step_size * (mi / (std::sqrt(vi) / bias2_sqrt + eps));
    }
  });
}

}  // namespace

void sgd_update_cpu(float* param, float* velocity, const float* grad, int64_t n, const SgdUpdate& h) {
  const float lr = h.lr, momentum = h.momentum, wd = h.weight_decay;
  const bool decay = wd != 0.0f, with_momentum = momentum != 0.0f;
  if (decay && with_momentum && h.nesterov)
    sgd_loop<true, true, true>(param, velocity, grad, n, lr, momentum, wd);
  else if (decay && with_momentum)
    sgd_loop<true, true, false>(param, velocity, grad, n, lr, momentum, wd);
  else if (decay)
    sgd_loop<true, false, false>(param, velocity, grad, n, lr, momentum, wd);
  else if (with_momentum && h.nesterov)
    sgd_loop<false, true, true>(param, velocity, grad, n, lr, momentum, wd);
  else if (with_momentum)
    sgd_loop<false, true, false>(param, velocity, grad, n, lr, momentum, wd);
  else
    sgd_loop<false, false, false>(param, velocity, grad, n, lr, momentum, wd);
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
  if (!h.decoupled && wd != 0.0f)
    adam_loop<true>(param, m, v, grad, n, beta1, beta2, eps, wd, step_size, bias2_sqrt, decay);
  else
    adam_loop<false>(param, m, v, grad, n, beta1, beta2, eps, wd, step_size, bias2_sqrt, decay);
}

}  // namespace tl
