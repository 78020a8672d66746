// The fast CPU kernels (kernels/*.cpp) against the plain reference
// (kernels/reference/*.cpp), op by op: the gradient checks and PyTorch judge
// the reference, and this file carries that judgement over to the fast path
// that training runs (docs/cpu_reference.md).
//
// Every op runs in float (what training uses) and in double (the same code;
// only the order of the sums differs, so the bounds are tight there and an
// indexing slip cannot hide behind float noise). The shapes are chosen to
// reach the fast path's special cases: GEMMs that cross the blocked loop's
// 64/256/256 blocks and the threshold where a GEMM is split across threads,
// the pointwise convolution and its bias row blocks, im2col chunks of one
// image, odd channel counts (the stem's 3, runs that fit no vector width),
// batch-norm row and channel tiles with partial edges, max-pool channel
// blocks, the OpenMP thresholds, dropout's blocks of four elements.
//
// Tolerances. The reference sums in double and rounds once, so its own error
// is at most u = eps/2 of each result; the bounds below are the fast path's
// error, derived from the float operations it performs:
//  * A sum of n rounded terms, in any order (BLAS's blocking, a tile's
//    partial sums, FMA or not), is within n·u·M of the exact sum, where
//    M = the sum of the terms' magnitudes (the classic bound for dot
//    products). M is computed by running the reference on |inputs|. Each
//    sum's bound is (n + 1)·eps·M: n·u for the fast path, u for the
//    reference, and a factor 2 to spare.
//  * A short chain of k roundings (an affine map, a bilinear mix) is within
//    k·u of the magnitude it works at; the bounds use 2k·u = k·eps.
//  * A value both tiers sum in double and then round to T differs by at most
//    one ulp (eps·|value|) plus the double reassociation, stated per case.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <limits>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include "kernels/batchnorm.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_onednn.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/linear.h"
#include "kernels/optim.h"
#include "kernels/pool.h"
#include "kernels/preprocess.h"
#include "kernels/reference/batchnorm.h"
#include "kernels/reference/conv2d.h"
#include "kernels/reference/dropout.h"
#include "kernels/reference/linear.h"
#include "kernels/reference/pool.h"
#include "kernels/reference/preprocess.h"
#include "kernels/reference/softmax_xent.h"
#include "kernels/reference/upsample.h"
#include "kernels/softmax_xent.h"
#include "kernels/upsample.h"
#include "tests/support/gradcheck.h"  // random_doubles

