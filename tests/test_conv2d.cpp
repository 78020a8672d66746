// conv2d: gradient checks of the plain reference kernels (double), the fast
// path's chunked im2col against its single-chunk run, PyTorch parity through
// ops::conv2d on both CPU tiers (float32 vs torch float64), frozen inputs,
// and argument validation. The fast path against the reference:
// tests/test_cpu_fast_vs_reference.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd.h"
#include "engine/ops.h"
#include "kernels/conv2d.h"
#include "kernels/reference/conv2d.h"
#include "tests/support/compare.h"
#include "tests/support/cpu_tiers.h"
#include "tests/support/gradcheck.h"
#include "tests/support/npy.h"

namespace tl::test {
namespace {

// ---- tolerances ------------------------------------------------------------
// Forward and dx: float32 sums of at most 147 products of O(1) terms (w is
// scaled by 1/sqrt(fan-in)) against float64 torch; seen <= 1e-6 with OpenBLAS,
// the margin covers the built-in loop's plain sequential summation (the
// reference, summing in double, is closer still).
constexpr Tolerance kConvTol{2e-5, 2e-5};
// dw and dbias sum over every output pixel of the batch (up to 84 products of
// randn x randn, |dw| up to 30), so the absolute error is larger: seen 8e-6.
constexpr Tolerance kConvWeightGradTol{5e-5, 2e-5};
// Chunked vs unchunked in double: only the dw summation order differs.
constexpr Tolerance kChunkTol{1e-12, 1e-12};

Conv2dGeometry make_geometry(int64_t n, int64_t h, int64_t w, int64_t c, int64_t o, int64_t k,
                             int64_t stride, int64_t pad) {
  Conv2dGeometry g;
  g.batch = n, g.in_h = h, g.in_w = w, g.in_c = c;
  g.out_c = o, g.kernel_h = k, g.kernel_w = k, g.stride = stride, g.pad = pad;
  return g;
}

size_t x_size(const Conv2dGeometry& g) { return size_t(g.batch * g.in_h * g.in_w * g.in_c); }
size_t w_size(const Conv2dGeometry& g) { return size_t(g.out_c * g.patch_size()); }
size_t y_size(const Conv2dGeometry& g) { return size_t(g.batch * g.out_h() * g.out_w() * g.out_c); }
// Column bytes of one image in double: a budget of this many bytes per image.
int64_t image_columns_bytes(const Conv2dGeometry& g) {
  return g.out_h() * g.out_w() * g.patch_size() * int64_t(sizeof(double));
}
constexpr int64_t kDefaultBudget = int64_t(16) << 20;  // as in conv2d.cpp

// Checks the reference's dx, dw and dbias by central differences; the
// gradient buffers start as NaN so an element the kernel does not overwrite fails.
::testing::AssertionResult conv_gradcheck(const Conv2dGeometry& g, uint64_t seed) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  ForwardFn forward = [&](const Buffers& in) {
    std::vector<double> y(y_size(g), nan);
    conv2d_forward_reference(y.data(), in[0].data(), in[1].data(), in[2].data(), g);
    return y;
  };
  BackwardFn backward = [&](const Buffers& in, const std::vector<double>& dy) {
    Buffers d{std::vector<double>(x_size(g), nan), std::vector<double>(w_size(g), nan),
              std::vector<double>(size_t(g.out_c), nan)};
    conv2d_backward_reference(d[0].data(), d[1].data(), d[2].data(), dy.data(), in[0].data(),
                              in[1].data(), g);
    return d;
  };
  return gradcheck(forward, backward,
                   {random_doubles(x_size(g), seed), random_doubles(w_size(g), seed + 1),
                    random_doubles(size_t(g.out_c), seed + 2)});
}

TEST(GradCheck, Conv2d3x3Stride1Pad1) {
  EXPECT_TRUE(conv_gradcheck(make_geometry(2, 5, 4, 3, 4, 3, 1, 1), 11));
}
TEST(GradCheck, Conv2d3x3Stride2Pad1) {
  EXPECT_TRUE(conv_gradcheck(make_geometry(2, 6, 5, 3, 4, 3, 2, 1), 21));
}
TEST(GradCheck, Conv2d1x1Stride2) {  // ResNet's downsampling shortcut
  EXPECT_TRUE(conv_gradcheck(make_geometry(2, 5, 6, 4, 3, 1, 2, 0), 31));
}
TEST(GradCheck, Conv2d1x1Stride1) {  // the fast path's pointwise case: no im2col
  EXPECT_TRUE(conv_gradcheck(make_geometry(2, 4, 3, 4, 3, 1, 1, 0), 41));
}
TEST(GradCheck, Conv2d7x7Stride2Pad3) {  // the stem, small
  EXPECT_TRUE(conv_gradcheck(make_geometry(2, 9, 8, 2, 3, 7, 2, 3), 51));
}
TEST(GradCheck, Conv2dPadWiderThanKernel) {  // whole patch rows/columns of padding
  EXPECT_TRUE(conv_gradcheck(make_geometry(2, 3, 2, 2, 2, 3, 2, 3), 81));
}

// The fast path: a small column budget (several chunks) gives the
// single-chunk result, and each gradient is the same when the others are
// skipped (null). (FastVsReference.Conv2d* compare both with the reference.)
void check_small_budget(const Conv2dGeometry& g, int64_t budget, uint64_t seed) {
  const std::vector<double> x = random_doubles(x_size(g), seed),
                            w = random_doubles(w_size(g), seed + 1),
                            b = random_doubles(size_t(g.out_c), seed + 2),
                            dy = random_doubles(y_size(g), seed + 3);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  auto run = [&](int64_t budget, bool want_dx, bool want_dw, bool want_db) {
    std::vector<double> y(y_size(g), nan), dx(x_size(g), nan), dw(w_size(g), nan),
        db(size_t(g.out_c), nan);
    conv2d_forward_im2col_cpu(y.data(), x.data(), w.data(), b.data(), g, budget);
    conv2d_backward_im2col_cpu(want_dx ? dx.data() : nullptr, want_dw ? dw.data() : nullptr,
                        want_db ? db.data() : nullptr, dy.data(), x.data(), w.data(), g, budget);
    return Buffers{y, dx, dw, db};
  };
  // Compared in double: rounding the results to float first would hide
  // differences below float precision, which is what kChunkTol bounds.
  auto close_in_double = [](const std::vector<double>& actual, const std::vector<double>& expected,
                            const std::string& what) -> ::testing::AssertionResult {
    if (actual.size() != expected.size()) return ::testing::AssertionFailure() << what << ": sizes differ";
    for (size_t i = 0; i < actual.size(); ++i) {
      const double bound = kChunkTol.atol + kChunkTol.rtol * std::fabs(expected[i]);
      if (!(std::fabs(actual[i] - expected[i]) <= bound))  // NaN (an unwritten element) fails too
        return ::testing::AssertionFailure() << what << "[" << i << "]: " << actual[i] << " vs " << expected[i];
    }
    return ::testing::AssertionSuccess();
  };
  const Buffers whole = run(kDefaultBudget, true, true, true);
  const Buffers chunked = run(budget, true, true, true);
  const char* names[] = {"y", "dx", "dw", "dbias"};
  for (int i = 0; i < 4; ++i)
    EXPECT_TRUE(close_in_double(chunked[i], whole[i], std::string("chunked ") + names[i]));
  // Only one gradient at a time; the skipped ones stay untouched (NaN).
  for (int only = 1; only <= 3; ++only) {
    const Buffers one = run(budget, only == 1, only == 2, only == 3);
    for (int i = 1; i <= 3; ++i) {
      if (i == only) {
        EXPECT_TRUE(close_in_double(one[i], whole[i], std::string("alone ") + names[i]));
      } else {
        EXPECT_TRUE(std::isnan(one[i][0])) << names[i] << " written although null";
      }
    }
  }
}

TEST(Conv2dKernel, ChunkedMatchesSingleChunk) {  // chunks of 2 + 2 + 1 images
  const Conv2dGeometry g = make_geometry(5, 7, 6, 3, 4, 3, 2, 1);
  check_small_budget(g, 2 * image_columns_bytes(g), 71);
}

TEST(Conv2dKernel, PointwiseRowBlocksMatchOneBlock) {  // 60 rows of y in blocks of 7
  const Conv2dGeometry g = make_geometry(5, 4, 3, 4, 3, 1, 1, 0);
  check_small_budget(g, 7 * g.out_c * int64_t(sizeof(double)), 75);
}

// ---- PyTorch parity through ops::conv2d ------------------------------------

Tensor param(const Tensor& t) {
  Tensor p = t;
  p.set_requires_grad(true);
  return p;
}

struct Loaded {
  Tensor x, w, b;
  int64_t stride = 0, pad = 0;
};

Loaded load_case(const std::string& name, bool has_bias) {
  Loaded l;
  l.x = load_reference(name, "x");
  l.w = load_reference(name, "w");
  if (has_bias) l.b = load_reference(name, "b");
  const Tensor geom = load_reference(name, "geom");  // [stride, pad], as torch used them
  l.stride = geom.data<int32_t>()[0];
  l.pad = geom.data<int32_t>()[1];
  return l;
}

void check_parity_on(CpuKernels tier, const std::string& name, bool has_bias) {
  SCOPED_TRACE(tier_name(tier));
  Context ctx(Device::CPU);
  ctx.set_cpu_kernels(tier);
  ctx.set_poison_allocations(true);
  Loaded l = load_case(name, has_bias);
  Tensor x = param(l.x), w = param(l.w), b = has_bias ? param(l.b) : Tensor();
  Tensor y = ops::conv2d(ctx, x, w, b, l.stride, l.pad);
  EXPECT_TRUE(all_close(y, load_reference(name, "y"), kConvTol, name + " y"));
  backward(ctx, y, load_reference(name, "dy"));
  EXPECT_TRUE(all_close(x.grad(), load_reference(name, "dx"), kConvTol, name + " dx"));
  EXPECT_TRUE(all_close(w.grad(), load_reference(name, "dw"), kConvWeightGradTol, name + " dw"));
  if (has_bias) {
    EXPECT_TRUE(all_close(b.grad(), load_reference(name, "db"), kConvWeightGradTol, name + " db"));
  }
}

void check_parity(const std::string& name, bool has_bias = true) {
  for (CpuKernels tier : kCpuTiers) check_parity_on(tier, name, has_bias);
}

TEST(Parity, Conv2d3x3Stride1Pad1) { check_parity("conv2d_3x3_s1_p1"); }
TEST(Parity, Conv2d3x3Stride2Pad1) { check_parity("conv2d_3x3_s2_p1"); }
TEST(Parity, Conv2d1x1Stride2) { check_parity("conv2d_1x1_s2_p0"); }
TEST(Parity, Conv2d1x1Stride1) { check_parity("conv2d_1x1_s1_p0"); }
TEST(Parity, Conv2d7x7Stride2Pad3) { check_parity("conv2d_7x7_s2_p3"); }
TEST(Parity, Conv2dNoBias) { check_parity("conv2d_3x3_s1_p1_nobias", /*has_bias=*/false); }

// Frozen tensors get no gradient, and the ones that do are still right.
void check_frozen_inputs(CpuKernels tier) {
  SCOPED_TRACE(tier_name(tier));
  const std::string name = "conv2d_3x3_s1_p1";
  {
    Context ctx(Device::CPU);
    ctx.set_cpu_kernels(tier);
    ctx.set_poison_allocations(true);
    Loaded l = load_case(name, true);
    Tensor w = param(l.w), b = param(l.b);  // x is data: no gradient
    Tensor y = ops::conv2d(ctx, l.x, w, b, l.stride, l.pad);
    backward(ctx, y, load_reference(name, "dy"));
    EXPECT_FALSE(l.x.grad().defined());
    EXPECT_TRUE(all_close(w.grad(), load_reference(name, "dw"), kConvWeightGradTol, "dw"));
    EXPECT_TRUE(all_close(b.grad(), load_reference(name, "db"), kConvWeightGradTol, "db"));
  }
  {
    Context ctx(Device::CPU);
    ctx.set_cpu_kernels(tier);
    ctx.set_poison_allocations(true);
    Loaded l = load_case(name, true);
    Tensor x = param(l.x);  // frozen layer, gradient flows to its input only
    Tensor y = ops::conv2d(ctx, x, l.w, l.b, l.stride, l.pad);
    backward(ctx, y, load_reference(name, "dy"));
    EXPECT_FALSE(l.w.grad().defined());
    EXPECT_FALSE(l.b.grad().defined());
    EXPECT_TRUE(all_close(x.grad(), load_reference(name, "dx"), kConvTol, "dx"));
  }
  {
    Context ctx(Device::CPU);
    Loaded l = load_case(name, true);
    Tensor y = ops::conv2d(ctx, l.x, l.w, l.b, l.stride, l.pad);
    EXPECT_FALSE(y.requires_grad());  // nothing trainable: no node recorded
  }
}

TEST(Conv2dOp, FrozenInputsGetNoGradient) {
  for (CpuKernels tier : kCpuTiers) check_frozen_inputs(tier);
}

// Each bad argument throws a tl::Error that names conv2d and the shapes.
TEST(Conv2dOp, RejectsBadArguments) {
  Context ctx(Device::CPU);
  const Tensor x = Tensor::zeros({2, 5, 5, 3});
  const Tensor w = Tensor::zeros({4, 3, 3, 3});
  const Tensor b = Tensor::zeros({4});
  auto expect_error = [&](const Tensor& xx, const Tensor& ww, const Tensor& bb, int64_t stride,
                          int64_t pad, const std::string& needle) {
    try {
      ops::conv2d(ctx, xx, ww, bb, stride, pad);
      ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("conv2d"), std::string::npos) << msg;
      EXPECT_NE(msg.find(needle), std::string::npos) << msg;
    }
  };
  expect_error(Tensor::zeros({5, 5, 3}), w, b, 1, 1, "rank 4");
  expect_error(x, Tensor::zeros({4, 3, 3}), b, 1, 1, "rank 4");
  expect_error(x, Tensor::zeros({4, 3, 3, 2}), b, 1, 1, "(4, 3, 3, 2)");  // channel mismatch
  expect_error(x, w, Tensor::zeros({5}), 1, 1, "(5,)");                   // bias per output
  expect_error(x, w, Tensor::zeros({4, 1}), 1, 1, "rank 1");
  expect_error(x, Tensor::zeros({4, 7, 7, 3}), b, 1, 0, "(2, 5, 5, 3)");  // output empty
  expect_error(x, w, b, 0, 1, "stride");
  expect_error(x, w, b, 1, -1, "pad");
  // The edge that fits exactly is accepted: 5 + 2*1 - 7 = 0 -> 1x1 output.
  EXPECT_EQ(ops::conv2d(ctx, x, Tensor::zeros({4, 7, 7, 3}), b, 1, 1).shape(),
            (Shape{2, 1, 1, 4}));
}

}  // namespace
}  // namespace tl::test
