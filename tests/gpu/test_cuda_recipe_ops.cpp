// The GPU ops at the recipe's own sizes (ResNet50 at 224x224, batch 64, the
// Flatten head), each against the CPU with a stated tolerance. The other GPU
// tests use small shapes, which exercise every code path but not the
// algorithms cuDNN and cuBLAS pick for big problems, nor 32-bit index
// arithmetic near its limits (a (64, 112, 112, 64) activation has 51M
// elements, the head's Dense kernel 25.7M).
//
// The CPU side of the convolutions and of the Dense layer is a double-
// precision sum computed for SAMPLED output elements only (a few hundred per
// tensor, spread by a fixed generator), written here as plain loops from the
// definitions: the full CPU convolution of a batch of 64 at 224 would take
// minutes on a machine without BLAS (the GPU machine has none). The batch
// norms are compared in full against the CPU op, as in
// test_cuda_batchnorm.cpp.
//
// Also: the caching allocator under changing batch sizes (it must stop
// growing once every size has been seen) and an out-of-memory request (a
// clear error, and the Context keeps working).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "runtime/check.h"
#include "engine/ops.h"
#include "tests/gpu/cuda_parity.h"
#include "tests/gpu/gpu_test.h"

#ifdef TL_WITH_CUDA
#include "runtime/cuda/caching_allocator.h"
#include "runtime/cuda/cuda_state.h"
#endif

namespace tl::test {
namespace {

// Tolerances, as in test_cuda_conv2d.cpp and test_cuda_linear.cpp: values in
// [-1, 1]; a float32 sum of K products differs from the exact (double) one
// by ~eps * sqrt(K) * |term| in practice (cuDNN's and cuBLAS's tilings and
// split reductions), 1e-4 * sqrt(K) is >= 10x that; TF32 rounds each input
// to a 10-bit mantissa, ~1.3e-4 * sqrt(K) rms, and 2e-3 * sqrt(K) bounds it
// with margin. A wrong or missing term (|x w| ~ 0.25) or a wrong index is far
// outside either for the reduction lengths here, while the largest outputs
// (~0.33 * sqrt(K)) are also covered by the relative term.
constexpr double kFp32AtolPerSqrtK = 1e-4, kFp32Rtol = 1e-4;
constexpr double kTf32AtolPerSqrtK = 2e-3, kTf32Rtol = 2e-3;
constexpr int kSamples = 256;  // sampled elements per compared tensor

Tolerance tolerance(double k, bool tf32) {
  return tf32 ? Tolerance{kTf32AtolPerSqrtK * std::sqrt(k), kTf32Rtol}
              : Tolerance{kFp32AtolPerSqrtK * std::sqrt(k), kFp32Rtol};
}

// Fixed, well-spread sample indices in [0, n).
std::vector<int64_t> sample_indices(int64_t n, int count, uint64_t seed) {
  std::vector<int64_t> out;
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int i = 0; i < count; ++i) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    out.push_back(static_cast<int64_t>((s >> 17) % static_cast<uint64_t>(n)));
  }
  out.push_back(0);      // the first and the last element: the edges of
  out.push_back(n - 1);  // every index computation
  return out;
}

// Compares `gpu` (all elements, host copy) with `expected` at `indices`.
::testing::AssertionResult sampled_close(const std::vector<float>& gpu, const std::vector<int64_t>& indices,
                                         const std::vector<double>& expected, Tolerance tol,
                                         const std::string& what) {
  std::vector<float> actual, reference;
  for (size_t i = 0; i < indices.size(); ++i) {
    actual.push_back(gpu[static_cast<size_t>(indices[i])]);
    reference.push_back(static_cast<float>(expected[i]));
  }
  ::testing::AssertionResult r = all_close(actual, reference, tol, what + " (sampled)");
  std::cout << "  " << r.message() << "\n";
  return r;
}

// ---- convolutions at 224 -----------------------------------------------------

