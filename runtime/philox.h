// Philox4x32-10: a counter-based random number generator (Salmon et al.,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
//
// Why counter-based: the random numbers are a pure function of (key, counter).
// A dropout mask element i drawn on the CPU and on the GPU, in any thread
// order, is therefore the same bit for bit, and a run can be resumed by
// saving one integer (the counter of the next draw). The code below is plain
// integer arithmetic marked __host__ __device__ so the CPU reference and the
// CUDA kernels share it.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define TL_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define TL_HOST_DEVICE inline
#endif

namespace tl {

struct Philox4x32 {
  uint32_t v[4];
};

// One Philox round multiplier/Weyl constants, from the paper.
constexpr uint32_t kPhiloxM0 = 0xD2511F53u;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u;
constexpr uint32_t kPhiloxW1 = 0xBB67AE85u;

TL_HOST_DEVICE void philox_mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t product = static_cast<uint64_t>(a) * static_cast<uint64_t>(b);
  hi = static_cast<uint32_t>(product >> 32);
  lo = static_cast<uint32_t>(product);
}

// Ten rounds of Philox4x32 on `counter` under `key`.
TL_HOST_DEVICE Philox4x32 philox4x32_10(Philox4x32 counter, uint32_t key0, uint32_t key1) {
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    philox_mulhilo(kPhiloxM0, counter.v[0], hi0, lo0);
    philox_mulhilo(kPhiloxM1, counter.v[2], hi1, lo1);
    counter = Philox4x32{{hi1 ^ counter.v[1] ^ key0, lo1, hi0 ^ counter.v[3] ^ key1, lo0}};
    key0 += kPhiloxW0;
    key1 += kPhiloxW1;
  }
  return counter;
}

// Maps 32 random bits to a float in [0, 1) with 24 bits of precision
// (exactly representable, so the CPU and the GPU compare identically).
TL_HOST_DEVICE float philox_uniform(uint32_t bits) {
  return static_cast<float>(bits >> 8) * (1.0f / 16777216.0f);
}

// The random stream used by every random op in tl:
//   key     = the run's seed (64 bits),
//   counter = (element / 4 as 64 bits, stream id as 64 bits),
// and element i takes word i % 4 of its block. `stream` distinguishes the
// draws of different calls (each dropout call takes a fresh stream id from
// the Context), so no two calls share random numbers.
//
// philox_block gives the four words of one block (elements 4*block .. +3):
// the one place where that counter layout is written, so every user (dropout
// on CPU and GPU, initialisation, the data pipeline) draws the same bits.
TL_HOST_DEVICE Philox4x32 philox_block(uint64_t seed, uint64_t stream, uint64_t block) {
  const Philox4x32 counter{{static_cast<uint32_t>(block), static_cast<uint32_t>(block >> 32),
                            static_cast<uint32_t>(stream), static_cast<uint32_t>(stream >> 32)}};
  return philox4x32_10(counter, static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32));
}

TL_HOST_DEVICE float philox_uniform_at(uint64_t seed, uint64_t stream, uint64_t element) {
  return philox_uniform(philox_block(seed, stream, element >> 2).v[element & 3]);
}

}  // namespace tl
