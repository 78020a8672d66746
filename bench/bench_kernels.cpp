// Google Benchmark of every CPU kernel other than the convolution
// (bench_conv.cpp has that and the GEMM), on the shapes ResNet50 and the
// reference head give them at batch 32 and 224x224 input: the production
// kernels from kernels/*.h, float32, on the OpenMP threads the app uses.
//
// Each benchmark reports a rate through state.counters (kIsRate: divided by
// the wall-clock time, since the kernels run on several threads):
//   GB     bytes moved per call / 1e9: every array the kernel must read
//          counted once plus every array it must write counted once (the
//          compulsory traffic, the same convention as STREAM). A kernel that
//          reads an input twice still gets credit for one read; where that
//          happens the comment beside the formula says so, and the gap to
//          relu_fwd's rate is what the extra passes cost.
//   GFLOP  for the GEMM-like ones (Dense): 2 x multiply-adds / 1e9.
// The formula is written beside each benchmark. Element sizes: float 4 bytes,
// int32 label 4, uint8 pixel 1.
//
//   ./build/bench/bench_kernels                              # about a minute
//   ./build/bench/bench_kernels --benchmark_filter='^bn_'    # one family
//   ./build/bench/bench_kernels --benchmark_min_time=1       # steadier numbers
//
// Arrays larger than the last-level cache (the 112x112x64 and 56x56x256
// activations: 103 MB each) measure DRAM bandwidth; the small ones (the head)
// mostly measure the cost of starting a parallel region.
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/bench_env.h"
#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernels/optim.h"
#include "kernels/pool.h"
#include "kernels/preprocess.h"
#include "kernels/softmax_xent.h"
#include "kernels/upsample.h"

namespace {

constexpr double kF = 4;  // bytes per float32 (and per int32 label)
constexpr int64_t kBatch = 32;
// The minimum time each benchmark runs for: short, so the whole binary takes
// about a minute. Google Benchmark lets a per-benchmark MinTime win over
// --benchmark_min_time, so it is set only when that flag is absent.
constexpr double kMinTime = 0.5;
bool g_min_time_from_flag = false;

// ---- input buffers ----------------------------------------------------------
// Google Benchmark calls each function several times while it settles on an
// iteration count, so filling 100 MB inputs on every call would cost more
// than the measurement. Buffers live in numbered slots for the whole run and
// are refilled only when a benchmark needs a larger one (or another kind).
enum class Fill { kSigned, kPositive };  // values in [-1, 1) or [0.5, 1.5)

float fill_value(uint64_t i, uint64_t seed, Fill kind) {
  // A 64-bit mix of (seed, i): deterministic, parallel-friendly, and never a
  // denormal or a zero BLAS could skip.
  uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 31)) * 0x94D049BB133111EBull;
  z ^= z >> 29;
  const float u = static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // [0, 1)
  return kind == Fill::kSigned ? 2.0f * u - 1.0f : 0.5f + u;
}

struct Slot {
  std::vector<float> data;
  Fill kind = Fill::kSigned;
};

float* buffer(int slot, int64_t n, Fill kind = Fill::kSigned) {
  static Slot slots[8];
  Slot& s = slots[slot];
  if (static_cast<int64_t>(s.data.size()) < n || s.kind != kind) {
    s.data.resize(static_cast<size_t>(n));
    s.kind = kind;
    float* d = s.data.data();
    const int64_t size = static_cast<int64_t>(s.data.size());
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < size; ++i) d[i] = fill_value(static_cast<uint64_t>(i), static_cast<uint64_t>(slot), kind);
  }
  return s.data.data();
}

// Small per-channel arrays (gamma, running statistics, ...): cheap to make.
std::vector<float> small(int64_t n, uint64_t seed, Fill kind = Fill::kSigned) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = fill_value(static_cast<uint64_t>(i), seed, kind);
  return v;
}

void set_bytes(benchmark::State& state, double bytes_per_iteration) {
  state.counters["GB"] = benchmark::Counter(
      bytes_per_iteration * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
}
void set_flops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP"] = benchmark::Counter(
      flops_per_iteration * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
}

template <typename F>
void run(benchmark::State& state, F&& kernel, float* output) {
  for (auto _ : state) {
    kernel();
    benchmark::DoNotOptimize(output);
    benchmark::ClobberMemory();
  }
}

