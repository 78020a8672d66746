// cuDNN convolutions (kernels/conv2d.cu) vs the CPU reference on the same
// random inputs: forward and every gradient, for the ResNet50 shapes (1x1
// stride 1, 1x1 stride 2, 3x3 pad 1, the 7x7 stride-2 stem), the
// partial-gradient paths, the algorithm cache, the zero-workspace fallback
// and TF32.
#include <gtest/gtest.h>

#include <cmath>
#include <iostream>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/gpu/cuda_parity.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"

#ifdef TL_WITH_CUDA
#include "runtime/cuda/conv_cache.h"
#include "runtime/cuda/cuda_state.h"
#endif

namespace tl::test {
namespace {

// FP32 (TF32 off): both sides sum the same K products of values in [-1, 1]
// in a different order (cuDNN's tiling and split reductions, or the Winograd
// / FFT transforms its measurement may pick). Rounding differences grow like
// eps * K * |term| ~ 6e-8 * K; 1e-4 * sqrt(K) is >= 10x that for every K
// here (K <= 1024), and still ~1000x below the error of one wrong or missing
// term (|x w| ~ 0.25 on average).
constexpr double kFp32AtolPerSqrtK = 1e-4;
constexpr double kFp32Rtol = 1e-4;  // the same budget, relative, for the largest outputs
// TF32 rounds both inputs to a 10-bit mantissa (relative error up to 2^-11
// each): per product ~1.3e-4 rms for |x w| ~ 1/3, ~1.3e-4 * sqrt(K) over K
// terms; 2e-3 * sqrt(K) is ~4x the largest such error among a few thousand
// outputs, and still ~10x below one wrong term.
constexpr double kTf32AtolPerSqrtK = 2e-3;
constexpr double kTf32Rtol = 2e-3;

Tensor host_random(const Shape& shape, uint64_t seed) {
  return Tensor::from_vector(shape, random_floats(static_cast<size_t>(shape_numel(shape)), seed));
}

struct ConvCase {
  const char* name;
  int64_t n, h, w, c, o, k, stride, pad;
  int64_t oh() const { return (h + 2 * pad - k) / stride + 1; }
  int64_t ow() const { return (w + 2 * pad - k) / stride + 1; }
};

// Small versions of ResNet50's convolutions. 1x1 s1 has 1,024 output rows,
// so the bias gradient takes the two-pass (chunked) reduction path.
const ConvCase kCases[] = {
    {"1x1s1", 4, 16, 16, 32, 64, 1, 1, 0},  // bottleneck 1x1 (and a single GEMM in NHWC)
    {"1x1s2", 2, 9, 9, 32, 64, 1, 2, 0},    // a stage's first block (Keras v1 strides the 1x1)
    {"3x3s1p1", 2, 8, 8, 16, 32, 3, 1, 1},  // bottleneck 3x3
    {"7x7s2p3", 2, 20, 20, 3, 16, 7, 2, 3}, // the stem: 3 input channels, odd alignment
};

// Reduction lengths: how many products each element of y, dx, dw, dbias sums.
struct ReductionLengths {
  double y, dx, dw, dbias;
};
ReductionLengths reduction_lengths(const ConvCase& c) {
  const double rows = double(c.n * c.oh() * c.ow());
  return {double(c.k * c.k * c.c), double(c.o * c.k * c.k), rows, rows};
}

Tolerance tolerance(double k, bool tf32) {
  return tf32 ? Tolerance{kTf32AtolPerSqrtK * std::sqrt(k), kTf32Rtol}
              : Tolerance{kFp32AtolPerSqrtK * std::sqrt(k), kFp32Rtol};
}

struct ConvResult {
  Tensor y, dx, dw, dbias;  // host tensors; a gradient is undefined when not required
};

// Runs conv2d forward + backward on `ctx` (inputs copied there), returning
// host copies. `needs` says which of x, w, bias require a gradient.
ConvResult run_conv(Context& ctx, const ConvCase& c, bool with_bias, bool x_grad, bool w_grad,
                    bool b_grad) {
  Tensor x = ctx.to_device(host_random({c.n, c.h, c.w, c.c}, 11));
  Tensor w = ctx.to_device(host_random({c.o, c.k, c.k, c.c}, 12));
  Tensor b = with_bias ? ctx.to_device(host_random({c.o}, 13)) : Tensor();
  const Tensor dy = ctx.to_device(host_random({c.n, c.oh(), c.ow(), c.o}, 14));
  x.set_requires_grad(x_grad);
  w.set_requires_grad(w_grad);
  if (with_bias) b.set_requires_grad(b_grad);
  Tensor y = ops::conv2d(ctx, x, w, b, c.stride, c.pad);
  if (x_grad || w_grad || (with_bias && b_grad)) backward(ctx, y, dy);
  // A gradient exists exactly when it was asked for (an op that computed a
  // gradient nobody needs wastes a pass; one that skipped a needed one is a bug).
  EXPECT_EQ(x.grad().defined(), x_grad) << device_name(ctx.device()) << " dx";
  EXPECT_EQ(w.grad().defined(), w_grad) << device_name(ctx.device()) << " dw";
  if (with_bias) EXPECT_EQ(b.grad().defined(), b_grad) << device_name(ctx.device()) << " dbias";
  ConvResult r;
  r.y = ctx.to_host(y);
  if (x.grad().defined()) r.dx = ctx.to_host(x.grad());
  if (w.grad().defined()) r.dw = ctx.to_host(w.grad());
  if (with_bias && b.grad().defined()) r.dbias = ctx.to_host(b.grad());
  return r;
}

void expect_matches(const ConvResult& gpu, const ConvResult& cpu, const ConvCase& c, bool tf32) {
  const ReductionLengths k = reduction_lengths(c);
  const std::string name = c.name;
  EXPECT_TRUE(all_close(gpu.y, cpu.y, tolerance(k.y, tf32), name + " y"));
  if (cpu.dx.defined() && gpu.dx.defined()) {
    EXPECT_TRUE(all_close(gpu.dx, cpu.dx, tolerance(k.dx, tf32), name + " dx"));
  }
  if (cpu.dw.defined() && gpu.dw.defined()) {
    EXPECT_TRUE(all_close(gpu.dw, cpu.dw, tolerance(k.dw, tf32), name + " dw"));
  }
  if (cpu.dbias.defined() && gpu.dbias.defined()) {
    EXPECT_TRUE(all_close(gpu.dbias, cpu.dbias, tolerance(k.dbias, tf32), name + " dbias"));
  }
}

TEST(CudaParity, Conv2dForwardAndAllGradients) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  for (const ConvCase& c : kCases) {
    SCOPED_TRACE(c.name);
    const ConvResult expected = run_conv(cpu, c, true, true, true, true);
    const ConvResult actual = run_conv(*gpu, c, true, true, true, true);
    expect_matches(actual, expected, c, /*tf32=*/false);
  }
}

// The gradients a frozen or first layer asks for: dw only (the input needs
// no gradient, no bias), and dx only (frozen weights and bias).
TEST(CudaParity, Conv2dPartialGradients) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  for (const ConvCase& c : {kCases[2], kCases[3]}) {
    SCOPED_TRACE(c.name);
    expect_matches(run_conv(*gpu, c, false, false, true, false),
                   run_conv(cpu, c, false, false, true, false), c, false);
    expect_matches(run_conv(*gpu, c, true, true, false, false),
                   run_conv(cpu, c, true, true, false, false), c, false);
    // Forward only (no gradient anywhere): no backward runs at all.
    expect_matches(run_conv(*gpu, c, true, false, false, false),
                   run_conv(cpu, c, true, false, false, false), c, false);
  }
}