namespace tl::test {
namespace {

// ---- helpers ---------------------------------------------------------------

template <typename T>
constexpr double kEps = std::numeric_limits<T>::epsilon();

template <typename T>
const char* type_name() {
  return sizeof(T) == sizeof(float) ? "float" : "double";
}

template <typename T>
std::vector<T> random_values(size_t n, uint64_t seed, double lo = -1.0, double hi = 1.0) {
  const std::vector<double> d = random_doubles(n, seed, lo, hi);
  return std::vector<T>(d.begin(), d.end());
}

template <typename T>
std::vector<T> abs_of(std::vector<T> v) {
  for (T& e : v) e = std::fabs(e);
  return v;
}

// The bound of a sum of `terms` rounded terms whose magnitudes add up to
// magnitude[i] (see the top of the file): (terms + 1) * eps * magnitude[i].
template <typename T>
std::vector<double> sum_bound(const std::vector<T>& magnitude, double terms) {
  std::vector<double> b(magnitude.size());
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = (terms + 1) * kEps<T> * std::fabs(double(magnitude[i]));
  return b;
}

// ulps * eps * |reference[i]| + floor: a value rounded to T once or a few times.
template <typename T>
std::vector<double> relative_bound(const std::vector<T>& reference, double ulps,
                                   double floor = 0.0) {
  std::vector<double> b(reference.size());
  for (size_t i = 0; i < b.size(); ++i)
    b[i] = ulps * kEps<T> * std::fabs(double(reference[i])) + floor;
  return b;
}

// |fast[i] - reference[i]| <= bound[i] for every element; NaN passes only
// opposite NaN. Prints the worst ratio to the bound, so the margins can be read.
template <typename T>
::testing::AssertionResult within(const std::vector<T>& fast, const std::vector<T>& reference,
                                  const std::vector<double>& bound, const std::string& what) {
  if (fast.size() != reference.size() || bound.size() != reference.size())
    return ::testing::AssertionFailure() << what << ": sizes differ";
  int64_t failures = 0;
  double worst = 0;
  std::ostringstream first;
  for (size_t i = 0; i < fast.size(); ++i) {
    const double f = fast[i], r = reference[i];
    if (std::isnan(f) && std::isnan(r)) continue;
    const double err = std::fabs(f - r);
    if (bound[i] > 0) worst = std::max(worst, err / bound[i]);
    if (!(err <= bound[i])) {
      if (failures++ == 0)
        first << " first at [" << i << "]: fast " << f << ", reference " << r << ", bound "
              << bound[i];
    }
  }
  std::cout << "  " << what << ": worst " << worst << " of the bound\n";
  if (failures > 0)
    return ::testing::AssertionFailure() << what << ": " << failures << " of " << fast.size()
                                         << " elements out of bounds;" << first.str();
  return ::testing::AssertionSuccess();
}

template <typename T>
::testing::AssertionResult identical(const std::vector<T>& fast, const std::vector<T>& reference,
                                     const std::string& what) {
  return within(fast, reference, std::vector<double>(reference.size(), 0.0), what);
}

// ---- conv2d ------------------------------------------------------------------

struct ConvCase {
  const char* what;
  int64_t n, h, w, c, o, k, stride, pad;
  int64_t images_per_chunk;  // 0: the default 16 MB column budget
  int64_t pointwise_rows;    // > 0: the pointwise path's bias row block, in rows
};

// Each case names the fast-path branch it is there for.
const ConvCase kConvCases[] = {
    {"3x3 s1 p1, C=33 O=70: GEMM past the 64/256/256 blocks, split across threads",
     2, 9, 9, 33, 70, 3, 1, 1, 0, 0},
    {"3x3 s2 p1, one image per im2col chunk (dw accumulates across chunks)",
     3, 7, 6, 3, 4, 3, 2, 1, 1, 0},
    {"7x7 s2 p3, C=3: the stem, runs of 3 channels", 2, 15, 15, 3, 8, 7, 2, 3, 0, 0},
    {"3x3 s2 p3 on 3x2: whole patch rows and columns of padding", 2, 3, 2, 2, 2, 3, 2, 3, 0, 0},
    {"1x1 s2: strided pointwise through im2col", 2, 8, 8, 16, 12, 1, 2, 0, 0, 0},
    {"1x1 s1: the pointwise path, no im2col, bias in blocks of 7 rows",
     3, 5, 7, 6, 5, 1, 1, 0, 0, 7},
    {"3x3 s1 p1 with 2x24x24 = 1152 output pixels: where training takes oneDNN",
     2, 24, 24, 16, 24, 3, 1, 1, 0, 0},
    {"1x1 s2 with 1152 output pixels, 17 channels: oneDNN's strided pointwise, odd channels",
     2, 48, 48, 17, 20, 1, 2, 0, 0, 0},
};

// Im2col: the im2col + GEMM path with each case's column budget. Dispatch:
// the entry points training uses (oneDNN for float on the cases large enough,
// when the build has it). OneDnn: oneDNN itself on every case (float only;
// it leaves the bias gradient to its caller, which sums it as im2col does).
enum class ConvPath { Im2col, Dispatch, OneDnn };

template <typename T>
void check_conv2d(ConvPath path) {
  uint64_t seed = 100;
  for (const ConvCase& cs : kConvCases) {
    SCOPED_TRACE(std::string(cs.what) + " (" + type_name<T>() + ")");
    Conv2dGeometry g;
    g.batch = cs.n, g.in_h = cs.h, g.in_w = cs.w, g.in_c = cs.c;
    g.out_c = cs.o, g.kernel_h = cs.k, g.kernel_w = cs.k, g.stride = cs.stride, g.pad = cs.pad;
    const int64_t pixels = g.out_h() * g.out_w(), K = g.patch_size();
    int64_t budget = int64_t(16) << 20;
    if (cs.images_per_chunk > 0) budget = cs.images_per_chunk * pixels * K * int64_t(sizeof(T));
    if (cs.pointwise_rows > 0) budget = cs.pointwise_rows * g.out_c * int64_t(sizeof(T));

    const size_t nx = size_t(g.batch * g.in_h * g.in_w * g.in_c), nw = size_t(g.out_c * K);
    const size_t ny = size_t(g.batch * pixels * g.out_c), nb = size_t(g.out_c);
    const std::vector<T> x = random_values<T>(nx, seed), w = random_values<T>(nw, seed + 1),
                         b = random_values<T>(nb, seed + 2), dy = random_values<T>(ny, seed + 3);
    seed += 10;

    std::vector<T> y(ny), y_ref(ny), y_mag(ny);
    if (path == ConvPath::Im2col)
      conv2d_forward_im2col_cpu(y.data(), x.data(), w.data(), b.data(), g, budget);
    else if (path == ConvPath::Dispatch)
      conv2d_forward_cpu(y.data(), x.data(), w.data(), b.data(), g);
    else if constexpr (std::is_same_v<T, float>)
      ASSERT_TRUE(conv2d_forward_onednn(y.data(), x.data(), w.data(), b.data(), g));
    conv2d_forward_reference(y_ref.data(), x.data(), w.data(), b.data(), g);
    conv2d_forward_reference(y_mag.data(), abs_of(x).data(), abs_of(w).data(), abs_of(b).data(), g);

    std::vector<T> dx(nx), dw(nw), db(nb), dx_ref(nx), dw_ref(nw), db_ref(nb);
    std::vector<T> dx_mag(nx), dw_mag(nw), db_mag(nb);
    if (path == ConvPath::Im2col)
      conv2d_backward_im2col_cpu(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(),
                                 g, budget);
    else if (path == ConvPath::Dispatch)
      conv2d_backward_cpu(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), g);
    else if constexpr (std::is_same_v<T, float>)
      ASSERT_TRUE(conv2d_backward_onednn(dx.data(), dw.data(), dy.data(), x.data(), w.data(), g));
    conv2d_backward_reference(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(),
                              w.data(), g);
    conv2d_backward_reference(dx_mag.data(), dw_mag.data(), db_mag.data(), abs_of(dy).data(),
                              abs_of(x).data(), abs_of(w).data(), g);

    // y: K products and the bias. dx: the dcols GEMM sums O products, then
    // col2im adds the KH*KW patches that overlap a pixel: at most O*KH*KW
    // terms. dw: one GEMM per chunk over its rows, the chunks added in turn:
    // at most N*OH*OW terms. dbias: summed in double by both tiers (rows of
    // magnitude <= 1, so the double reassociation is far below 1e-12).
    EXPECT_TRUE(within(y, y_ref, sum_bound(y_mag, double(K + 1)), "y"));
    EXPECT_TRUE(within(dx, dx_ref, sum_bound(dx_mag, double(g.out_c * g.kernel_h * g.kernel_w)),
                       "dx"));
    EXPECT_TRUE(within(dw, dw_ref, sum_bound(dw_mag, double(g.batch * pixels)), "dw"));
    if (path != ConvPath::OneDnn)
      EXPECT_TRUE(within(db, db_ref, relative_bound(db_ref, 1.0, 1e-12), "dbias"));
  }
}

TEST(FastVsReference, Conv2dFloat) { check_conv2d<float>(ConvPath::Im2col); }
TEST(FastVsReference, Conv2dDouble) { check_conv2d<double>(ConvPath::Im2col); }
TEST(FastVsReference, Conv2dFloatAsTrainingCallsIt) { check_conv2d<float>(ConvPath::Dispatch); }
// oneDNN sums in its own order (blocked over channels, its own threads); the
// bounds above hold for any order, so they hold for it unchanged.
TEST(FastVsReference, Conv2dFloatOneDnn) {
  if (!onednn_available()) GTEST_SKIP() << "this build has no oneDNN (libdnnl-dev)";
  check_conv2d<float>(ConvPath::OneDnn);
}

// ---- linear ------------------------------------------------------------------

struct LinearCase {
  const char* what;
  int64_t batch, in, out;
  bool bias;
};

const LinearCase kLinearCases[] = {
    {"3x5 -> 4, with bias", 3, 5, 4, true},
    {"67x300 -> 261, no bias: GEMMs past the blocks, split across threads", 67, 300, 261, false},
    {"empty batch: dw and db are empty sums (zero)", 0, 6, 5, true},
};

template <typename T>
void check_linear() {
  uint64_t seed = 200;
  for (const LinearCase& cs : kLinearCases) {
    SCOPED_TRACE(std::string(cs.what) + " (" + type_name<T>() + ")");
    const int64_t N = cs.batch, I = cs.in, O = cs.out;
    const std::vector<T> x = random_values<T>(size_t(N * I), seed),
                         w = random_values<T>(size_t(I * O), seed + 1),
                         b = random_values<T>(size_t(O), seed + 2),
                         dy = random_values<T>(size_t(N * O), seed + 3);
    seed += 10;
    const T* bias = cs.bias ? b.data() : nullptr;
    const std::vector<T> b_abs = abs_of(b);
    const T* bias_mag = cs.bias ? b_abs.data() : nullptr;

    std::vector<T> y(size_t(N * O)), y_ref(y.size()), y_mag(y.size());
    linear_forward_cpu(y.data(), x.data(), w.data(), bias, N, I, O);
    linear_forward_reference(y_ref.data(), x.data(), w.data(), bias, N, I, O);
    linear_forward_reference(y_mag.data(), abs_of(x).data(), abs_of(w).data(), bias_mag, N, I, O);

    std::vector<T> dx(static_cast<size_t>(N * I)), dw(static_cast<size_t>(I * O)),
        db(static_cast<size_t>(O));
    std::vector<T> dx_ref(dx.size()), dw_ref(dw.size()), db_ref(db.size());
    std::vector<T> dx_mag(dx.size()), dw_mag(dw.size()), db_mag(db.size());
    // NaN first: an element the fast path forgets to write fails.
    std::fill(dw.begin(), dw.end(), std::numeric_limits<T>::quiet_NaN());
    std::fill(db.begin(), db.end(), std::numeric_limits<T>::quiet_NaN());
    linear_backward_cpu(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), N, I, O);
    linear_backward_reference(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(),
                              w.data(), N, I, O);
    linear_backward_reference(dx_mag.data(), dw_mag.data(), db_mag.data(), abs_of(dy).data(),
                              abs_of(x).data(), abs_of(w).data(), N, I, O);

    // Sums of in (+ bias), out, batch and batch terms; db is summed in T by
    // the fast path, in row order.
    EXPECT_TRUE(within(y, y_ref, sum_bound(y_mag, double(I + 1)), "y"));
    EXPECT_TRUE(within(dx, dx_ref, sum_bound(dx_mag, double(O)), "dx"));
    EXPECT_TRUE(within(dw, dw_ref, sum_bound(dw_mag, double(N)), "dw"));
    EXPECT_TRUE(within(db, db_ref, sum_bound(db_mag, double(N)), "db"));
  }
}