// ---- batch norm -------------------------------------------------------------
// (rows, C) = (N*H*W, C) after a convolution, (N, features) in the head.
struct BnShape {
  std::string name;
  int64_t rows, channels;
  bool relu;  // the fused ReLU: on after every backbone BN but the last of a branch; off in the head
};

const std::vector<BnShape>& bn_shapes() {
  static const std::vector<BnShape> shapes = {
      {"112x112x64_b32", kBatch * 112 * 112, 64, true},  // conv1_bn (stem)
      {"56x56x256_b32", kBatch * 56 * 56, 256, true},    // stage 2 expanded (relu here as bn1/bn2 shapes)
      {"28x28x512_b32", kBatch * 28 * 28, 512, true},    // stage 3 expanded
      {"14x14x1024_b32", kBatch * 14 * 14, 1024, true},  // stage 4 expanded
      {"7x7x2048_b32", kBatch * 7 * 7, 2048, true},      // stage 5 expanded
      {"1d_32x2048", kBatch, 2048, false},               // head BN after global average pooling
      {"1d_32x100352", kBatch, 100352, false},           // head BN after Flatten at 224
  };
  return shapes;
}

void bn_forward_train(benchmark::State& state, const BnShape& s) {
  const int64_t E = s.rows * s.channels, C = s.channels;
  const float* x = buffer(0, E);
  float* y = buffer(1, E);
  std::vector<float> gamma = small(C, 10), beta = small(C, 11), rmean = small(C, 12),
                     rvar = small(C, 13, Fill::kPositive), save_mean(C), save_invstd(C);
  const tl::BatchNormGeometry g{s.rows, C};
  run(state, [&] {
    tl::batchnorm_forward_train_cpu(y, save_mean.data(), save_invstd.data(), rmean.data(),
                                    rvar.data(), x, gamma.data(), beta.data(), g, 1.001e-5f,
                                    0.99f, s.relu);
  }, y);
  // reads x (E) + writes y (E) + gamma, beta (2C) + running mean/var read and
  // written (4C) + save_mean/invstd written (2C). The kernel reads x three
  // times (mean, then variance around it, then the normalisation).
  set_bytes(state, kF * (E + E + 2 * C + 4 * C + 2 * C));
}

void bn_forward_infer(benchmark::State& state, const BnShape& s) {
  const int64_t E = s.rows * s.channels, C = s.channels;
  const float* x = buffer(0, E);
  float* y = buffer(1, E);
  const std::vector<float> gamma = small(C, 10), beta = small(C, 11), rmean = small(C, 12),
                           rvar = small(C, 13, Fill::kPositive);
  const tl::BatchNormGeometry g{s.rows, C};
  run(state, [&] {
    tl::batchnorm_forward_infer_cpu(y, x, gamma.data(), beta.data(), rmean.data(), rvar.data(), g,
                                    1.001e-5f, s.relu);
  }, y);
  // reads x (E) + writes y (E) + gamma, beta, running mean, running var (4C)
  set_bytes(state, kF * (E + E + 4 * C));
}

void bn_backward_train(benchmark::State& state, const BnShape& s) {
  const int64_t E = s.rows * s.channels, C = s.channels;
  const float* dy = buffer(0, E);
  const float* x = buffer(2, E);
  float* dx = buffer(1, E);
  const std::vector<float> gamma = small(C, 10), beta = small(C, 11), mean = small(C, 12),
                           invstd = small(C, 13, Fill::kPositive);
  std::vector<float> dgamma(C), dbeta(C);
  const tl::BatchNormGeometry g{s.rows, C};
  run(state, [&] {
    tl::batchnorm_backward_train_cpu(dx, dgamma.data(), dbeta.data(), dy, x, gamma.data(),
                                     beta.data(), mean.data(), invstd.data(), g, s.relu);
  }, dx);
  // reads dy, x (2E) + writes dx (E) + gamma, beta, mean, invstd (4C) +
  // writes dgamma, dbeta (2C). The kernel reads dy and x twice (the two
  // per-channel sums, then dx).
  set_bytes(state, kF * (3 * E + 4 * C + 2 * C));
}

