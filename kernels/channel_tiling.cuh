// The "channels innermost" block shape most of the handwritten kernels use
// (kernels/*.cu), and vector access to NHWC rows (float32: float4; bfloat16:
// four values in 8 bytes).
//
// The channel tiling. An NHWC activation is a (rows, C) matrix whose rows are
// contiguous runs of C floats. A block of 256 threads is laid out as
// tx lanes along C times ty rows (tx * ty = 256); a lane handles `vec`
// consecutive channels (4, a float4, when C % 4 == 0 and the pointers are
// 16-byte aligned; otherwise 1). tx is the smallest power of two that covers
// the C / vec lanes of a row, capped at 32, so
//  * a warp always reads whole 128-byte lines: for C >= 128 (vec 4) a warp
//    reads 512 contiguous bytes of one row; for C = 64 (16 lanes) it reads two
//    consecutive rows, which are contiguous too; for C = 1 it reads 32 rows;
//  * a lane keeps the same channels for its whole life, so per-channel
//    parameters (mean, scale, ...) are loaded once into registers and a
//    per-channel reduction is a plain loop over rows, in registers.
#pragma once

#include <cstdint>

#include "runtime/bf16.h"
#include "runtime/cuda/launch.h"

namespace tl::cuda {

struct ChannelTiling {
  int vec = 1;                // channels per lane: 4 (float4) or 1
  int tx = 32, ty = 8;        // block = tx lanes along C x ty rows
  int64_t lanes = 0;          // C / vec
  int64_t channel_tiles = 0;  // blocks along C: ceil(lanes / tx)
};

// `vec4_ok`: every pointer the kernel will access with float4 is 16-byte
// aligned (the caller checks; C % 4 is checked here).
inline ChannelTiling channel_tiling(int64_t channels, bool vec4_ok) {
  ChannelTiling t;
  t.vec = (vec4_ok && channels % 4 == 0) ? 4 : 1;
  t.lanes = channels / t.vec;
  t.tx = pow2_at_least(t.lanes, 32);
  t.ty = kBlockThreads / t.tx;
  t.channel_tiles = ceil_div(t.lanes, t.tx);
  return t;
}

#ifdef __CUDACC__
// v[0..VEC) = p[0..VEC); p is 16-byte aligned when VEC == 4.
template <int VEC>
__device__ __forceinline__ void load_vec(float (&v)[VEC], const float* p) {
  if constexpr (VEC == 4) {
    const float4 q = *reinterpret_cast<const float4*>(p);
    v[0] = q.x;
    v[1] = q.y;
    v[2] = q.z;
    v[3] = q.w;
  } else {
#pragma unroll
    for (int k = 0; k < VEC; ++k) v[k] = p[k];
  }
}

template <int VEC>
__device__ __forceinline__ void store_vec(float* p, const float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  } else {
#pragma unroll
    for (int k = 0; k < VEC; ++k) p[k] = v[k];
  }
}

// The same for bfloat16 rows (uint16_t bit patterns; runtime/bf16.h): loads
// widen exactly, stores round to nearest even. Four bf16 are one 8-byte
// access (p is 16-byte aligned when VEC == 4, like the float rows).
template <int VEC>
__device__ __forceinline__ void load_vec(float (&v)[VEC], const uint16_t* p) {
  if constexpr (VEC == 4) {
    const uint2 q = *reinterpret_cast<const uint2*>(p);
    v[0] = float_from_bf16_bits(static_cast<uint16_t>(q.x & 0xFFFFu));
    v[1] = float_from_bf16_bits(static_cast<uint16_t>(q.x >> 16));
    v[2] = float_from_bf16_bits(static_cast<uint16_t>(q.y & 0xFFFFu));
    v[3] = float_from_bf16_bits(static_cast<uint16_t>(q.y >> 16));
  } else {
#pragma unroll
    for (int k = 0; k < VEC; ++k) v[k] = float_from_bf16_bits(p[k]);
  }
}

template <int VEC>
__device__ __forceinline__ void store_vec(uint16_t* p, const float (&v)[VEC]) {
  if constexpr (VEC == 4) {
    uint2 q;
    q.x = uint32_t(bf16_bits_from_float(v[0])) | (uint32_t(bf16_bits_from_float(v[1])) << 16);
    q.y = uint32_t(bf16_bits_from_float(v[2])) | (uint32_t(bf16_bits_from_float(v[3])) << 16);
    *reinterpret_cast<uint2*>(p) = q;
  } else {
#pragma unroll
    for (int k = 0; k < VEC; ++k) p[k] = bf16_bits_from_float(v[k]);
  }
}
#endif

}  // namespace tl::cuda