TEST(FastVsReference, LinearFloat) { check_linear<float>(); }
TEST(FastVsReference, LinearDouble) { check_linear<double>(); }

// ---- batch norm --------------------------------------------------------------

struct BatchNormCase {
  const char* what;
  int64_t rows, channels;
};

const BatchNormCase kBatchNormCases[] = {
    {"1100 x 300: 3 row tiles and 2 channel tiles of 512 x 256, partial edges, OpenMP", 1100,
     300},
    {"4 x 2000: the head's BN after Flatten, one row tile, 8 channel tiles", 4, 2000},
    {"12 x 3: below the OpenMP threshold", 12, 3},
};

// Inputs: x in [-1, 3] (a mean away from 0), dy in [-1, 1], gamma in
// [0.5, 1.5], beta in [-1, 1], running mean in [-0.5, 0.5] and var in [0.5, 2].
//
// Bounds (derived from these ranges, rows <= 1100):
//  * batch and running statistics: both tiers sum in double and round once;
//    they differ by one ulp of T plus the double reassociation of <= 1100
//    terms of magnitude <= 16 (the squares), which moves a mean or a
//    variance by less than S = 4e-12.
//  * y = (x - mean) * scale + beta: the fast path rounds 4 times (x - mean,
//    scale = gamma * invstd, the product, + beta), at magnitudes up to
//    m = (|x| + |mean|) * |scale| + |beta|; its saved statistics may each be
//    one ulp off the reference's: 4 eps m, plus S (|scale| + |gamma| |x - mean|)
//    for the reassociation (visible in double only). Inference rounds 1/std
//    too: 5 eps m.
//  * dgamma, dbeta: the same double terms in another order (training), or
//    terms scaled by a 1/std rounded to T (inference: one ulp relative); the
//    reassociation of <= 1100 terms of magnitude <= 4 is below G = 1e-9.
//  * training dx = scale * (g - mean(g) - xhat * mean(g xhat)): about 8
//    roundings at magnitude |scale| * (|g| + |mean(g)| + |xhat| |mean(g xhat)|):
//    8 eps, plus |scale| (1 + |xhat|) G / rows for the sums' reassociation.
//  * inference dx = g * scale: scale and the product rounded, 1/std too: 3 eps.
// The ReLU mask: where the pre-activation is within rounding of 0, float and
// double may legitimately disagree on it; dy is set to 0 where the reference's
// pre-activation is within 1e-4 of 0, so a disagreement there cannot matter.
template <typename T>
void check_batchnorm_case(const BatchNormCase& cs, bool relu, uint64_t seed) {
  const BatchNormGeometry g{cs.rows, cs.channels};
  const int64_t R = cs.rows, C = cs.channels;
  const size_t n = size_t(R * C), c = size_t(C);
  const T eps = T(1e-3), momentum = T(0.99);
  const std::vector<T> x = random_values<T>(n, seed, -1.0, 3.0);
  const std::vector<T> gamma = random_values<T>(c, seed + 1, 0.5, 1.5);
  const std::vector<T> beta = random_values<T>(c, seed + 2);
  const std::vector<T> rmean0 = random_values<T>(c, seed + 3, -0.5, 0.5);
  const std::vector<T> rvar0 = random_values<T>(c, seed + 4, 0.5, 2.0);
  std::vector<T> dy = random_values<T>(n, seed + 5);
  constexpr double kStatisticsFloor = 4e-12, kSumFloor = 1e-9, kKink = 1e-4;

  // ---- training ----
  std::vector<T> y(n), mean(c), invstd(c), rmean = rmean0, rvar = rvar0;
  std::vector<T> y_ref(n), mean_ref(c), invstd_ref(c), rmean_ref = rmean0, rvar_ref = rvar0;
  std::vector<T> pre(n), pre_mean(c), pre_invstd(c);
  batchnorm_forward_train_cpu(y.data(), mean.data(), invstd.data(), rmean.data(), rvar.data(),
                              x.data(), gamma.data(), beta.data(), g, eps, momentum, relu);
  batchnorm_forward_train_reference(y_ref.data(), mean_ref.data(), invstd_ref.data(),
                                    rmean_ref.data(), rvar_ref.data(), x.data(), gamma.data(),
                                    beta.data(), g, eps, momentum, relu);
  batchnorm_forward_train_reference(pre.data(), pre_mean.data(), pre_invstd.data(),
                                    static_cast<T*>(nullptr), static_cast<T*>(nullptr), x.data(),
                                    gamma.data(), beta.data(), g, eps, momentum, false);
  std::vector<double> y_bound(n);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t ch = 0; ch < C; ++ch) {
      const size_t i = size_t(r * C + ch);
      const double m = (std::fabs(double(x[i])) + std::fabs(double(mean_ref[ch]))) *
                           std::fabs(double(gamma[ch]) * double(invstd_ref[ch])) +
                       std::fabs(double(beta[ch]));
      y_bound[i] = 4 * kEps<T> * m +
                   kStatisticsFloor * std::fabs(double(gamma[ch])) *
                       (double(invstd_ref[ch]) + std::fabs(double(x[i]) - double(mean_ref[ch])));
      if (relu && std::fabs(double(pre[i])) < kKink) dy[i] = T(0);
    }
  EXPECT_TRUE(within(mean, mean_ref, relative_bound(mean_ref, 1.0, kStatisticsFloor), "mean"));
  EXPECT_TRUE(within(invstd, invstd_ref, relative_bound(invstd_ref, 1.0, kStatisticsFloor),
                     "invstd"));
  EXPECT_TRUE(within(rmean, rmean_ref, relative_bound(rmean_ref, 1.0, kStatisticsFloor),
                     "running_mean"));
  EXPECT_TRUE(within(rvar, rvar_ref, relative_bound(rvar_ref, 1.0, kStatisticsFloor),
                     "running_var"));
  EXPECT_TRUE(within(y, y_ref, y_bound, "training y"));

  // Both backwards from the reference's saved statistics, so that only the
  // backward differs.
  std::vector<T> dx(n), dgamma(c), dbeta(c), dx_ref(n), dgamma_ref(c), dbeta_ref(c);
  batchnorm_backward_train_cpu(dx.data(), dgamma.data(), dbeta.data(), dy.data(), x.data(),
                               gamma.data(), beta.data(), mean_ref.data(), invstd_ref.data(), g,
                               relu);
  batchnorm_backward_train_reference(dx_ref.data(), dgamma_ref.data(), dbeta_ref.data(), dy.data(),
                                     x.data(), gamma.data(), beta.data(), mean_ref.data(),
                                     invstd_ref.data(), g, relu);
  std::vector<double> dx_bound(n);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t ch = 0; ch < C; ++ch) {
      const size_t i = size_t(r * C + ch);
      const double scale = std::fabs(double(gamma[ch]) * double(invstd_ref[ch]));
      const double xhat = std::fabs((double(x[i]) - double(mean_ref[ch])) * double(invstd_ref[ch]));
      const double m = scale * (std::fabs(double(dy[i])) + std::fabs(double(dbeta_ref[ch])) / R +
                                xhat * std::fabs(double(dgamma_ref[ch])) / R);
      dx_bound[i] = 8 * kEps<T> * m + scale * (1 + xhat) * kSumFloor / double(R);
    }
  EXPECT_TRUE(within(dbeta, dbeta_ref, relative_bound(dbeta_ref, 1.0, kSumFloor), "dbeta"));
  EXPECT_TRUE(within(dgamma, dgamma_ref, relative_bound(dgamma_ref, 1.0, kSumFloor), "dgamma"));
  EXPECT_TRUE(within(dx, dx_ref, dx_bound, "training dx"));

  // ---- inference ----
  std::vector<T> yi(n), yi_ref(n), pre_i(n);
  batchnorm_forward_infer_cpu(yi.data(), x.data(), gamma.data(), beta.data(), rmean0.data(),
                              rvar0.data(), g, eps, relu);
  batchnorm_forward_infer_reference(yi_ref.data(), x.data(), gamma.data(), beta.data(),
                                    rmean0.data(), rvar0.data(), g, eps, relu);
  batchnorm_forward_infer_reference(pre_i.data(), x.data(), gamma.data(), beta.data(),
                                    rmean0.data(), rvar0.data(), g, eps, false);
  std::vector<T> dyi = random_values<T>(n, seed + 6);
  std::vector<double> yi_bound(n);
  for (int64_t r = 0; r < R; ++r)
    for (int64_t ch = 0; ch < C; ++ch) {
      const size_t i = size_t(r * C + ch);
      const double invstd_i = 1.0 / std::sqrt(double(rvar0[ch]) + double(eps));
      const double m = (std::fabs(double(x[i])) + std::fabs(double(rmean0[ch]))) *
                           std::fabs(double(gamma[ch])) * invstd_i +
                       std::fabs(double(beta[ch]));
      yi_bound[i] = 5 * kEps<T> * m;
      if (relu && std::fabs(double(pre_i[i])) < kKink) dyi[i] = T(0);
    }
  EXPECT_TRUE(within(yi, yi_ref, yi_bound, "inference y"));
  std::vector<T> dxi(n), dgi(c), dbi(c), dxi_ref(n), dgi_ref(c), dbi_ref(c);
  batchnorm_backward_infer_cpu(dxi.data(), dgi.data(), dbi.data(), dyi.data(), x.data(),
                               gamma.data(), beta.data(), rmean0.data(), rvar0.data(), g, eps,
                               relu);
  batchnorm_backward_infer_reference(dxi_ref.data(), dgi_ref.data(), dbi_ref.data(), dyi.data(),
                                     x.data(), gamma.data(), beta.data(), rmean0.data(),
                                     rvar0.data(), g, eps, relu);
  EXPECT_TRUE(within(dbi, dbi_ref, relative_bound(dbi_ref, 1.0, kSumFloor), "inference dbeta"));
  EXPECT_TRUE(within(dgi, dgi_ref, relative_bound(dgi_ref, 2.0, kSumFloor), "inference dgamma"));
  EXPECT_TRUE(within(dxi, dxi_ref, relative_bound(dxi_ref, 3.0), "inference dx"));
}