void bn_backward_infer(benchmark::State& state, const BnShape& s) {
  const int64_t E = s.rows * s.channels, C = s.channels;
  const float* dy = buffer(0, E);
  const float* x = buffer(2, E);
  float* dx = buffer(1, E);
  const std::vector<float> gamma = small(C, 10), beta = small(C, 11), rmean = small(C, 12),
                           rvar = small(C, 13, Fill::kPositive);
  std::vector<float> dgamma(C), dbeta(C);
  const tl::BatchNormGeometry g{s.rows, C};
  run(state, [&] {
    tl::batchnorm_backward_infer_cpu(dx, dgamma.data(), dbeta.data(), dy, x, gamma.data(),
                                     beta.data(), rmean.data(), rvar.data(), g, 1.001e-5f,
                                     s.relu);
  }, dx);
  // reads dy, x (2E) + writes dx (E) + 4C read + 2C written, as the training
  // backward (here dy and x are read twice only because dgamma/dbeta are asked for).
  set_bytes(state, kF * (3 * E + 4 * C + 2 * C));
}

// ---- elementwise -------------------------------------------------------------
struct Flat {
  std::string name;
  int64_t n;
};
const std::vector<Flat>& elementwise_shapes() {
  static const std::vector<Flat> shapes = {
      {"56x56x256_b32", kBatch * 56 * 56 * 256},  // the largest residual add (stage 2)
      {"7x7x2048_b32", kBatch * 7 * 7 * 2048},    // the smallest (stage 5)
  };
  return shapes;
}

void relu_forward(benchmark::State& state, const Flat& s) {
  const float* x = buffer(0, s.n);
  float* y = buffer(1, s.n);
  run(state, [&] { tl::relu_forward_cpu(y, x, s.n); }, y);
  set_bytes(state, kF * (s.n + s.n));  // reads x + writes y
}
void relu_backward(benchmark::State& state, const Flat& s) {
  const float* dy = buffer(0, s.n);
  const float* y = buffer(2, s.n);
  float* dx = buffer(1, s.n);
  run(state, [&] { tl::relu_backward_cpu(dx, dy, y, s.n); }, dx);
  set_bytes(state, kF * (2 * s.n + s.n));  // reads dy, y + writes dx
}
void add_forward(benchmark::State& state, const Flat& s) {
  const float* a = buffer(0, s.n);
  const float* b = buffer(2, s.n);
  float* y = buffer(1, s.n);
  run(state, [&] { tl::add_forward_cpu(y, a, b, s.n); }, y);
  set_bytes(state, kF * (2 * s.n + s.n));  // reads a, b + writes y
}
void add_relu_forward(benchmark::State& state, const Flat& s) {
  const float* a = buffer(0, s.n);
  const float* b = buffer(2, s.n);
  float* y = buffer(1, s.n);
  run(state, [&] { tl::add_relu_forward_cpu(y, a, b, s.n); }, y);
  set_bytes(state, kF * (2 * s.n + s.n));  // reads a, b + writes y
}

// ---- pooling -----------------------------------------------------------------
// The stem's max pool: 112x112x64 -> 56x56x64, 3x3 stride 2, pad 1 (Keras's
// ZeroPadding2D(1) + 'valid' pool, on post-ReLU input).
tl::PoolGeometry stem_pool() {
  tl::PoolGeometry g;
  g.batch = kBatch, g.in_h = 112, g.in_w = 112, g.channels = 64;
  g.kernel = 3, g.stride = 2, g.pad = 1;
  return g;
}

void maxpool_forward(benchmark::State& state) {
  const tl::PoolGeometry g = stem_pool();
  const int64_t nx = g.batch * g.in_h * g.in_w * g.channels,
                ny = g.batch * g.out_h() * g.out_w() * g.channels;
  const float* x = buffer(0, nx);
  float* y = buffer(1, ny);
  run(state, [&] { tl::maxpool2d_forward_cpu(y, x, g); }, y);
  set_bytes(state, kF * (nx + ny));  // reads x + writes y
}
void maxpool_backward(benchmark::State& state) {
  const tl::PoolGeometry g = stem_pool();
  const int64_t nx = g.batch * g.in_h * g.in_w * g.channels,
                ny = g.batch * g.out_h() * g.out_w() * g.channels;
  const float* x = buffer(0, nx);
  const float* dy = buffer(2, ny);
  float* dx = buffer(1, nx);
  run(state, [&] { tl::maxpool2d_backward_cpu(dx, dy, x, g); }, dx);
  // reads dy (ny) and x (nx, to recompute the argmax) + writes dx (nx)
  set_bytes(state, kF * (ny + nx + nx));
}