struct ConvShape {
  const char* name;
  int64_t n, h, w, c, o, k, stride, pad;
  int64_t oh() const { return (h + 2 * pad - k) / stride + 1; }
  int64_t ow() const { return (w + 2 * pad - k) / stride + 1; }
};

// Keras ResNet50 at 224x224, batch 64 (NHWC in, OHWI kernels; Keras's zero
// padding folded into the convolution's pad, as layers/resnet50.cpp does).
const ConvShape kStem{"conv1_conv 7x7/2", 64, 224, 224, 3, 64, 7, 2, 3};
const ConvShape kProjection{"conv3_block1_0_conv 1x1/2", 64, 56, 56, 256, 512, 1, 2, 0};
const ConvShape kStage3x3[] = {
    {"conv2_block1_2_conv 3x3", 64, 56, 56, 64, 64, 3, 1, 1},
    {"conv3_block1_2_conv 3x3", 64, 28, 28, 128, 128, 3, 1, 1},
    {"conv4_block1_2_conv 3x3", 64, 14, 14, 256, 256, 3, 1, 1},
    {"conv5_block1_2_conv 3x3", 64, 7, 7, 512, 512, 3, 1, 1},
};

// The definitions, in double, one element at a time.
struct ConvReference {
  const ConvShape& s;
  const std::vector<float>& x;   // (N, H, W, C)
  const std::vector<float>& w;   // (O, KH, KW, C)
  const std::vector<float>& b;   // (O)
  const std::vector<float>& dy;  // (N, OH, OW, O)

  float xv(int64_t n, int64_t y, int64_t x_, int64_t c) const {
    return x[static_cast<size_t>(((n * s.h + y) * s.w + x_) * s.c + c)];
  }
  float wv(int64_t o, int64_t ky, int64_t kx, int64_t c) const {
    return w[static_cast<size_t>(((o * s.k + ky) * s.k + kx) * s.c + c)];
  }
  float dyv(int64_t n, int64_t oy, int64_t ox, int64_t o) const {
    return dy[static_cast<size_t>(((n * s.oh() + oy) * s.ow() + ox) * s.o + o)];
  }

  // y[n, oy, ox, o] = b[o] + sum_{ky, kx, c} x[n, oy*s - p + ky, ox*s - p + kx, c] w[o, ky, kx, c]
  double y(int64_t index) const {
    const int64_t o = index % s.o, ox = index / s.o % s.ow(), oy = index / s.o / s.ow() % s.oh(),
                  n = index / s.o / s.ow() / s.oh();
    double sum = b[static_cast<size_t>(o)];
    for (int64_t ky = 0; ky < s.k; ++ky)
      for (int64_t kx = 0; kx < s.k; ++kx) {
        const int64_t iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
        if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;  // zero padding
        for (int64_t c = 0; c < s.c; ++c) sum += double(xv(n, iy, ix, c)) * wv(o, ky, kx, c);
      }
    return sum;
  }
  // dx[n, iy, ix, c] = sum over the (o, ky, kx) whose output (oy, ox) read x[n, iy, ix, c]
  double dx(int64_t index) const {
    const int64_t c = index % s.c, ix = index / s.c % s.w, iy = index / s.c / s.w % s.h,
                  n = index / s.c / s.w / s.h;
    double sum = 0;
    for (int64_t ky = 0; ky < s.k; ++ky)
      for (int64_t kx = 0; kx < s.k; ++kx) {
        const int64_t ty = iy + s.pad - ky, tx = ix + s.pad - kx;  // = oy * stride
        if (ty < 0 || tx < 0 || ty % s.stride || tx % s.stride) continue;
        const int64_t oy = ty / s.stride, ox = tx / s.stride;
        if (oy >= s.oh() || ox >= s.ow()) continue;
        for (int64_t o = 0; o < s.o; ++o) sum += double(dyv(n, oy, ox, o)) * wv(o, ky, kx, c);
      }
    return sum;
  }
  // dw[o, ky, kx, c] = sum_{n, oy, ox} dy[n, oy, ox, o] x[n, oy*s - p + ky, ox*s - p + kx, c]
  double dw(int64_t index) const {
    const int64_t c = index % s.c, kx = index / s.c % s.k, ky = index / s.c / s.k % s.k,
                  o = index / s.c / s.k / s.k;
    double sum = 0;
    for (int64_t n = 0; n < s.n; ++n)
      for (int64_t oy = 0; oy < s.oh(); ++oy)
        for (int64_t ox = 0; ox < s.ow(); ++ox) {
          const int64_t iy = oy * s.stride - s.pad + ky, ix = ox * s.stride - s.pad + kx;
          if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
          sum += double(dyv(n, oy, ox, o)) * xv(n, iy, ix, c);
        }
    return sum;
  }
  double db(int64_t o) const {
    double sum = 0;
    for (int64_t r = 0; r < s.n * s.oh() * s.ow(); ++r) sum += dy[static_cast<size_t>(r * s.o + o)];
    return sum;
  }
};