TEST(CudaParity, Conv2dTf32) {
  TL_REQUIRE_GPU(gpu);
  gpu->set_allow_tf32(true);
  EXPECT_TRUE(gpu->allow_tf32());
  Context cpu(Device::CPU);
  for (const ConvCase& c : {kCases[0], kCases[2]}) {
    SCOPED_TRACE(c.name);
    expect_matches(run_conv(*gpu, c, true, true, true, true),
                   run_conv(cpu, c, true, true, true, true), c, /*tf32=*/true);
  }
}

// x feeding two convolutions, as a residual block's input feeds its first
// convolution and its projection shortcut: the convolution whose backward
// runs second writes its dx onto the first one's with cuDNN's beta = 1
// (Node::backward_adding) instead of autograd summing the two. The CPU sums
// them as always; the bound is that of a dx summing both reductions.
TEST(CudaParity, Conv2dGradientAddedOntoAnotherPathsGradient) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  const ConvCase c = kCases[2];  // 3x3 pad 1
  auto run = [&](Context& ctx) {
    Tensor x = ctx.to_device(host_random({c.n, c.h, c.w, c.c}, 21));
    const Tensor w1 = ctx.to_device(host_random({c.o, c.k, c.k, c.c}, 22));
    const Tensor w2 = ctx.to_device(host_random({c.o, 1, 1, c.c}, 23));
    const Tensor dy = ctx.to_device(host_random({c.n, c.oh(), c.ow(), c.o}, 24));
    x.set_requires_grad(true);
    const Tensor y = ops::add(ctx, ops::conv2d(ctx, x, w1, Tensor(), 1, 1),
                              ops::conv2d(ctx, x, w2, Tensor(), 1, 0));
    backward(ctx, y, dy);
    return ctx.to_host(x.grad());
  };
  const double k = double(c.o * c.k * c.k + c.o);
  EXPECT_TRUE(all_close(run(*gpu), run(cpu), tolerance(k, false), "dx of both paths"));
}