// Global average pooling of the backbone output: (32, 7, 7, 2048) -> (32, 2048).
constexpr int64_t kGapSpatial = 7 * 7, kGapChannels = 2048;
void gap_forward(benchmark::State& state) {
  const int64_t nx = kBatch * kGapSpatial * kGapChannels, ny = kBatch * kGapChannels;
  const float* x = buffer(0, nx);
  float* y = buffer(1, ny);
  run(state, [&] { tl::global_avgpool_forward_cpu(y, x, kBatch, kGapSpatial, kGapChannels); }, y);
  set_bytes(state, kF * (nx + ny));  // reads x + writes y
}
void gap_backward(benchmark::State& state) {
  const int64_t nx = kBatch * kGapSpatial * kGapChannels, ny = kBatch * kGapChannels;
  const float* dy = buffer(0, ny);
  float* dx = buffer(1, nx);
  run(state, [&] { tl::global_avgpool_backward_cpu(dx, dy, kBatch, kGapSpatial, kGapChannels); },
      dx);
  set_bytes(state, kF * (ny + nx));  // reads dy + writes dx
}

// ---- Dense -------------------------------------------------------------------
struct DenseShape {
  std::string name;
  int64_t batch, in, out;
};
const std::vector<DenseShape>& dense_shapes() {
  static const std::vector<DenseShape> shapes = {
      {"32x2048to256", kBatch, 2048, 256},      // head, first Dense after global average pooling
      {"32x100352to256", kBatch, 100352, 256},  // head, first Dense after Flatten at 224
      {"32x256to128", kBatch, 256, 128},        // head, second Dense
  };
  return shapes;
}

void linear_forward(benchmark::State& state, const DenseShape& s) {
  const float* x = buffer(0, s.batch * s.in);
  const float* w = buffer(2, s.in * s.out);
  const std::vector<float> b = small(s.out, 14);
  float* y = buffer(1, s.batch * s.out);
  run(state, [&] { tl::linear_forward_cpu(y, x, w, b.data(), s.batch, s.in, s.out); }, y);
  set_flops(state, 2.0 * double(s.batch) * double(s.in) * double(s.out));  // one GEMM
  // reads x, w, b + writes y. At batch 32 the weight dominates: these GEMMs
  // are bound by reading it, so GB/s is the telling rate.
  set_bytes(state, kF * (s.batch * s.in + s.in * s.out + s.out + s.batch * s.out));
}
void linear_backward(benchmark::State& state, const DenseShape& s) {
  const float* dy = buffer(0, s.batch * s.out);
  const float* x = buffer(2, s.batch * s.in);
  const float* w = buffer(3, s.in * s.out);
  float* dx = buffer(1, s.batch * s.in);
  float* dw = buffer(4, s.in * s.out);
  std::vector<float> db(static_cast<size_t>(s.out));
  run(state, [&] { tl::linear_backward_cpu(dx, dw, db.data(), dy, x, w, s.batch, s.in, s.out); },
      dw);
  set_flops(state, 4.0 * double(s.batch) * double(s.in) * double(s.out));  // dx and dw GEMMs
  // reads dy, x, w + writes dx, dw, db
  set_bytes(state, kF * (s.batch * s.out + s.batch * s.in + s.in * s.out + s.batch * s.in +
                         s.in * s.out + s.out));
}

// ---- dropout -----------------------------------------------------------------
const std::vector<Flat>& dropout_shapes() {
  static const std::vector<Flat> shapes = {
      {"32x256", kBatch * 256},        // the head's first dropout (the real size)
      {"32x100352", kBatch * 100352},  // a large one: Philox throughput
  };
  return shapes;
}
void dropout_forward(benchmark::State& state, const Flat& s) {
  const float* x = buffer(0, s.n);
  float* y = buffer(1, s.n);
  run(state, [&] { tl::dropout_forward_cpu(y, x, s.n, 0.5f, 1234, 7); }, y);
  set_bytes(state, kF * (s.n + s.n));  // reads x + writes y (the mask is recomputed, never stored)
}
void dropout_backward(benchmark::State& state, const Flat& s) {
  const float* dy = buffer(0, s.n);
  float* dx = buffer(1, s.n);
  run(state, [&] { tl::dropout_backward_cpu(dx, dy, s.n, 0.5f, 1234, 7); }, dx);
  set_bytes(state, kF * (s.n + s.n));  // reads dy + writes dx
}

