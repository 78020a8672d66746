// The per-element arithmetic of batch normalisation on the GPU, shared by the
// production kernels (kernels/batchnorm.cu) and the simpler versions of the
// kernel lab (lab/batchnorm_backward.cu), so that every version computes each
// element with the same expressions and they differ only in who computes what.
//
// Each function replays a float expression of the CPU reference
// (kernels/batchnorm.cpp) rounding for rounding (kernels/exact_math.cuh):
// given the same per-channel statistics, y and dx are bit-identical to the
// CPU's, and the ReLU mask the backward recomputes from x is exactly the one
// the forward applied.
#pragma once

#include <cstdint>

#include "kernels/elementwise.h"  // relu_passes
#include "kernels/exact_math.cuh"

namespace tl::cuda {

// What the normalisation of a channel reads. Training: mean / invstd are the
// saved batch statistics. Inference: mean is the running mean and invstd is
// null: it is computed from the running variance as the CPU does.
struct BnParams {
  const float* gamma = nullptr;
  const float* beta = nullptr;
  const float* mean = nullptr;
  const float* invstd = nullptr;
  const float* var = nullptr;
  float eps = 0.0f;
};

struct BnChannel {
  float mean, invstd, scale, beta;
};

__device__ __forceinline__ BnChannel load_channel(const BnParams& p, int64_t c) {
  BnChannel ch;
  ch.mean = p.mean[c];
  // Inference: 1 / sqrt(var + eps) in double, rounded once (infer_invstd in
  // batchnorm.cpp); correctly rounded double ops give the CPU's bits.
  ch.invstd = p.invstd ? p.invstd[c]
                       : static_cast<float>(__ddiv_rn(
                             1.0, __dsqrt_rn(add_exact(static_cast<double>(p.var[c]),
                                                       static_cast<double>(p.eps)))));
  ch.scale = mul_exact(p.gamma[c], ch.invstd);
  ch.beta = p.beta[c];
  return ch;
}

// (x - mean) * scale + beta, rounded step by step as the CPU's bn_affine.
__device__ __forceinline__ float bn_affine(float x, const BnChannel& ch) {
  return add_exact(mul_exact(sub_exact(x, ch.mean), ch.scale), ch.beta);
}

// dL/d(pre-activation): dy, zeroed where the fused ReLU clipped; passed
// at a NaN pre-activation, as PyTorch (relu_passes, kernels/elementwise.h).
template <bool RELU>
__device__ __forceinline__ float masked_grad(float dy, float x, const BnChannel& ch) {
  if constexpr (RELU) return relu_passes(bn_affine(x, ch)) ? dy : 0.0f;
  return dy;
}

// xhat = (x - mean) * invstd in double, for the backward's sum of g * xhat
// (grad_sums in batchnorm.cpp).
__device__ __forceinline__ double xhat_double(float x, const BnChannel& ch) {
  return mul_exact(static_cast<double>(x) - static_cast<double>(ch.mean),
                   static_cast<double>(ch.invstd));
}

// Training dx = scale * (g - mean_g - xhat * mean_gx), xhat in float: the
// CPU's train_dx expression. g is the masked gradient (masked_grad).
__device__ __forceinline__ float bn_train_dx(float g, float x, const BnChannel& ch, float mean_g,
                                             float mean_gx) {
  const float xhat = mul_exact(sub_exact(x, ch.mean), ch.invstd);
  return mul_exact(ch.scale, sub_exact(sub_exact(g, mean_g), mul_exact(xhat, mean_gx)));
}

}  // namespace tl::cuda