TEST(CudaConv2d, AlgorithmCacheMeasuresEachShapeOnce) {
  TL_REQUIRE_GPU(gpu);
#ifdef TL_WITH_CUDA
  const cuda::ConvAlgoCache& cache = *gpu->cuda()->conv_algos;
  EXPECT_EQ(cache.size(), 0u);
  const ConvCase& c = kCases[2];
  const ConvResult first = run_conv(*gpu, c, true, true, true, true);
  // Forward, backward data, backward filter: one measurement each.
  EXPECT_EQ(cache.measurements(), 3);
  const ConvResult second = run_conv(*gpu, c, true, true, true, true);
  EXPECT_EQ(cache.measurements(), 3) << cache.summary();
  // Same algorithms on the same inputs: the same results (deterministic
  // algorithms aside, to rounding).
  EXPECT_TRUE(all_close(second.y, first.y, tolerance(reduction_lengths(c).y, false), "y again"));
  // Another batch size is another shape.
  ConvCase bigger = c;
  bigger.n = 3;
  run_conv(*gpu, bigger, true, false, false, false);
  EXPECT_EQ(cache.measurements(), 4) << cache.summary();
  // TF32 is part of the key.
  gpu->set_allow_tf32(true);
  run_conv(*gpu, bigger, true, false, false, false);
  EXPECT_EQ(cache.measurements(), 5) << cache.summary();
#else
  GTEST_SKIP() << no_gpu_reason();
#endif
}

// With no workspace at all (as when the device is out of memory), cuDNN's
// zero-workspace algorithms must still give the right answers. Whether cuDNN
// offers one for every pass of NHWC FP32 is cuDNN's choice, not ours: where
// it has none, tl must fail with its clear "no usable algorithm ... within a
// workspace of 0 bytes" error (what a user would see), and the test prints
// what cuDNN offered with a normal workspace, so the first GPU run tells us
// rather than failing blind.
TEST(CudaConv2d, ZeroWorkspaceFallback) {
  TL_REQUIRE_GPU(gpu);
#ifdef TL_WITH_CUDA
  Context cpu(Device::CPU);
  int without = 0;
  for (const ConvCase& c : kCases) {
    SCOPED_TRACE(c.name);
    gpu->cuda()->conv_algos->clear();
    gpu->cuda()->conv_algos->set_workspace_limit(0);
    try {
      expect_matches(run_conv(*gpu, c, true, true, true, true), run_conv(cpu, c, true, true, true, true),
                     c, false);
      std::cout << c.name << ": zero-workspace algorithms for every pass:\n"
                << gpu->cuda()->conv_algos->summary();
    } catch (const Error& e) {
      ++without;
      const std::string message = e.what();
      EXPECT_NE(message.find("no usable algorithm"), std::string::npos) << message;
      EXPECT_NE(message.find("workspace of 0 bytes"), std::string::npos) << message;
      // What cuDNN offers with its normal workspace, for the record.
      gpu->cuda()->conv_algos->clear();
      gpu->cuda()->conv_algos->set_workspace_limit(cuda::ConvAlgoCache::kDefaultWorkspaceLimit);
      run_conv(*gpu, c, true, true, true, true);
      std::cout << c.name << ": cuDNN has no zero-workspace algorithm for one pass (" << message
                << "); with a workspace it ranks:\n"
                << gpu->cuda()->conv_algos->summary();
    }
  }
  RecordProperty("cases_without_zero_workspace_algorithm", without);
  if (without == 0) EXPECT_EQ(gpu->cuda()->workspace_bytes(), 0u) << gpu->cuda()->conv_algos->summary();
#else
  GTEST_SKIP() << no_gpu_reason();
#endif
}

// --deterministic: only algorithms cuDNN marks CUDNN_DETERMINISTIC, so two
// runs from a fresh algorithm cache (as two train_cifar runs would be) give
// the same bits, forward and both gradients.
TEST(CudaConv2d, DeterministicAlgorithmsRepeatBitForBit) {
  TL_REQUIRE_GPU(gpu);
#ifdef TL_WITH_CUDA
  gpu->set_deterministic(true);
  ASSERT_TRUE(gpu->deterministic());
  for (const ConvCase& c : kCases) {
    SCOPED_TRACE(c.name);
    gpu->cuda()->conv_algos->clear();
    const ConvResult first = run_conv(*gpu, c, true, true, true, true);
    gpu->cuda()->conv_algos->clear();
    const ConvResult second = run_conv(*gpu, c, true, true, true, true);
    EXPECT_NE(gpu->cuda()->conv_algos->summary().find("deterministic"), std::string::npos);
    EXPECT_TRUE(bit_identical(second.y, first.y, "y"));
    EXPECT_TRUE(bit_identical(second.dx, first.dx, "dx"));
    EXPECT_TRUE(bit_identical(second.dw, first.dw, "dw"));
    EXPECT_TRUE(bit_identical(second.dbias, first.dbias, "dbias"));
  }
#else
  GTEST_SKIP() << no_gpu_reason();
#endif
}

}  // namespace
}  // namespace tl::test