template <typename T>
void check_batchnorm() {
  uint64_t seed = 300;
  for (const BatchNormCase& cs : kBatchNormCases)
    for (bool relu : {false, true}) {
      SCOPED_TRACE(std::string(cs.what) + (relu ? ", fused ReLU" : "") + " (" + type_name<T>() +
                   ")");
      check_batchnorm_case<T>(cs, relu, seed);
      seed += 10;
    }
}

TEST(FastVsReference, BatchNormFloat) { check_batchnorm<float>(); }
TEST(FastVsReference, BatchNormDouble) { check_batchnorm<double>(); }

// ---- pooling -----------------------------------------------------------------

struct MaxPoolCase {
  const char* what;
  PoolGeometry g;
  int levels;  // > 0: values drawn from this many levels, so that windows tie
  bool nans;   // a few NaN inputs
};

const MaxPoolCase kMaxPoolCases[] = {
    {"3x3 s2 p1, C=150: channel blocks of 64 + 64 + 22, OpenMP", {2, 15, 14, 150, 3, 2, 1}, 0,
     false},
    {"3x3 s1 p1, C=5: nine overlapping windows per pixel, ties", {2, 6, 7, 5, 3, 1, 1}, 3, false},
    {"2x2 s2, C=64: exactly one channel block, ties and NaNs", {3, 8, 6, 64, 2, 2, 0}, 4, true},
};