void check_conv_at_recipe_size(Context& gpu, const ConvShape& s, bool tf32) {
  SCOPED_TRACE(s.name);
  std::cout << s.name << (tf32 ? " (TF32)" : " (FP32)") << ", batch " << s.n << ":\n";
  gpu.set_allow_tf32(tf32);
  const Tensor x_host = random_tensor({s.n, s.h, s.w, s.c}, 31);
  const Tensor w_host = random_tensor({s.o, s.k, s.k, s.c}, 32);
  const Tensor b_host = random_tensor({s.o}, 33);
  const Tensor dy_host = random_tensor({s.n, s.oh(), s.ow(), s.o}, 34);
  Tensor x = gpu.to_device(x_host), w = gpu.to_device(w_host), b = gpu.to_device(b_host);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  const Tensor y = ops::conv2d(gpu, x, w, b, s.stride, s.pad);
  backward(gpu, y, gpu.to_device(dy_host));

  const std::vector<float> xv = x_host.to_vector(), wv = w_host.to_vector(), bv = b_host.to_vector(),
                           dyv = dy_host.to_vector();
  const ConvReference ref{s, xv, wv, bv, dyv};
  auto check = [&](const Tensor& actual, double (ConvReference::*element)(int64_t) const, int count,
                   double k, uint64_t seed, const char* what) {
    const std::vector<float> a = gpu.to_host(actual).to_vector();
    const std::vector<int64_t> idx = sample_indices(static_cast<int64_t>(a.size()), count, seed);
    std::vector<double> expected;
    for (int64_t i : idx) expected.push_back((ref.*element)(i));
    EXPECT_TRUE(sampled_close(a, idx, expected, tolerance(k, tf32), what));
  };
  // Reduction lengths: y sums k*k*c products, dx at most o*k*k, dw and db n*oh*ow.
  const double rows = double(s.n * s.oh() * s.ow());
  check(y, &ConvReference::y, kSamples, double(s.k * s.k * s.c), 41, "y");
  check(x.grad(), &ConvReference::dx, kSamples, double(s.o * s.k * s.k), 42, "dx");
  check(w.grad(), &ConvReference::dw, kSamples / 4, rows, 43, "dw");  // each is a long sum
  check(b.grad(), &ConvReference::db, 32, rows, 44, "dbias");
  gpu.set_allow_tf32(false);
}

TEST(CudaRecipe, ConvStem7x7At224) {
  TL_REQUIRE_GPU(gpu);
  check_conv_at_recipe_size(*gpu, kStem, /*tf32=*/false);
}

TEST(CudaRecipe, ConvProjection1x1Stride2At224) {
  TL_REQUIRE_GPU(gpu);
  check_conv_at_recipe_size(*gpu, kProjection, false);
}

TEST(CudaRecipe, Conv3x3OfEachStageAt224) {
  TL_REQUIRE_GPU(gpu);
  for (const ConvShape& s : kStage3x3) check_conv_at_recipe_size(*gpu, s, false);
}

TEST(CudaRecipe, Conv3x3Tf32At224) {
  TL_REQUIRE_GPU(gpu);
  check_conv_at_recipe_size(*gpu, kStage3x3[2], /*tf32=*/true);
  check_conv_at_recipe_size(*gpu, kStem, true);
}