// ---- resampling and preprocessing (CIFAR 32x32 -> 224x224) ---------------------
tl::UpsampleGeometry cifar_to_224() {
  tl::UpsampleGeometry g;
  g.batch = kBatch, g.in_h = 32, g.in_w = 32, g.channels = 3, g.out_h = 224, g.out_w = 224;
  return g;
}
void upsample_forward(benchmark::State& state) {
  const tl::UpsampleGeometry g = cifar_to_224();
  const int64_t nx = g.batch * g.in_h * g.in_w * g.channels,
                ny = g.batch * g.out_h * g.out_w * g.channels;
  const float* x = buffer(0, nx);
  float* y = buffer(1, ny);
  run(state, [&] { tl::upsample_bilinear_forward_cpu(y, x, g); }, y);
  set_bytes(state, kF * (nx + ny));  // reads x + writes y
}
void upsample_backward(benchmark::State& state) {
  const tl::UpsampleGeometry g = cifar_to_224();
  const int64_t nx = g.batch * g.in_h * g.in_w * g.channels,
                ny = g.batch * g.out_h * g.out_w * g.channels;
  const float* dy = buffer(0, ny);
  float* dx = buffer(1, nx);
  run(state, [&] { tl::upsample_bilinear_backward_cpu(dx, dy, g); }, dx);
  set_bytes(state, kF * (ny + nx));  // reads dy + writes dx
}
void preprocess_caffe(benchmark::State& state, int64_t out_size) {
  const int64_t nx = kBatch * 32 * 32 * 3, ny = kBatch * out_size * out_size * 3;
  std::vector<uint8_t> x(static_cast<size_t>(nx));
  for (int64_t i = 0; i < nx; ++i) x[static_cast<size_t>(i)] = static_cast<uint8_t>((i * 37) ^ (i >> 5));
  float* y = buffer(1, ny);
  run(state, [&] { tl::preprocess_caffe_cpu(y, x.data(), kBatch, 32, 32, out_size, out_size); }, y);
  set_bytes(state, 1.0 * nx + kF * ny);  // reads uint8 x + writes float y
}

// ---- loss --------------------------------------------------------------------
struct LossShape {
  std::string name;
  int64_t batch, classes;
};
const std::vector<LossShape>& loss_shapes() {
  static const std::vector<LossShape> shapes = {
      {"32x10", kBatch, 10},         // the recipe (CIFAR-10)
      {"256x1000", 256, 1000},       // ImageNet-sized, for a throughput figure
  };
  return shapes;
}
std::vector<int32_t> labels_for(const LossShape& s) {
  std::vector<int32_t> labels(static_cast<size_t>(s.batch));
  for (int64_t n = 0; n < s.batch; ++n) labels[static_cast<size_t>(n)] = static_cast<int32_t>((n * 7) % s.classes);
  return labels;
}
void softmax_xent_forward(benchmark::State& state, const LossShape& s) {
  const int64_t nz = s.batch * s.classes;
  const float* logits = buffer(0, nz);
  float* probs = buffer(1, nz);
  const std::vector<int32_t> labels = labels_for(s);
  float loss = 0;
  run(state, [&] {
    loss = tl::softmax_xent_forward_cpu(probs, logits, labels.data(), s.batch, s.classes);
  }, probs);
  benchmark::DoNotOptimize(loss);
  set_bytes(state, kF * (nz + s.batch + nz));  // reads logits, labels + writes probs
}
void softmax_xent_backward(benchmark::State& state, const LossShape& s) {
  const int64_t nz = s.batch * s.classes;
  const float* probs = buffer(0, nz, Fill::kPositive);
  float* dlogits = buffer(1, nz);
  const std::vector<int32_t> labels = labels_for(s);
  run(state, [&] {
    tl::softmax_xent_backward_cpu(dlogits, probs, labels.data(), 1.0f, s.batch, s.classes);
  }, dlogits);
  set_bytes(state, kF * (nz + s.batch + nz));  // reads probs, labels + writes dlogits
}

