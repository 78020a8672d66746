// cuBLAS Dense (kernels/linear.cu) vs the CPU reference on the same random
// inputs: forward and every gradient, for the reference head's shapes and
// odd sizes (the scalar bias path), a batch large enough for the two-pass
// bias gradient, partial gradients, and TF32.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "tests/gpu/gpu_test.h"
#include "tests/support/compare.h"
#include "tests/support/gradcheck.h"

#ifdef TL_WITH_CUDA
#include "runtime/cuda/cuda_state.h"
#endif

namespace tl::test {
namespace {

// FP32: K products of values in [-1, 1] summed in another order (cuBLAS's
// tiling and split-K) differ by ~eps * K * |term|; 1e-4 * sqrt(K) is >= 10x
// that for K <= 2e4 and ~1000x below one wrong term. See test_cuda_conv2d.cpp.
constexpr double kFp32AtolPerSqrtK = 1e-4;
constexpr double kFp32Rtol = 1e-4;
// TF32: inputs rounded to a 10-bit mantissa; ~1.3e-4 * sqrt(K) rms error.
constexpr double kTf32AtolPerSqrtK = 2e-3;
constexpr double kTf32Rtol = 2e-3;

Tensor host_random(const Shape& shape, uint64_t seed) {
  return Tensor::from_vector(shape, random_floats(static_cast<size_t>(shape_numel(shape)), seed));
}

struct LinearCase {
  const char* name;
  int64_t batch, in, out;
};

const LinearCase kCases[] = {
    {"head_dense", 4, 512, 256},   // the head's first Dense, narrowed
    {"head_dense_3", 4, 64, 10},   // the classifier: out % 4 != 0 (scalar bias path)
    {"odd", 3, 37, 13},            // nothing a multiple of anything
    {"tall", 1000, 16, 12},        // 1000 rows: the two-pass bias gradient
};

Tolerance tolerance(double k, bool tf32) {
  return tf32 ? Tolerance{kTf32AtolPerSqrtK * std::sqrt(k), kTf32Rtol}
              : Tolerance{kFp32AtolPerSqrtK * std::sqrt(k), kFp32Rtol};
}

struct LinearResult {
  Tensor y, dx, dw, db;  // host; a gradient is undefined when not required
};

LinearResult run_linear(Context& ctx, const LinearCase& c, bool x_grad, bool w_grad, bool b_grad) {
  Tensor x = ctx.to_device(host_random({c.batch, c.in}, 21));
  Tensor w = ctx.to_device(host_random({c.in, c.out}, 22));
  Tensor b = ctx.to_device(host_random({c.out}, 23));
  const Tensor dy = ctx.to_device(host_random({c.batch, c.out}, 24));
  x.set_requires_grad(x_grad);
  w.set_requires_grad(w_grad);
  b.set_requires_grad(b_grad);
  Tensor y = ops::linear(ctx, x, w, b);
  if (x_grad || w_grad || b_grad) backward(ctx, y, dy);
  LinearResult r;
  r.y = ctx.to_host(y);
  if (x_grad) r.dx = ctx.to_host(x.grad());
  if (w_grad) r.dw = ctx.to_host(w.grad());
  if (b_grad) r.db = ctx.to_host(b.grad());
  return r;
}

void expect_matches(const LinearResult& gpu, const LinearResult& cpu, const LinearCase& c,
                    bool tf32) {
  const std::string name = c.name;
  // Each y sums `in` products; dx sums `out`; dw and db sum `batch`.
  EXPECT_TRUE(all_close(gpu.y, cpu.y, tolerance(double(c.in), tf32), name + " y"));
  EXPECT_EQ(gpu.dx.defined(), cpu.dx.defined()) << name << " dx";
  EXPECT_EQ(gpu.dw.defined(), cpu.dw.defined()) << name << " dw";
  EXPECT_EQ(gpu.db.defined(), cpu.db.defined()) << name << " db";
  if (cpu.dx.defined() && gpu.dx.defined()) {
    EXPECT_TRUE(all_close(gpu.dx, cpu.dx, tolerance(double(c.out), tf32), name + " dx"));
  }
  if (cpu.dw.defined() && gpu.dw.defined()) {
    EXPECT_TRUE(all_close(gpu.dw, cpu.dw, tolerance(double(c.batch), tf32), name + " dw"));
  }
  // The bias gradient is a plain FP32 sum on both sides (no tensor cores).
  if (cpu.db.defined() && gpu.db.defined()) {
    EXPECT_TRUE(all_close(gpu.db, cpu.db, tolerance(double(c.batch), false), name + " db"));
  }
}

TEST(CudaParity, LinearForwardAndAllGradients) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  for (const LinearCase& c : kCases) {
    SCOPED_TRACE(c.name);
    expect_matches(run_linear(*gpu, c, true, true, true), run_linear(cpu, c, true, true, true), c,
                   false);
  }
}

TEST(CudaParity, LinearPartialGradients) {
  TL_REQUIRE_GPU(gpu);
  Context cpu(Device::CPU);
  for (const LinearCase& c : {kCases[1], kCases[2]}) {
    SCOPED_TRACE(c.name);
    // Frozen layer below a trainable one: dx only.
    expect_matches(run_linear(*gpu, c, true, false, false), run_linear(cpu, c, true, false, false),
                   c, false);
    // The first trainable layer: dw and db, no dx.
    expect_matches(run_linear(*gpu, c, false, true, true), run_linear(cpu, c, false, true, true), c,
                   false);
  }
}

TEST(CudaParity, LinearTf32) {
  TL_REQUIRE_GPU(gpu);
  gpu->set_allow_tf32(true);
#ifdef TL_WITH_CUDA
  cublasMath_t mode{};
  ASSERT_EQ(cublasGetMathMode(gpu->cuda()->cublas, &mode), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(mode, CUBLAS_TF32_TENSOR_OP_MATH);
#endif
  Context cpu(Device::CPU);
  for (const LinearCase& c : {kCases[0], kCases[3]}) {
    SCOPED_TRACE(c.name);
    expect_matches(run_linear(*gpu, c, true, true, true), run_linear(cpu, c, true, true, true), c,
                   true);
  }
  gpu->set_allow_tf32(false);
#ifdef TL_WITH_CUDA
  ASSERT_EQ(cublasGetMathMode(gpu->cuda()->cublas, &mode), CUBLAS_STATUS_SUCCESS);
  EXPECT_EQ(mode, CUBLAS_PEDANTIC_MATH);
#endif
}

}  // namespace
}  // namespace tl::test