// ---- the head's first Dense: (64, 100,352) x (100,352, 256) ----------------------

void check_head_dense(Context& gpu, bool tf32) {
  constexpr int64_t kBatch = 64, kIn = 7 * 7 * 2048, kOut = 256;
  std::cout << "dense 64 x 100352 -> 256" << (tf32 ? " (TF32)" : " (FP32)") << ":\n";
  gpu.set_allow_tf32(tf32);
  const Tensor x_host = random_tensor({kBatch, kIn}, 51), w_host = random_tensor({kIn, kOut}, 52);
  const Tensor b_host = random_tensor({kOut}, 53), dy_host = random_tensor({kBatch, kOut}, 54);
  Tensor x = gpu.to_device(x_host), w = gpu.to_device(w_host), b = gpu.to_device(b_host);
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  b.set_requires_grad(true);
  const Tensor y = ops::linear(gpu, x, w, b);
  backward(gpu, y, gpu.to_device(dy_host));
  const std::vector<float> xv = x_host.to_vector(), wv = w_host.to_vector(), bv = b_host.to_vector(),
                           dyv = dy_host.to_vector();
  auto X = [&](int64_t i, int64_t k) { return double(xv[static_cast<size_t>(i * kIn + k)]); };
  auto W = [&](int64_t k, int64_t j) { return double(wv[static_cast<size_t>(k * kOut + j)]); };
  auto DY = [&](int64_t i, int64_t j) { return double(dyv[static_cast<size_t>(i * kOut + j)]); };

  {  // y[i, j] = b[j] + sum_k x[i, k] w[k, j]
    const std::vector<float> a = gpu.to_host(y).to_vector();
    const std::vector<int64_t> idx = sample_indices(kBatch * kOut, kSamples, 61);
    std::vector<double> e;
    for (int64_t t : idx) {
      const int64_t i = t / kOut, j = t % kOut;
      double s = bv[static_cast<size_t>(j)];
      for (int64_t k = 0; k < kIn; ++k) s += X(i, k) * W(k, j);
      e.push_back(s);
    }
    EXPECT_TRUE(sampled_close(a, idx, e, tolerance(double(kIn), tf32), "y"));
  }
  {  // dx[i, k] = sum_j dy[i, j] w[k, j]
    const std::vector<float> a = gpu.to_host(x.grad()).to_vector();
    const std::vector<int64_t> idx = sample_indices(kBatch * kIn, kSamples, 62);
    std::vector<double> e;
    for (int64_t t : idx) {
      const int64_t i = t / kIn, k = t % kIn;
      double s = 0;
      for (int64_t j = 0; j < kOut; ++j) s += DY(i, j) * W(k, j);
      e.push_back(s);
    }
    EXPECT_TRUE(sampled_close(a, idx, e, tolerance(double(kOut), tf32), "dx"));
  }
  {  // dw[k, j] = sum_i x[i, k] dy[i, j]
    const std::vector<float> a = gpu.to_host(w.grad()).to_vector();
    const std::vector<int64_t> idx = sample_indices(kIn * kOut, kSamples, 63);
    std::vector<double> e;
    for (int64_t t : idx) {
      const int64_t k = t / kOut, j = t % kOut;
      double s = 0;
      for (int64_t i = 0; i < kBatch; ++i) s += X(i, k) * DY(i, j);
      e.push_back(s);
    }
    EXPECT_TRUE(sampled_close(a, idx, e, tolerance(double(kBatch), tf32), "dw"));
  }
  {  // db[j] = sum_i dy[i, j], every element (cheap); never TF32 (no GEMM)
    const std::vector<float> a = gpu.to_host(b.grad()).to_vector();
    std::vector<int64_t> idx;
    std::vector<double> e;
    for (int64_t j = 0; j < kOut; ++j) {
      double s = 0;
      for (int64_t i = 0; i < kBatch; ++i) s += DY(i, j);
      idx.push_back(j);
      e.push_back(s);
    }
    EXPECT_TRUE(sampled_close(a, idx, e, tolerance(double(kBatch), false), "dbias"));
  }
  gpu.set_allow_tf32(false);
}