template <typename T>
void check_maxpool() {
  uint64_t seed = 400;
  for (const MaxPoolCase& cs : kMaxPoolCases) {
    SCOPED_TRACE(std::string(cs.what) + " (" + type_name<T>() + ")");
    const PoolGeometry& g = cs.g;
    const size_t nx = size_t(g.batch * g.in_h * g.in_w * g.channels);
    const size_t ny = size_t(g.batch * g.out_h() * g.out_w() * g.channels);
    std::vector<T> x = random_values<T>(nx, seed);
    if (cs.levels > 0)
      for (T& v : x) v = std::floor((v + T(1)) * T(cs.levels) / T(2));
    if (cs.nans)
      for (size_t i = 0; i < nx; i += 97) x[i] = std::numeric_limits<T>::quiet_NaN();
    const std::vector<T> dy = random_values<T>(ny, seed + 1);
    seed += 10;

    std::vector<T> y(ny), y_ref(ny), dx(nx), dx_ref(nx), dx_mag(nx);
    maxpool2d_forward_cpu(y.data(), x.data(), g);
    maxpool2d_forward_reference(y_ref.data(), x.data(), g);
    maxpool2d_backward_cpu(dx.data(), dy.data(), x.data(), g);
    maxpool2d_backward_reference(dx_ref.data(), dy.data(), x.data(), g);
    maxpool2d_backward_reference(dx_mag.data(), abs_of(dy).data(), x.data(), g);
    // y copies an input: identical (ties and NaNs pick the same value). dx
    // adds up the dy of every window a pixel wins: at most ceil(k/s)^2 of them.
    const int64_t per_axis = (g.kernel + g.stride - 1) / g.stride;
    EXPECT_TRUE(identical(y, y_ref, "y"));
    EXPECT_TRUE(within(dx, dx_ref, sum_bound(dx_mag, double(per_axis * per_axis)), "dx"));
  }
}