// ---- optimisers over 25M parameters (about ResNet50's 23.5M + a head) ----------
constexpr int64_t kParams = 25'000'000;
void sgd_update(benchmark::State& state) {
  float* p = buffer(0, kParams);
  float* v = buffer(1, kParams);
  const float* g = buffer(2, kParams);
  const tl::SgdUpdate h{0.01f, 0.9f, 5e-4f, false};  // the recipe's: momentum 0.9, decay 5e-4
  run(state, [&] { tl::sgd_update_cpu(p, v, g, kParams, h); }, p);
  set_bytes(state, kF * (3 * kParams + 2 * kParams));  // reads p, v, g + writes p, v
}
void adam_update(benchmark::State& state) {
  float* p = buffer(0, kParams);
  float* m = buffer(1, kParams);
  float* v = buffer(5, kParams, Fill::kPositive);  // a second moment is never negative
  const float* g = buffer(2, kParams);
  const tl::AdamUpdate h;  // lr 1e-3, betas (0.9, 0.999), eps 1e-7
  int64_t step = 0;
  run(state, [&] { tl::adam_update_cpu(p, m, v, g, kParams, h, ++step); }, p);
  set_bytes(state, kF * (4 * kParams + 3 * kParams));  // reads p, m, v, g + writes p, m, v
}

// ---- registration ------------------------------------------------------------
template <typename Fn, typename... Args>
void add(const std::string& name, bool small_unit, Fn fn, const Args&... args) {
  benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark(name.c_str(), fn, args...)
                                          ->UseRealTime()
                                          ->Unit(small_unit ? benchmark::kMicrosecond
                                                            : benchmark::kMillisecond);
  if (!g_min_time_from_flag) b->MinTime(kMinTime);
}

void register_all() {
  for (const BnShape& s : bn_shapes()) {
    const bool tiny = s.rows * s.channels < (1 << 20);
    const std::string relu = s.relu ? "_relu" : "";
    add("bn_fwd_train" + relu + "/" + s.name, tiny, bn_forward_train, s);
    add("bn_fwd_infer" + relu + "/" + s.name, tiny, bn_forward_infer, s);
    add("bn_bwd_train" + relu + "/" + s.name, tiny, bn_backward_train, s);
  }
  // Inference-mode BN inside a trained part (a frozen stage with --frozen-bn inference).
  add("bn_bwd_infer_relu/" + bn_shapes()[1].name, false, bn_backward_infer, bn_shapes()[1]);
  for (const Flat& s : elementwise_shapes()) {
    add("relu_fwd/" + s.name, false, relu_forward, s);
    add("relu_bwd/" + s.name, false, relu_backward, s);
    add("add_fwd/" + s.name, false, add_forward, s);
    add("add_relu_fwd/" + s.name, false, add_relu_forward, s);
  }
  add("maxpool3x3s2_fwd/112x112x64_b32", false, maxpool_forward);
  add("maxpool3x3s2_bwd/112x112x64_b32", false, maxpool_backward);
  add("global_avgpool_fwd/7x7x2048_b32", true, gap_forward);
  add("global_avgpool_bwd/7x7x2048_b32", true, gap_backward);
  for (const DenseShape& s : dense_shapes()) {
    add("linear_fwd/" + s.name, s.in < 10000, linear_forward, s);
    add("linear_bwd/" + s.name, s.in < 10000, linear_backward, s);
  }
  for (const Flat& s : dropout_shapes()) {
    add("dropout_fwd/" + s.name, s.n < 10000, dropout_forward, s);
    add("dropout_bwd/" + s.name, s.n < 10000, dropout_backward, s);
  }
  add("upsample_bilinear_fwd/32to224x3_b32", false, upsample_forward);
  add("upsample_bilinear_bwd/32to224x3_b32", false, upsample_backward);
  add("preprocess_caffe/32to224_b32", false, preprocess_caffe, int64_t(224));
  add("preprocess_caffe/32to32_b32", true, preprocess_caffe, int64_t(32));
  for (const LossShape& s : loss_shapes()) {
    add("softmax_xent_fwd/" + s.name, true, softmax_xent_forward, s);
    add("softmax_xent_bwd/" + s.name, true, softmax_xent_backward, s);
  }
  add("sgd_update/25M", false, sgd_update);
  add("adam_update/25M", false, adam_update);
}

}  // namespace

int main(int argc, char** argv) {
  tl::bench::ensure_environment(argv, "bench_kernels");
  const int threads = tl::bench::configure_threads();
  benchmark::AddCustomContext("gemm_backend", tl::gemm_backend_name());
  benchmark::AddCustomContext("OPENBLAS_CORETYPE", tl::bench::env_or("OPENBLAS_CORETYPE", "(unset)"));
  benchmark::AddCustomContext("threads", std::to_string(threads));
  benchmark::AddCustomContext("spin_microseconds", std::to_string(tl::cpu_spin_microseconds()));
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]).rfind("--benchmark_min_time", 0) == 0) g_min_time_from_flag = true;
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