TEST(CudaRecipe, HeadDenseFp32) {
  TL_REQUIRE_GPU(gpu);
  check_head_dense(*gpu, false);
}

TEST(CudaRecipe, HeadDenseTf32) {
  TL_REQUIRE_GPU(gpu);
  check_head_dense(*gpu, true);
}

// ---- BN + ReLU at the largest activations ---------------------------------------------
// Tolerances and their reasons: test_cuda_batchnorm.cpp (both devices reduce
// in double; outputs agree to about one float ulp). dgamma and dbeta here sum
// up to 802,816 rows (|value| up to ~500), so their relative bound is the
// one that matters: 2.5e-7 is two ulps.
constexpr Tolerance kBnForwardTol{1e-6, 1e-6};
constexpr Tolerance kBnRunningTol{1e-7, 2.5e-7};
constexpr Tolerance kBnParamGradTol{1e-6, 2.5e-7};
constexpr Tolerance kBnDxTol{1e-6, 1e-6};

void check_bn_relu(Context& gpu, const Shape& shape, uint64_t seed) {
  const std::string what = "BN+ReLU " + shape_str(shape) + " ";
  const int64_t C = shape.back();
  const Tensor x = random_tensor(shape, seed, -2.0f, 2.0f), dy = random_tensor(shape, seed + 1);
  const Tensor gamma = random_tensor({C}, seed + 2, 0.5f, 1.5f), beta = random_tensor({C}, seed + 3, -0.5f, 0.5f);
  const Tensor mean = random_tensor({C}, seed + 4, -0.5f, 0.5f), var = random_tensor({C}, seed + 5, 0.5f, 2.0f);
  ops::BatchNormOptions options;
  options.relu = true;
  options.eps = 1.001e-5f;
  options.momentum = 0.99f;
  struct Run {
    Tensor y, running_mean, running_var, dx, dgamma, dbeta;
  };
  auto run = [&](Context& ctx) {
    auto copy = [&](const Tensor& t) { return ctx.to_device(Tensor::from_vector(t.shape(), t.to_vector())); };
    Tensor xd = copy(x), g = copy(gamma), bt = copy(beta), rm = copy(mean), rv = copy(var);
    xd.set_requires_grad(true);
    g.set_requires_grad(true);
    bt.set_requires_grad(true);
    const Tensor y = ops::batchnorm(ctx, xd, g, bt, rm, rv, options);
    backward(ctx, y, ctx.to_device(dy));
    return Run{ctx.to_host(y), ctx.to_host(rm), ctx.to_host(rv), ctx.to_host(xd.grad()),
               ctx.to_host(g.grad()), ctx.to_host(bt.grad())};
  };
  Context cpu(Device::CPU);
  const Run c = run(cpu), g = run(gpu);
  EXPECT_TRUE(all_close(g.y, c.y, kBnForwardTol, what + "y"));
  EXPECT_TRUE(all_close(g.running_mean, c.running_mean, kBnRunningTol, what + "running_mean"));
  EXPECT_TRUE(all_close(g.running_var, c.running_var, kBnRunningTol, what + "running_var"));
  EXPECT_TRUE(all_close(g.dx, c.dx, kBnDxTol, what + "dx"));
  EXPECT_TRUE(all_close(g.dgamma, c.dgamma, kBnParamGradTol, what + "dgamma"));
  EXPECT_TRUE(all_close(g.dbeta, c.dbeta, kBnParamGradTol, what + "dbeta"));
}

TEST(CudaRecipe, BatchNormReluAtHeadWidth) {
  TL_REQUIRE_GPU(gpu);
  check_bn_relu(*gpu, {64, 7 * 7 * 2048}, 71);  // the head's first BN: 64 rows, 100,352 channels
}