TEST(FastVsReference, MaxPoolFloat) { check_maxpool<float>(); }
TEST(FastVsReference, MaxPoolDouble) { check_maxpool<double>(); }

template <typename T>
void check_global_avgpool() {
  struct Case {
    const char* what;
    int64_t batch, spatial, channels;
  };
  const Case cases[] = {{"3 x 56*56 x 67: OpenMP, odd channels", 3, 56 * 56, 67},
                        {"2 x 7*7 x 2048: ResNet50's last block", 2, 49, 2048},
                        {"1 x 2*3 x 5: below the OpenMP threshold", 1, 6, 5}};
  uint64_t seed = 500;
  for (const Case& cs : cases) {
    SCOPED_TRACE(std::string(cs.what) + " (" + type_name<T>() + ")");
    const size_t nx = size_t(cs.batch * cs.spatial * cs.channels);
    const size_t ny = size_t(cs.batch * cs.channels);
    const std::vector<T> x = random_values<T>(nx, seed), dy = random_values<T>(ny, seed + 1);
    seed += 10;
    std::vector<T> y(ny), y_ref(ny), dx(nx), dx_ref(nx);
    global_avgpool_forward_cpu(y.data(), x.data(), cs.batch, cs.spatial, cs.channels);
    global_avgpool_forward_reference(y_ref.data(), x.data(), cs.batch, cs.spatial, cs.channels);
    global_avgpool_backward_cpu(dx.data(), dy.data(), cs.batch, cs.spatial, cs.channels);
    global_avgpool_backward_reference(dx_ref.data(), dy.data(), cs.batch, cs.spatial, cs.channels);
    // y: both sum in double (the fast path then multiplies by 1/spatial, the
    // reference divides): one ulp of T, plus <= 3136 * eps_double of values <= 1.
    // dx = dy / spatial, one correctly rounded division each: one ulp.
    EXPECT_TRUE(within(y, y_ref, relative_bound(y_ref, 1.0, 1e-12), "y"));
    EXPECT_TRUE(within(dx, dx_ref, relative_bound(dx_ref, 1.0), "dx"));
  }
}

TEST(FastVsReference, GlobalAvgPoolFloat) { check_global_avgpool<float>(); }
TEST(FastVsReference, GlobalAvgPoolDouble) { check_global_avgpool<double>(); }

// ---- bilinear upsampling and the input pipeline ------------------------------

struct ResizeCase {
  const char* what;
  int64_t batch, in_h, in_w, channels, out_h, out_w;
};

const ResizeCase kResizeCases[] = {
    {"4x4 -> 28x28 (x7), C=3", 2, 4, 4, 3, 28, 28},
    {"32x32 -> 224x224: the recipe's resize", 1, 32, 32, 3, 224, 224},
    {"5x7 -> 9x4: up in height, down in width, C=5", 2, 5, 7, 5, 9, 4},
    {"7x6 -> 3x2: down, taps skip pixels", 2, 7, 6, 3, 3, 2},
    {"6x5 -> 6x5: the same size", 1, 6, 5, 3, 6, 5},
};

template <typename T>
void check_upsample() {
  uint64_t seed = 600;
  for (const ResizeCase& cs : kResizeCases) {
    SCOPED_TRACE(std::string(cs.what) + " (" + type_name<T>() + ")");
    UpsampleGeometry g;
    g.batch = cs.batch, g.in_h = cs.in_h, g.in_w = cs.in_w, g.channels = cs.channels;
    g.out_h = cs.out_h, g.out_w = cs.out_w;
    const size_t nx = size_t(g.batch * g.in_h * g.in_w * g.channels);
    const size_t ny = size_t(g.batch * g.out_h * g.out_w * g.channels);
    const std::vector<T> x = random_values<T>(nx, seed), dy = random_values<T>(ny, seed + 1);
    seed += 10;
    std::vector<T> y(ny), y_ref(ny), y_mag(ny), dx(nx), dx_ref(nx), dx_mag(nx);
    upsample_bilinear_forward_cpu(y.data(), x.data(), g);
    upsample_bilinear_forward_reference(y_ref.data(), x.data(), g);
    upsample_bilinear_forward_reference(y_mag.data(), abs_of(x).data(), g);
    upsample_bilinear_backward_cpu(dx.data(), dy.data(), g);
    upsample_bilinear_backward_reference(dx_ref.data(), dy.data(), g);
    upsample_bilinear_backward_reference(dx_mag.data(), abs_of(dy).data(), g);
    // y: 1 - lambda twice, 6 products and 3 sums in T: 8 eps of the weighted
    // magnitude. dx: each dy is weighted (2 roundings) and added to its four
    // pixels; a pixel receives from at most (2 ceil(out/in) + 2) rows times as
    // many columns of outputs.
    const int64_t rows = 2 * ((g.out_h + g.in_h - 1) / g.in_h) + 2;
    const int64_t cols = 2 * ((g.out_w + g.in_w - 1) / g.in_w) + 2;
    EXPECT_TRUE(within(y, y_ref, sum_bound(y_mag, 8.0), "y"));
    EXPECT_TRUE(within(dx, dx_ref, sum_bound(dx_mag, double(rows * cols + 2)), "dx"));
  }
}

TEST(FastVsReference, UpsampleBilinearFloat) { check_upsample<float>(); }
TEST(FastVsReference, UpsampleBilinearDouble) { check_upsample<double>(); }

TEST(FastVsReference, PreprocessCaffe) {
  uint64_t seed = 700;
  for (const ResizeCase& cs : kResizeCases) {
    SCOPED_TRACE(cs.what);
    const size_t nx = size_t(cs.batch * cs.in_h * cs.in_w * 3);
    const size_t ny = size_t(cs.batch * cs.out_h * cs.out_w * 3);
    const std::vector<double> u = random_doubles(nx, seed, 0.0, 256.0);
    seed += 10;
    std::vector<uint8_t> images(nx);
    for (size_t i = 0; i < nx; ++i) images[i] = static_cast<uint8_t>(std::min(255.0, u[i]));
    std::vector<float> y(ny), y_ref(ny);
    preprocess_caffe_cpu(y.data(), images.data(), cs.batch, cs.in_h, cs.in_w, cs.out_h, cs.out_w);
    preprocess_caffe_reference(y_ref.data(), images.data(), cs.batch, cs.in_h, cs.in_w, cs.out_h,
                               cs.out_w);
    // The bilinear mix of values <= 255 in float (8 roundings, as for
    // upsampling) and the mean subtraction (one more, at magnitude <= 255).
    EXPECT_TRUE(within(y, y_ref, std::vector<double>(ny, 9 * kEps<float> * 255.0), "y"));
  }
}

// ---- softmax cross-entropy ---------------------------------------------------

struct SoftmaxCase {
  const char* what;
  int64_t batch, classes;
  double spread;  // logits uniform in [-spread, spread]
};

const SoftmaxCase kSoftmaxCases[] = {
    {"37 x 10, logits in [-3, 3]", 37, 10, 3.0},
    {"5 x 1000, logits in [-20, 20]", 5, 1000, 20.0},
    {"8 x 10, logits in [-1e4, 1e4]: exp underflows but for the largest", 8, 10, 1e4},
};

// Bounds. p = exp(z - zmax) / sum: z - zmax is rounded (a relative error of
// u |z - zmax| in its exp, which matters only while exp(z - zmax) is not
// below T's smallest normal, i.e. |z - zmax| < L = -log(min normal), 87 in
// float and 708 in double; |z - zmax| is at most twice the spread), exp adds
// an ulp, the sum of C positive terms C u, and the division 2 u more: p is
// within (min(2 spread, L) + C + 4) eps p, plus the smallest normal for
// values that underflow. The loss is
// log(sum) + (zmax - z[label]): the sum's relative error becomes an absolute
// one of the log, and each of the two terms is rounded once, at most at the
// magnitude of the loss itself. The backward (fed the same probs) rounds
// dloss / N and the product (and p - 1 at the label): 4 eps of
// |dloss / N| (p + 1).
template <typename T>
void check_softmax_xent() {
  uint64_t seed = 800;
  const double L = -std::log(double(std::numeric_limits<T>::min()));
  for (const SoftmaxCase& cs : kSoftmaxCases) {
    SCOPED_TRACE(std::string(cs.what) + " (" + type_name<T>() + ")");
    const int64_t N = cs.batch, C = cs.classes;
    const std::vector<T> z = random_values<T>(size_t(N * C), seed, -cs.spread, cs.spread);
    std::vector<int32_t> labels(static_cast<size_t>(N));
    for (int64_t n = 0; n < N; ++n) labels[size_t(n)] = int32_t((n * 7 + 3) % C);
    seed += 10;

    std::vector<T> p(size_t(N * C)), p_ref(p.size());
    const T loss = softmax_xent_forward_cpu(p.data(), z.data(), labels.data(), N, C);
    const T loss_ref = softmax_xent_forward_reference(p_ref.data(), z.data(), labels.data(), N, C);
    const double terms = std::min(2 * cs.spread, L) + double(C) + 4;
    EXPECT_TRUE(within(p, p_ref,
                       relative_bound(p_ref, terms, double(std::numeric_limits<T>::min())),
                       "probs"));
    EXPECT_TRUE(within(std::vector<T>{loss}, std::vector<T>{loss_ref},
                       {terms * kEps<T> * (1.0 + std::fabs(double(loss_ref)))}, "loss"));

    const T dloss = T(0.75);
    std::vector<T> dz(p.size()), dz_ref(p.size());
    softmax_xent_backward_cpu(dz.data(), p_ref.data(), labels.data(), dloss, N, C);
    softmax_xent_backward_reference(dz_ref.data(), p_ref.data(), labels.data(), dloss, N, C);
    std::vector<double> dz_bound(dz.size());
    for (size_t i = 0; i < dz.size(); ++i)
      dz_bound[i] = 4 * kEps<T> * double(dloss) / double(N) * (double(p_ref[i]) + 1.0);
    EXPECT_TRUE(within(dz, dz_ref, dz_bound, "dlogits"));
  }
}

TEST(FastVsReference, SoftmaxCrossEntropyFloat) { check_softmax_xent<float>(); }
TEST(FastVsReference, SoftmaxCrossEntropyDouble) { check_softmax_xent<double>(); }