TEST(CudaRecipe, BatchNormReluAtLargestActivation) {
  TL_REQUIRE_GPU(gpu);
  check_bn_relu(*gpu, {64, 112, 112, 64}, 81);  // conv1_bn: 802,816 rows, 51M elements
}

// ---- the caching allocator ---------------------------------------------------------

#ifdef TL_WITH_CUDA
// A conv + BN + ReLU forward and backward at batch n: the tensors a training
// step allocates, in miniature.
void small_step(Context& gpu, int64_t n) {
  Tensor x = gpu.to_device(random_tensor({n, 28, 28, 32}, 91));
  Tensor w = gpu.to_device(random_tensor({64, 3, 3, 32}, 92));
  Tensor g = gpu.to_device(random_tensor({64}, 93, 0.5f, 1.5f)), b = gpu.to_device(random_tensor({64}, 94));
  Tensor rm = gpu.zeros({64}), rv = gpu.to_device(Tensor::full({64}, 1.0f));
  x.set_requires_grad(true);
  w.set_requires_grad(true);
  ops::BatchNormOptions options;
  options.relu = true;
  const Tensor y = ops::batchnorm(gpu, ops::conv2d(gpu, x, w, Tensor(), 1, 1), g, b, rm, rv, options);
  backward(gpu, y, gpu.to_device(random_tensor(y.shape(), 95)));
  gpu.synchronize();
}
#endif

// Batch sizes that change every step (a last partial batch, evaluation at
// another batch size) must not make the cache grow without bound: after one
// round through every size, further rounds reuse what is cached.
TEST(CudaAllocator, BoundedUnderChangingBatchSizes) {
  TL_REQUIRE_GPU(gpu);
#ifdef TL_WITH_CUDA
  const cuda::CachingAllocator& alloc = *gpu->cuda()->caching_allocator;
  const int64_t sizes[] = {8, 16, 5, 12, 16, 3};
  auto round = [&] {
    for (int64_t n : sizes) small_step(*gpu, n);
  };
  round();
  const size_t held_after_first = alloc.bytes_in_use() + alloc.bytes_cached();
  const size_t mallocs_after_first = alloc.device_allocations();
  for (int r = 0; r < 5; ++r) round();
  const size_t held = alloc.bytes_in_use() + alloc.bytes_cached();
  std::cout << "  after 1 round: " << held_after_first << " bytes held, " << mallocs_after_first
            << " cudaMalloc calls; after 6 rounds: " << held << " bytes, " << alloc.device_allocations()
            << " calls\n";
  EXPECT_EQ(held, held_after_first) << "the cache kept growing";
  EXPECT_EQ(alloc.device_allocations(), mallocs_after_first) << "later rounds still called cudaMalloc";
#else
  GTEST_SKIP() << no_gpu_reason();
#endif
}

// Asking for far more than the device has is a tl::Error that says so, and
// the Context is still usable afterwards (the cache was emptied and retried,
// the CUDA error state cleared).
TEST(CudaAllocator, OutOfMemoryIsAClearErrorAndRecoverable) {
  TL_REQUIRE_GPU(gpu);
#ifdef TL_WITH_CUDA
  small_step(*gpu, 4);  // something cached, to be emptied by the retry
  const int64_t huge = int64_t(1) << 40;  // 4 TiB of floats
  try {
    (void)gpu->empty({huge});
    FAIL() << "a 4 TiB allocation succeeded";
  } catch (const Error& e) {
    const std::string message = e.what();
    std::cout << "  " << message << "\n";
    EXPECT_NE(message.find("out of GPU memory"), std::string::npos) << message;
    EXPECT_NE(message.find("--batch-size"), std::string::npos) << "the error should say what to do";
  }
  small_step(*gpu, 4);  // still works
  const Tensor probe = gpu->to_device(Tensor::full({3}, 2.0f));
  EXPECT_EQ(gpu->to_host(probe).to_vector(), (std::vector<float>{2.0f, 2.0f, 2.0f}));
#else
  GTEST_SKIP() << no_gpu_reason();
#endif
}

}  // namespace
}  // namespace tl::test