// ---- dropout -----------------------------------------------------------------

// The mask is a function of (seed, stream, element): the fast path draws one
// Philox block per 4 elements, the reference one draw per element, and the
// scaling is one multiplication either way: identical bits, for lengths that
// are no multiple of 4, past the OpenMP split, and streams above 2^32.
template <typename T>
void check_dropout() {
  struct Case {
    int64_t n;
    float rate;
    uint64_t seed, stream;
  };
  const Case cases[] = {{7, 0.5f, 1, 0}, {1003, 0.3f, 42, 7}, {100001, 0.1f, 9, (5ull << 32) | 2}};
  for (const Case& cs : cases) {
    SCOPED_TRACE("n = " + std::to_string(cs.n) + " (" + type_name<T>() + ")");
    const std::vector<T> x = random_values<T>(size_t(cs.n), cs.seed);
    std::vector<T> y(x.size()), y_ref(x.size()), dx(x.size()), dx_ref(x.size());
    dropout_forward_cpu(y.data(), x.data(), cs.n, cs.rate, cs.seed, cs.stream);
    dropout_forward_reference(y_ref.data(), x.data(), cs.n, cs.rate, cs.seed, cs.stream);
    dropout_backward_cpu(dx.data(), x.data(), cs.n, cs.rate, cs.seed, cs.stream);
    dropout_backward_reference(dx_ref.data(), x.data(), cs.n, cs.rate, cs.seed, cs.stream);
    EXPECT_TRUE(identical(y, y_ref, "y"));
    EXPECT_TRUE(identical(dx, dx_ref, "dx"));
  }
}

TEST(FastVsReference, DropoutFloat) { check_dropout<float>(); }
TEST(FastVsReference, DropoutDouble) { check_dropout<double>(); }

// ---- the kernels that are their own reference ----------------------------------

// relu, add, add_relu and the optimiser updates are one plain loop each; the
// fast path and the reference are the same function (docs/cpu_reference.md).
// What OpenMP could change is checked here: a run over many elements (past
// the elementwise ops' threshold of 2^16; the updates always split) gives the
// bits of the same kernel run one element at a time.
TEST(FastVsReference, ElementwiseSplitChangesNothing) {
  const int64_t n = (int64_t(1) << 16) + 3;
  const std::vector<float> a = random_values<float>(size_t(n), 901),
                           b = random_values<float>(size_t(n), 902);
  auto one_at_a_time = [&](auto kernel) {
    std::vector<float> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) kernel(out.data() + i, a.data() + i, b.data() + i, 1);
    return out;
  };
  auto all_at_once = [&](auto kernel) {
    std::vector<float> out(static_cast<size_t>(n));
    kernel(out.data(), a.data(), b.data(), n);
    return out;
  };
  auto relu = [](float* y, const float* x, const float*, int64_t k) { relu_forward_cpu(y, x, k); };
  auto relu_back = [](float* dx, const float* dy, const float* y, int64_t k) {
    relu_backward_cpu(dx, dy, y, k);
  };
  auto add = [](float* y, const float* p, const float* q, int64_t k) {
    add_forward_cpu(y, p, q, k);
  };
  auto add_relu = [](float* y, const float* p, const float* q, int64_t k) {
    add_relu_forward_cpu(y, p, q, k);
  };
  EXPECT_TRUE(identical(all_at_once(relu), one_at_a_time(relu), "relu"));
  EXPECT_TRUE(identical(all_at_once(relu_back), one_at_a_time(relu_back), "relu backward"));
  EXPECT_TRUE(identical(all_at_once(add), one_at_a_time(add), "add"));
  EXPECT_TRUE(identical(all_at_once(add_relu), one_at_a_time(add_relu), "add_relu"));
}

TEST(FastVsReference, OptimiserSplitChangesNothing) {
  // The updates split any n across threads; 1001 one-element calls stay quick.
  const int64_t n = 1001;
  const std::vector<float> p0 = random_values<float>(size_t(n), 911),
                           g = random_values<float>(size_t(n), 912),
                           m0 = random_values<float>(size_t(n), 913, -0.1, 0.1),
                           v0 = random_values<float>(size_t(n), 914, 0.0, 0.01);
  const SgdUpdate sgd{0.1f, 0.9f, 1e-2f, true};
  std::vector<float> p = p0, vel = m0, p1 = p0, vel1 = m0;
  sgd_update_cpu(p.data(), vel.data(), g.data(), n, sgd);
  for (int64_t i = 0; i < n; ++i)
    sgd_update_cpu(&p1[size_t(i)], &vel1[size_t(i)], &g[size_t(i)], 1, sgd);
  EXPECT_TRUE(identical(p, p1, "sgd param"));
  EXPECT_TRUE(identical(vel, vel1, "sgd velocity"));

  const AdamUpdate adam{1e-3f, 0.9f, 0.999f, 1e-7f, 1e-2f, true};
  std::vector<float> q = p0, m = m0, v = v0, q1 = p0, m1 = m0, v1 = v0;
  adam_update_cpu(q.data(), m.data(), v.data(), g.data(), n, adam, 3);
  for (int64_t i = 0; i < n; ++i)
    adam_update_cpu(&q1[size_t(i)], &m1[size_t(i)], &v1[size_t(i)], &g[size_t(i)], 1, adam, 3);
  EXPECT_TRUE(identical(q, q1, "adam param"));
  EXPECT_TRUE(identical(m, m1, "adam m"));
  EXPECT_TRUE(identical(v, v1, "adam v"));
}

}  // namespace
}  // namespace tl::test
