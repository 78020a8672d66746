// CUDA kernel microbenchmarks: the handwritten kernels' production launchers
// (kernels/*.h, <op>_cuda), float32 and (for the kernels the bf16 path runs
// most) bfloat16, on ResNet50-at-224 shapes at batch 64.
//
// The harness (bench/cuda_harness.h, shared with the kernel lab, lab/) does
// the measuring: the device's copy bandwidth first, then for each benchmark
// the CUDA launcher is run once on host-built random inputs and compared with
// the CPU reference (kernels/<op>.h *_cpu) under a stated tolerance BEFORE
// anything is timed (a kernel that disagrees is reported FAILED and not
// timed), then warm-up calls and the median of `repeats` CUDA-event-timed
// calls, each from a cleared L2. GB/s counts the bytes a kernel must move:
// every array it must read once plus every array it must write once (the same
// convention as bench/bench_kernels.cpp), with the formula written beside each
// benchmark below.
//
// bfloat16 (--precision bf16): the BN+ReLU forward and backward, the fused
// BN + residual add + ReLU (also in float32) and add+ReLU with bf16
// activations, validated against the CPU reference on the same (bf16)
// values, rounded: the byte counts are 2 per bf16 value, so GB/s compares
// with the float32 rows directly.
//
// Fused BN+ReLU is also compared with cuDNN's own batch norm (legacy API,
// CUDNN_BATCHNORM_SPATIAL_PERSISTENT, NHWC) followed by cudnnActivationForward
// on the same shape; the ratio cudnn_ms / tl_ms is reported (> 1: tl faster).
//
// Output: a table on stdout; with --json PATH the same as JSON.
//   bench_cuda [--json PATH] [--repeats N] [--filter SUBSTRING]
// Without a usable GPU it prints one line saying why and exits 0.
#include <cuda_runtime.h>
#include <cudnn.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "bench/cuda_harness.h"
#include "engine/context.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"
#include "kernels/batchnorm.h"
#include "kernels/dropout.h"
#include "kernels/elementwise.h"
#include "kernels/optim.h"
#include "kernels/pool.h"
#include "kernels/preprocess.h"
#include "kernels/softmax_xent.h"
#include "kernels/upsample.h"
#include "runtime/bf16.h"

namespace {

using tl::bench::Bench;
using tl::bench::Check;
using tl::bench::compare;
using tl::bench::compare_scalar;
using tl::bench::DevBuf;
using tl::bench::host_random;
using tl::bench::mix_uniform;
using tl::bench::Options;
using tl::bench::Result;

constexpr double kF = 4;  // bytes per float32 (and per int32 label)
constexpr int64_t kBatch = 64;
constexpr float kBnEps = 1.001e-5f;  // Keras's default; above CUDNN_BN_MIN_EPSILON (1e-5)
constexpr float kBnMomentum = 0.99f;

// ---- tolerances (the CPU reference is float32 too) ----------------------------
// Reductions over up to 200k rows summed in a different order (tree on the
// GPU, per-thread partial sums on the CPU): float32 rounding of the mean and
// variance, amplified by 1/std in the normalised outputs.
constexpr double kReduceAtol = 1e-3, kReduceRtol = 1e-3;
// Kernels documented as bit-identical (elementwise, dropout, pool, resampling,
// optimisers): a small slack only for FMA contraction differing between nvcc
// and the host compiler.
constexpr double kExactAtol = 1e-5, kExactRtol = 1e-5;
// Softmax: exp/log differ by a few ulp between the CUDA and glibc math libraries.
constexpr double kSoftmaxAtol = 1e-5, kSoftmaxRtol = 1e-4;

// ---- batch norm (fused with ReLU) -------------------------------------------------------
struct BnShape {
  const char* name;
  int64_t n, h, w, c;
  int64_t rows() const { return n * h * w; }
};
const BnShape kBnShapes[] = {
    {"56x56x256_b64", kBatch, 56, 56, 256},  // stage 2 expanded: 51M elements, 205 MB
    {"7x7x2048_b64", kBatch, 7, 7, 2048},    // stage 5 expanded: 6.4M elements
};

struct BnData {
  int64_t E, C;
  std::vector<float> x, gamma, beta, rmean, rvar;
  explicit BnData(const BnShape& s)
      : E(s.rows() * s.c), C(s.c), x(host_random(E, 1, -2.0f, 3.0f)), gamma(host_random(C, 2, 0.5f, 1.5f)),
        beta(host_random(C, 3)), rmean(host_random(C, 4)), rvar(host_random(C, 5, 0.5f, 1.5f)) {}
};

// cuDNN's batch norm + ReLU on the same shape: the library's time for what the
// fused tl kernel does in one call. Returns the median ms (0 when cuDNN fails,
// with the reason in `why`).
double cudnn_bn_relu_ms(Bench& b, const BnShape& s, const BnData& d, Check& check,
                        const std::vector<float>& want_y, std::string& why) {
// The legacy batch-norm API is deprecated in cuDNN 9 (in favour of the graph
// API) but is still what PyTorch calls; the comparison is with it.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  cudnnHandle_t h = b.ctx().cuda()->cudnn;
  cudnnTensorDescriptor_t xdesc = nullptr, bndesc = nullptr;
  cudnnActivationDescriptor_t act = nullptr;
  double ms = 0;
  try {
    TL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&xdesc));
    TL_CUDNN_CHECK(cudnnCreateTensorDescriptor(&bndesc));
    TL_CUDNN_CHECK(cudnnCreateActivationDescriptor(&act));
    TL_CUDNN_CHECK(cudnnSetTensor4dDescriptor(xdesc, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT,
                                              static_cast<int>(s.n), static_cast<int>(s.c),
                                              static_cast<int>(s.h), static_cast<int>(s.w)));
    const cudnnBatchNormMode_t mode = CUDNN_BATCHNORM_SPATIAL_PERSISTENT;
    TL_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(bndesc, xdesc, mode));
    TL_CUDNN_CHECK(cudnnSetActivationDescriptor(act, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
    DevBuf<float> x(d.x), y(d.E), gamma(d.gamma), beta(d.beta), rmean(d.rmean), rvar(d.rvar),
        smean(d.C), sinv(d.C);
    const float one = 1.0f, zero = 0.0f;
    // cuDNN's factor weighs the new batch: 1 - Keras's momentum.
    const double factor = 1.0 - static_cast<double>(kBnMomentum);
    auto call = [&] {
      TL_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
          h, mode, &one, &zero, xdesc, x.get(), xdesc, y.get(), bndesc, gamma.get(), beta.get(),
          factor, rmean.get(), rvar.get(), kBnEps, smean.get(), sinv.get()));
      TL_CUDNN_CHECK(cudnnActivationForward(h, act, &one, xdesc, y.get(), &zero, xdesc, y.get()));
    };
    call();
    TL_CUDA_CHECK(cudaStreamSynchronize(b.stream()));
    // Only y is compared: cuDNN's running variance is unbiased, Keras's is not.
    compare(check, "cudnn y", want_y, y.get(), kReduceAtol, kReduceRtol);
    if (check.pass) ms = b.time_median_ms(call);
    else why = check.detail;
  } catch (const std::exception& e) {
    why = e.what();
    ms = 0;
  }
  // Cleanup on every path, errors included: statuses ignored (nothing to report them to).
  if (act) cudnnDestroyActivationDescriptor(act);
  if (bndesc) cudnnDestroyTensorDescriptor(bndesc);
  if (xdesc) cudnnDestroyTensorDescriptor(xdesc);
  return ms;
#pragma GCC diagnostic pop
}

void bench_batchnorm(Bench& b) {
  tl::Context& ctx = b.ctx();
  for (const BnShape& s : kBnShapes) {
    const std::string fwd_name = std::string("bn_relu_fwd_train_") + s.name;
    const std::string bwd_name = std::string("bn_relu_bwd_train_") + s.name;
    const std::string inf_name = std::string("bn_relu_fwd_infer_") + s.name;
    const std::string cudnn_name = std::string("cudnn_bn+relu_fwd_train_") + s.name;
    if (!b.any_selected({fwd_name, bwd_name, inf_name, cudnn_name})) continue;
    const BnData d(s);
    const int64_t E = d.E, C = d.C;
    const tl::BatchNormGeometry g{s.rows(), C};

    // CPU reference of the training forward, also the saved statistics for the backward.
    std::vector<float> y_cpu(static_cast<size_t>(E)), mean_cpu(C), inv_cpu(C), rm_cpu = d.rmean,
                                                                              rv_cpu = d.rvar;
    tl::batchnorm_forward_train_cpu(y_cpu.data(), mean_cpu.data(), inv_cpu.data(), rm_cpu.data(),
                                    rv_cpu.data(), d.x.data(), d.gamma.data(), d.beta.data(), g,
                                    kBnEps, kBnMomentum, true);

    DevBuf<float> x(d.x), y(E), gamma(d.gamma), beta(d.beta), rmean(d.rmean), rvar(d.rvar),
        smean(C), sinv(C);
    double tl_fwd_ms = 0;
    {
      auto kernel = [&] {
        tl::batchnorm_forward_train_cuda(ctx.gpu(), y.get(), smean.get(), sinv.get(), rmean.get(),
                                         rvar.get(), x.get(), gamma.get(), beta.get(), g, kBnEps,
                                         kBnMomentum, true);
      };
      auto validate = [&] {
        kernel();
        TL_CUDA_CHECK(cudaStreamSynchronize(b.stream()));
        Check c;
        compare(c, "y", y_cpu, y.get(), kReduceAtol, kReduceRtol);
        compare(c, "save_mean", mean_cpu, smean.get(), kReduceAtol, kReduceRtol);
        compare(c, "save_invstd", inv_cpu, sinv.get(), kReduceAtol, kReduceRtol);
        compare(c, "running_mean", rm_cpu, rmean.get(), kReduceAtol, kReduceRtol);
        compare(c, "running_var", rv_cpu, rvar.get(), kReduceAtol, kReduceRtol);
        return c;
      };
      // reads x (E) + writes y (E) + gamma, beta (2C) + running mean/var read
      // and written (4C) + save_mean/invstd written (2C). A two-pass kernel
      // reads x twice; that second read is not credited.
      b.run(fwd_name, kF * (E + E + 2 * C + 4 * C + 2 * C), validate, kernel);
      for (const Result& r : b.results())
        if (r.name == fwd_name && r.status == "PASS") tl_fwd_ms = r.median_ms;
    }

    // The library comparison: cuDNN BN (spatial persistent) + ReLU, same shape.
    if (b.selected(cudnn_name)) {
      Result r;
      r.name = cudnn_name;
      Check c;
      std::string why;
      r.median_ms = cudnn_bn_relu_ms(b, s, d, c, y_cpu, why);
      r.max_abs_err = c.max_abs_err;
      // The same compulsory bytes as the fused tl kernel (the unfused ReLU's
      // extra read and write of y is exactly what fusion saves).
      r.bytes = kF * (E + E + 2 * C + 4 * C + 2 * C);
      if (r.median_ms > 0) {
        r.status = "PASS";
        r.gbps = r.bytes / (r.median_ms * 1e-3) * 1e-9;
        r.copy_fraction = b.copy_gbps() > 0 ? r.gbps / b.copy_gbps() : 0;
        char buf[128];
        if (tl_fwd_ms > 0) {
          std::snprintf(buf, sizeof buf, "cudnn/tl time ratio %.2f (>1: tl faster)", r.median_ms / tl_fwd_ms);
          r.note = buf;
        } else {
          r.note = "no tl time to compare with";
        }
      } else {
        r.status = c.pass ? "ERROR" : "FAILED";
        r.note = why;
      }
      b.add_row(r);
    }

    // Inference forward (running statistics, fused ReLU).
    if (b.selected(inf_name)) {
      std::vector<float> yi_cpu(static_cast<size_t>(E));
      tl::batchnorm_forward_infer_cpu(yi_cpu.data(), d.x.data(), d.gamma.data(), d.beta.data(),
                                      d.rmean.data(), d.rvar.data(), g, kBnEps, true);
      DevBuf<float> rm0(d.rmean), rv0(d.rvar);
      auto kernel = [&] {
        tl::batchnorm_forward_infer_cuda(ctx.gpu(), y.get(), x.get(), gamma.get(), beta.get(), rm0.get(),
                                         rv0.get(), g, kBnEps, true);
      };
      auto validate = [&] {
        kernel();
        TL_CUDA_CHECK(cudaStreamSynchronize(b.stream()));
        Check c;
        compare(c, "y", yi_cpu, y.get(), kExactAtol, kExactRtol);
        return c;
      };
      // reads x (E) + writes y (E) + gamma, beta, running mean, running var (4C)
      b.run(inf_name, kF * (E + E + 4 * C), validate, kernel);
    }

    // Backward of the training forward, with the ReLU mask recomputed from x.
    if (b.selected(bwd_name)) {
      const std::vector<float> dy_h = host_random(E, 6);
      std::vector<float> dx_cpu(static_cast<size_t>(E)), dg_cpu(C), db_cpu(C);
      tl::batchnorm_backward_train_cpu(dx_cpu.data(), dg_cpu.data(), db_cpu.data(), dy_h.data(),
                                       d.x.data(), d.gamma.data(), d.beta.data(), mean_cpu.data(),
                                       inv_cpu.data(), g, true);
      DevBuf<float> dy(dy_h), mean(mean_cpu), inv(inv_cpu), dx(E), dgamma(C), dbeta(C);
      auto kernel = [&] {
        tl::batchnorm_backward_train_cuda(ctx.gpu(), dx.get(), dgamma.get(), dbeta.get(), dy.get(),
                                          x.get(), gamma.get(), beta.get(), mean.get(), inv.get(),
                                          g, true);
      };
      auto validate = [&] {
        kernel();
        TL_CUDA_CHECK(cudaStreamSynchronize(b.stream()));
        Check c;
        compare(c, "dx", dx_cpu, dx.get(), kReduceAtol, kReduceRtol);
        // dgamma, dbeta are sums over all rows: their scale grows with rows.
        compare(c, "dgamma", dg_cpu, dgamma.get(), kReduceAtol * 100, kReduceRtol);
        compare(c, "dbeta", db_cpu, dbeta.get(), kReduceAtol * 100, kReduceRtol);
        return c;
      };
      // reads dy, x (2E) + writes dx (E) + gamma, beta, mean, invstd (4C) +
      // writes dgamma, dbeta (2C). A two-pass kernel reads dy and x twice.
      b.run(bwd_name, kF * (3 * E + 4 * C + 2 * C), validate, kernel);
    }
  }
}

// ---- pooling -------------------------------------------------------------------------
void bench_pool(Bench& b) {
  tl::Context& ctx = b.ctx();
  if (b.any_selected({"maxpool3x3s2_fwd_112x112x64_b64", "maxpool3x3s2_bwd_112x112x64_b64"})) {
    // The stem's max pool at batch 64: 112x112x64 -> 56x56x64, 3x3/2, pad 1.
    tl::PoolGeometry g;
    g.batch = kBatch, g.in_h = 112, g.in_w = 112, g.channels = 64;
    g.kernel = 3, g.stride = 2, g.pad = 1;
    const int64_t nx = g.batch * g.in_h * g.in_w * g.channels,
                  ny = g.batch * g.out_h() * g.out_w() * g.channels;
    const std::vector<float> x_h = host_random(nx, 7, 0.0f, 1.0f);  // post-ReLU input
    const std::vector<float> dy_h = host_random(ny, 8);
    std::vector<float> y_cpu(static_cast<size_t>(ny)), dx_cpu(static_cast<size_t>(nx));
    tl::maxpool2d_forward_cpu(y_cpu.data(), x_h.data(), g);
    tl::maxpool2d_backward_cpu(dx_cpu.data(), dy_h.data(), x_h.data(), g);
    DevBuf<float> x(x_h), dy(dy_h), y(ny), dx(nx);
    auto fwd = [&] { tl::maxpool2d_forward_cuda(ctx.gpu(), y.get(), x.get(), g); };
    b.run("maxpool3x3s2_fwd_112x112x64_b64", kF * (nx + ny),  // reads x + writes y
          [&] {
            fwd();
            Check c;
            compare(c, "y", y_cpu, y.get(), kExactAtol, kExactRtol);
            return c;
          },
          fwd);
    auto bwd = [&] { tl::maxpool2d_backward_cuda(ctx.gpu(), dx.get(), dy.get(), x.get(), g); };
    // reads dy (ny) and x (nx, to recompute the argmax) + writes dx (nx)
    b.run("maxpool3x3s2_bwd_112x112x64_b64", kF * (ny + nx + nx),
          [&] {
            bwd();
            Check c;
            compare(c, "dx", dx_cpu, dx.get(), kExactAtol, kExactRtol);
            return c;
          },
          bwd);
  }
  if (b.any_selected({"global_avgpool_fwd_7x7x2048_b64", "global_avgpool_bwd_7x7x2048_b64"})) {
    // The backbone output: (64, 7, 7, 2048) -> (64, 2048).
    const int64_t S = 7 * 7, C = 2048, nx = kBatch * S * C, ny = kBatch * C;
    const std::vector<float> x_h = host_random(nx, 9), dy_h = host_random(ny, 10);
    std::vector<float> y_cpu(static_cast<size_t>(ny)), dx_cpu(static_cast<size_t>(nx));
    tl::global_avgpool_forward_cpu(y_cpu.data(), x_h.data(), kBatch, S, C);
    tl::global_avgpool_backward_cpu(dx_cpu.data(), dy_h.data(), kBatch, S, C);
    DevBuf<float> x(x_h), dy(dy_h), y(ny), dx(nx);
    auto fwd = [&] { tl::global_avgpool_forward_cuda(ctx.gpu(), y.get(), x.get(), kBatch, S, C); };
    b.run("global_avgpool_fwd_7x7x2048_b64", kF * (nx + ny),  // reads x + writes y
          [&] {
            fwd();
            Check c;
            // A 49-term mean summed in a different order.
            compare(c, "y", y_cpu, y.get(), kExactAtol, kExactRtol);
            return c;
          },
          fwd);
    auto bwd = [&] { tl::global_avgpool_backward_cuda(ctx.gpu(), dx.get(), dy.get(), kBatch, S, C); };
    b.run("global_avgpool_bwd_7x7x2048_b64", kF * (ny + nx),  // reads dy + writes dx
          [&] {
            bwd();
            Check c;
            compare(c, "dx", dx_cpu, dx.get(), kExactAtol, kExactRtol);
            return c;
          },
          bwd);
  }
}

// ---- dropout ---------------------------------------------------------------------------
void bench_dropout(Bench& b) {
  tl::Context& ctx = b.ctx();
  struct Case {
    const char* name;
    int64_t n;
  };
  const Case cases[] = {
      {"64x256", kBatch * 256},        // the head's dropout (the real size: launch-bound)
      {"64M", int64_t{64} << 20},      // a large one: Philox throughput against DRAM
  };
  constexpr float kRate = 0.5f;
  constexpr uint64_t kSeed = 1234, kStream = 7;
  for (const Case& s : cases) {
    const std::string fname = std::string("dropout_fwd_") + s.name,
                      bname = std::string("dropout_bwd_") + s.name;
    if (!b.any_selected({fname, bname})) continue;
    const std::vector<float> x_h = host_random(s.n, 11);
    std::vector<float> y_cpu(static_cast<size_t>(s.n)), dx_cpu(static_cast<size_t>(s.n));
    tl::dropout_forward_cpu(y_cpu.data(), x_h.data(), s.n, kRate, kSeed, kStream);
    tl::dropout_backward_cpu(dx_cpu.data(), x_h.data(), s.n, kRate, kSeed, kStream);
    DevBuf<float> x(x_h), y(s.n);
    auto fwd = [&] { tl::dropout_forward_cuda(ctx.gpu(), y.get(), x.get(), s.n, kRate, kSeed, kStream); };
    // reads x + writes y (the mask is recomputed, never stored)
    b.run(fname, kF * (s.n + s.n),
          [&] {
            fwd();
            Check c;
            compare(c, "y", y_cpu, y.get(), kExactAtol, kExactRtol);
            return c;
          },
          fwd);
    auto bwd = [&] { tl::dropout_backward_cuda(ctx.gpu(), y.get(), x.get(), s.n, kRate, kSeed, kStream); };
    // reads dy + writes dx (x doubles as dy here)
    b.run(bname, kF * (s.n + s.n),
          [&] {
            bwd();
            Check c;
            compare(c, "dx", dx_cpu, y.get(), kExactAtol, kExactRtol);
            return c;
          },
          bwd);
  }
}

// ---- resampling and preprocessing (CIFAR 32x32 -> 224x224, batch 64) ------------------------
void bench_resample(Bench& b) {
  tl::Context& ctx = b.ctx();
  if (b.any_selected({"upsample_bilinear_fwd_32to224_c3_b64", "upsample_bilinear_bwd_32to224_c3_b64"})) {
    tl::UpsampleGeometry g;
    g.batch = kBatch, g.in_h = 32, g.in_w = 32, g.channels = 3, g.out_h = 224, g.out_w = 224;
    const int64_t nx = g.batch * g.in_h * g.in_w * g.channels,
                  ny = g.batch * g.out_h * g.out_w * g.channels;
    const std::vector<float> x_h = host_random(nx, 12), dy_h = host_random(ny, 13);
    std::vector<float> y_cpu(static_cast<size_t>(ny)), dx_cpu(static_cast<size_t>(nx));
    tl::upsample_bilinear_forward_cpu(y_cpu.data(), x_h.data(), g);
    tl::upsample_bilinear_backward_cpu(dx_cpu.data(), dy_h.data(), g);
    DevBuf<float> x(x_h), dy(dy_h), y(ny), dx(nx);
    auto fwd = [&] { tl::upsample_bilinear_forward_cuda(ctx.gpu(), y.get(), x.get(), g); };
    b.run("upsample_bilinear_fwd_32to224_c3_b64", kF * (nx + ny),  // reads x + writes y
          [&] {
            fwd();
            Check c;
            compare(c, "y", y_cpu, y.get(), kExactAtol, kExactRtol);
            return c;
          },
          fwd);
    auto bwd = [&] { tl::upsample_bilinear_backward_cuda(ctx.gpu(), dx.get(), dy.get(), g); };
    b.run("upsample_bilinear_bwd_32to224_c3_b64", kF * (ny + nx),  // reads dy + writes dx
          [&] {
            bwd();
            Check c;
            // Each dx gathers ~60 weighted dy terms; the sum order may differ.
            compare(c, "dx", dx_cpu, dx.get(), kReduceAtol * 0.1, kExactRtol);
            return c;
          },
          bwd);
  }
  if (b.selected("preprocess_caffe_32to224_b64")) {
    const int64_t nx = kBatch * 32 * 32 * 3, ny = kBatch * 224 * 224 * 3;
    std::vector<uint8_t> x_h(static_cast<size_t>(nx));
    for (int64_t i = 0; i < nx; ++i)
      x_h[static_cast<size_t>(i)] = static_cast<uint8_t>(256.0f * mix_uniform(static_cast<uint64_t>(i), 14));
    std::vector<float> y_cpu(static_cast<size_t>(ny));
    tl::preprocess_caffe_cpu(y_cpu.data(), x_h.data(), kBatch, 32, 32, 224, 224);
    DevBuf<uint8_t> x(x_h);
    DevBuf<float> y(ny);
    auto kernel = [&] { tl::preprocess_caffe_cuda(ctx.gpu(), y.get(), x.get(), kBatch, 32, 32, 224, 224); };
    b.run("preprocess_caffe_32to224_b64", 1.0 * nx + kF * ny,  // reads uint8 x + writes float y
          [&] {
            kernel();
            Check c;
            compare(c, "y", y_cpu, y.get(), kExactAtol * 10, kExactRtol);  // values up to ~150
            return c;
          },
          kernel);
  }
}

// ---- softmax cross-entropy ------------------------------------------------------------------
void bench_softmax(Bench& b) {
  tl::Context& ctx = b.ctx();
  struct Case {
    const char* name;
    int64_t batch, classes;
  };
  const Case cases[] = {{"64x10", kBatch, 10}, {"4096x1000", 4096, 1000}};
  for (const Case& s : cases) {
    const std::string fname = std::string("softmax_xent_fwd_") + s.name,
                      bname = std::string("softmax_xent_bwd_") + s.name;
    if (!b.any_selected({fname, bname})) continue;
    const int64_t E = s.batch * s.classes;
    const std::vector<float> z_h = host_random(E, 15, -5.0f, 5.0f);
    std::vector<int32_t> lab_h(static_cast<size_t>(s.batch));
    for (int64_t i = 0; i < s.batch; ++i)
      lab_h[static_cast<size_t>(i)] = static_cast<int32_t>(
          std::min<int64_t>(s.classes - 1, static_cast<int64_t>(mix_uniform(static_cast<uint64_t>(i), 16) * s.classes)));
    std::vector<float> p_cpu(static_cast<size_t>(E)), dz_cpu(static_cast<size_t>(E));
    const float loss_cpu =
        tl::softmax_xent_forward_cpu(p_cpu.data(), z_h.data(), lab_h.data(), s.batch, s.classes);
    constexpr float kDloss = 1.0f;
    tl::softmax_xent_backward_cpu(dz_cpu.data(), p_cpu.data(), lab_h.data(), kDloss, s.batch, s.classes);
    DevBuf<float> z(z_h), p(E), dz(E), loss(1);
    DevBuf<int32_t> lab(lab_h);
    auto fwd = [&] {
      tl::softmax_xent_forward_cuda(ctx.gpu(), loss.get(), p.get(), z.get(), lab.get(), s.batch, s.classes);
    };
    // reads logits (E) + labels (N) + writes probs (E) + loss (1). A bad
    // label is recorded on the device (cuda::DeferredChecks): no host wait.
    b.run(fname, kF * (E + s.batch + E + 1),
          [&] {
            fwd();
            Check c;
            compare(c, "probs", p_cpu, p.get(), kSoftmaxAtol, kSoftmaxRtol);
            compare_scalar(c, "loss", loss_cpu, loss.get(), kSoftmaxAtol * 10, kSoftmaxRtol);
            return c;
          },
          fwd);
    // The backward from the CPU's probabilities, so both start from the same input.
    DevBuf<float> p_ref(p_cpu), dloss(std::vector<float>{kDloss});
    auto bwd = [&] {
      tl::softmax_xent_backward_cuda(ctx.gpu(), dz.get(), p_ref.get(), lab.get(), dloss.get(),
                                     s.batch, s.classes);
    };
    // reads probs (E) + labels (N) + writes dlogits (E)
    b.run(bname, kF * (E + s.batch + E),
          [&] {
            bwd();
            Check c;
            compare(c, "dlogits", dz_cpu, dz.get(), kExactAtol, kExactRtol);
            return c;
          },
          bwd);
  }
}

// ---- residual add + ReLU ---------------------------------------------------------------------
void bench_add_relu(Bench& b) {
  const std::string name = "add_relu_fwd_56x56x256_b64";
  if (!b.selected(name)) return;
  const int64_t n = kBatch * 56 * 56 * 256;
  const std::vector<float> a_h = host_random(n, 17), b_h = host_random(n, 18);
  std::vector<float> y_cpu(static_cast<size_t>(n));
  tl::add_relu_forward_cpu(y_cpu.data(), a_h.data(), b_h.data(), n);
  DevBuf<float> a(a_h), bb(b_h), y(n);
  auto kernel = [&] { tl::add_relu_forward_cuda(b.ctx().gpu(), y.get(), a.get(), bb.get(), n); };
  b.run(name, kF * (2 * n + n),  // reads a, b + writes y
        [&] {
          kernel();
          Check c;
          compare(c, "y", y_cpu, y.get(), kExactAtol, kExactRtol);
          return c;
        },
        kernel);
}

// ---- bfloat16 activations ---------------------------------------------------------------------
constexpr double kB = 2;  // bytes per bfloat16

std::vector<uint16_t> to_bf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  tl::float_to_bf16_cpu(out.data(), v.data(), static_cast<int64_t>(v.size()));
  return out;
}
std::vector<float> widened(const std::vector<uint16_t>& v) {
  std::vector<float> out(v.size());
  tl::bf16_to_float_cpu(out.data(), v.data(), static_cast<int64_t>(v.size()));
  return out;
}
// The device's bf16 values against the CPU's float32 results on the same
// inputs: the float values agree to (atol, rtol) as in the float32 rows,
// then each is rounded to bf16, which moves it by up to 2^-8 of itself.
void compare_bf16(Check& c, const char* what, const std::vector<float>& want,
                  const uint16_t* device, double atol, double rtol) {
  std::vector<uint16_t> bits(want.size());
  TL_CUDA_CHECK(cudaMemcpy(bits.data(), device, bits.size() * sizeof(uint16_t),
                           cudaMemcpyDeviceToHost));
  const std::vector<float> got = widened(bits);
  for (size_t i = 0; i < want.size() && c.pass; ++i) {
    const double w = want[i], err = std::fabs(double(got[i]) - w);
    const double allowed = atol + (rtol + 1.0 / 256) * std::fabs(w);
    if (!(err <= allowed)) {
      char buf[192];
      std::snprintf(buf, sizeof buf, "%s[%zu]: got %.9g, want %.9g (allowed %.3g)", what, i,
                    double(got[i]), w, allowed);
      c.detail = buf;
      c.pass = false;
    }
  }
}

void bench_bf16(Bench& b) {
  tl::Context& ctx = b.ctx();
  const BnShape& s = kBnShapes[0];  // 56x56x256, batch 64: the largest BN of the recipe
  const std::string fwd = std::string("bn_relu_fwd_train_bf16_") + s.name;
  const std::string bwd = std::string("bn_relu_bwd_train_bf16_") + s.name;
  const std::string fused32 = std::string("bn_add_relu_fwd_train_") + s.name;
  const std::string fused16 = std::string("bn_add_relu_fwd_train_bf16_") + s.name;
  const std::string add16 = std::string("add_relu_fwd_bf16_") + s.name;
  if (!b.any_selected({fwd, bwd, fused32, fused16, add16})) return;
  const BnData d(s);
  const int64_t E = d.E, C = d.C;
  const tl::BatchNormGeometry g{s.rows(), C};
  // The inputs as bf16, and the float32 values they hold (what the CPU computes on).
  const std::vector<uint16_t> x16 = to_bf16(d.x), r16 = to_bf16(host_random(E, 7)),
                              dy16 = to_bf16(host_random(E, 6));
  const std::vector<float> x = widened(x16), r = widened(r16), dy = widened(dy16);

  std::vector<float> y_cpu(static_cast<size_t>(E)), mean_cpu(C), inv_cpu(C), rm = d.rmean,
                                                                             rv = d.rvar;
  tl::batchnorm_forward_train_cpu(y_cpu.data(), mean_cpu.data(), inv_cpu.data(), rm.data(),
                                  rv.data(), x.data(), d.gamma.data(), d.beta.data(), g, kBnEps,
                                  kBnMomentum, true);
  DevBuf<uint16_t> xd(x16), rd(r16), dyd(dy16), y(E), dx(E);
  DevBuf<float> gamma(d.gamma), beta(d.beta), rmean(d.rmean), rvar(d.rvar), smean(C), sinv(C),
      dgamma(C), dbeta(C);
  const auto run = [&](const std::string& name, double bytes, auto kernel, auto check) {
    if (!b.selected(name)) return;
    b.run(name, bytes,
          [&] {
            kernel();
            TL_CUDA_CHECK(cudaStreamSynchronize(b.stream()));
            Check c;
            check(c);
            return c;
          },
          kernel);
  };
  // reads x (E) + writes y (E) in bf16; the (C) vectors in float32 as the float32 row.
  run(fwd, kB * 2 * E + kF * 8 * C,
      [&] {
        tl::batchnorm_forward_train_cuda(ctx.gpu(), y.get(), smean.get(), sinv.get(), rmean.get(),
                                         rvar.get(), xd.get(), gamma.get(), beta.get(), g, kBnEps,
                                         kBnMomentum, true);
      },
      [&](Check& c) { compare_bf16(c, "y", y_cpu, y.get(), kReduceAtol, kReduceRtol); });
  {
    std::vector<float> dx_cpu(static_cast<size_t>(E)), dg(C), db(C);
    tl::batchnorm_backward_train_cpu(dx_cpu.data(), dg.data(), db.data(), dy.data(), x.data(),
                                     d.gamma.data(), d.beta.data(), mean_cpu.data(),
                                     inv_cpu.data(), g, true);
    DevBuf<float> mean(mean_cpu), inv(inv_cpu);
    // reads dy, x (2E) + writes dx (E) in bf16; (C) vectors in float32.
    run(bwd, kB * 3 * E + kF * 6 * C,
        [&] {
          tl::batchnorm_backward_train_cuda(ctx.gpu(), dx.get(), dgamma.get(), dbeta.get(),
                                            dyd.get(), xd.get(), gamma.get(), beta.get(),
                                            mean.get(), inv.get(), g, true);
        },
        [&](Check& c) {
          compare_bf16(c, "dx", dx_cpu, dx.get(), kReduceAtol, kReduceRtol);
          compare(c, "dgamma", dg, dgamma.get(), kReduceAtol * 100, kReduceRtol);
          compare(c, "dbeta", db, dbeta.get(), kReduceAtol * 100, kReduceRtol);
        });
  }
  // relu(r + bn(x)): the BN output without its ReLU, plus r, clipped.
  std::vector<float> bn_cpu(static_cast<size_t>(E)), fused_cpu(static_cast<size_t>(E));
  rm = d.rmean;
  rv = d.rvar;
  tl::batchnorm_forward_train_cpu(bn_cpu.data(), mean_cpu.data(), inv_cpu.data(), rm.data(),
                                  rv.data(), x.data(), d.gamma.data(), d.beta.data(), g, kBnEps,
                                  kBnMomentum, false);
  tl::add_relu_forward_cpu(fused_cpu.data(), r.data(), bn_cpu.data(), E);
  {
    DevBuf<float> x32(x), r32(r), y32(E);
    // reads x, r (2E) + writes y (E): the composition also writes and reads the BN output (2E).
    run(fused32, kF * 3 * E + kF * 8 * C,
        [&] {
          tl::batchnorm_add_relu_forward_train_cuda(ctx.gpu(), y32.get(), smean.get(), sinv.get(),
                                                    rmean.get(), rvar.get(), x32.get(), r32.get(),
                                                    gamma.get(), beta.get(), g, kBnEps,
                                                    kBnMomentum);
        },
        [&](Check& c) { compare(c, "y", fused_cpu, y32.get(), kReduceAtol, kReduceRtol); });
  }
  run(fused16, kB * 3 * E + kF * 8 * C,
      [&] {
        tl::batchnorm_add_relu_forward_train_cuda(ctx.gpu(), y.get(), smean.get(), sinv.get(),
                                                  rmean.get(), rvar.get(), xd.get(), rd.get(),
                                                  gamma.get(), beta.get(), g, kBnEps, kBnMomentum);
      },
      [&](Check& c) { compare_bf16(c, "y", fused_cpu, y.get(), kReduceAtol, kReduceRtol); });
  {
    std::vector<float> sum_cpu(static_cast<size_t>(E));
    tl::add_relu_forward_cpu(sum_cpu.data(), x.data(), r.data(), E);
    // reads a, b (2E) + writes y (E), in bf16.
    run(add16, kB * 3 * E,
        [&] { tl::add_relu_forward_cuda(ctx.gpu(), y.get(), xd.get(), rd.get(), E); },
        [&](Check& c) { compare_bf16(c, "y", sum_cpu, y.get(), 0.0, 0.0); });
  }
}

// ---- optimisers over ResNet50's parameters (multi-tensor launchers) -------------------------------
// The parameter tensor sizes of ResNet50 with a 1000-class head: 161 tensors,
// 25.6M floats (conv weights, BN gamma/beta, Dense weight and bias).
std::vector<int64_t> resnet50_param_sizes() {
  std::vector<int64_t> sizes = {7 * 7 * 3 * 64, 64, 64};  // stem conv + BN
  struct Stage {
    int64_t mid, out, blocks;
  };
  const Stage stages[] = {{64, 256, 3}, {128, 512, 4}, {256, 1024, 6}, {512, 2048, 3}};
  int64_t in = 64;
  for (const Stage& st : stages) {
    for (int64_t blk = 0; blk < st.blocks; ++blk) {
      sizes.insert(sizes.end(), {in * st.mid, st.mid, st.mid, 9 * st.mid * st.mid, st.mid, st.mid,
                                 st.mid * st.out, st.out, st.out});
      if (blk == 0) sizes.insert(sizes.end(), {in * st.out, st.out, st.out});  // projection
      in = st.out;
    }
  }
  sizes.insert(sizes.end(), {2048 * 1000, 1000});
  return sizes;
}

void bench_optim(Bench& b) {
  const std::string sgd_name = "sgd_nesterov_resnet50_25.6M", adam_name = "adamw_resnet50_25.6M";
  if (!b.any_selected({sgd_name, adam_name})) return;
  const std::vector<int64_t> sizes = resnet50_param_sizes();
  // Tensors packed in one allocation, each starting on a 256-byte boundary
  // (as the caching allocator would place them), so vector loads stay aligned.
  std::vector<int64_t> offset;
  int64_t total = 0, n_params = 0;
  for (int64_t n : sizes) {
    offset.push_back(total);
    total += (n + 63) / 64 * 64;
    n_params += n;
  }
  const std::vector<float> p_h = host_random(total, 19), g_h = host_random(total, 20, -0.1f, 0.1f),
                           m_h = host_random(total, 21, -0.01f, 0.01f),
                           v_h = host_random(total, 22, 0.0f, 1e-4f);
  DevBuf<float> p(total), g(g_h), m(total), v(total);
  const std::string count = std::to_string(sizes.size()) + " tensors, " +
                            std::to_string(n_params) + " params, one launch";

  if (b.selected(sgd_name)) {
    tl::SgdUpdate hy;
    hy.lr = 0.01f, hy.momentum = 0.9f, hy.weight_decay = 1e-4f, hy.nesterov = true;
    std::vector<float> p_cpu = p_h, vel_cpu = m_h;
    std::vector<tl::SgdTensorRef> refs;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const size_t o = static_cast<size_t>(offset[i]);
      tl::sgd_update_cpu(p_cpu.data() + o, vel_cpu.data() + o, g_h.data() + o, sizes[i], hy);
      refs.push_back({p.get() + o, m.get() + o, g.get() + o, sizes[i], hy});
    }
    p.upload(p_h);
    m.upload(m_h);
    auto kernel = [&] { tl::sgd_update_cuda(b.ctx().gpu(), refs); };
    // reads param, velocity, grad (3n) + writes param, velocity (2n)
    b.run(sgd_name, kF * 5.0 * static_cast<double>(n_params),
          [&] {
            kernel();
            Check c;
            compare(c, "param", p_cpu, p.get(), kExactAtol, kExactRtol);
            compare(c, "velocity", vel_cpu, m.get(), kExactAtol, kExactRtol);
            return c;
          },
          kernel, count);
  }
  if (b.selected(adam_name)) {
    tl::AdamUpdate hy;
    hy.lr = 1e-3f, hy.weight_decay = 1e-2f, hy.decoupled = true;
    constexpr int64_t kStep = 10;
    std::vector<float> p_cpu = p_h, m_cpu = m_h, v_cpu = v_h;
    std::vector<tl::AdamTensorRef> refs;
    for (size_t i = 0; i < sizes.size(); ++i) {
      const size_t o = static_cast<size_t>(offset[i]);
      tl::adam_update_cpu(p_cpu.data() + o, m_cpu.data() + o, v_cpu.data() + o, g_h.data() + o,
                          sizes[i], hy, kStep);
      refs.push_back({p.get() + o, m.get() + o, v.get() + o, g.get() + o, sizes[i], hy, kStep});
    }
    p.upload(p_h);
    m.upload(m_h);
    v.upload(v_h);
    auto kernel = [&] { tl::adam_update_cuda(b.ctx().gpu(), refs); };
    // reads param, m, v, grad (4n) + writes param, m, v (3n)
    b.run(adam_name, kF * 7.0 * static_cast<double>(n_params),
          [&] {
            kernel();
            Check c;
            compare(c, "param", p_cpu, p.get(), kExactAtol, kExactRtol);
            compare(c, "m", m_cpu, m.get(), kExactAtol, kExactRtol);
            compare(c, "v", v_cpu, v.get(), kExactAtol, kExactRtol);
            return c;
          },
          kernel, count);
  }
}

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--json PATH] [--repeats N] [--filter SUBSTRING]\n", argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) opt.json_path = argv[++i];
    else if (a == "--repeats" && i + 1 < argc) opt.repeats = std::max(1, std::atoi(argv[++i]));
    else if (a == "--filter" && i + 1 < argc) opt.filter = argv[++i];
    else return usage(argv[0]);
  }

  std::string why;
  const std::unique_ptr<tl::Context> ctx = tl::bench::make_cuda_context(why);
  if (!ctx) {
    std::printf("bench_cuda: no usable GPU (%s); nothing measured\n", why.c_str());
    return 0;
  }

  try {
    const std::string device = ctx->cuda()->describe();
    std::printf("bench_cuda: %s\n", device.c_str());
    Bench b(*ctx, opt);
    std::printf("L2 %d bytes, cleared before each of %d timed repeats (median kept), %d warm-up\n",
                b.l2_bytes(), opt.repeats, opt.warmup);
    b.measure_copy_bandwidth();
    b.print_header();
    bench_batchnorm(b);
    bench_pool(b);
    bench_dropout(b);
    bench_resample(b);
    bench_softmax(b);
    bench_add_relu(b);
    bench_bf16(b);
    bench_optim(b);

    int failed = 0;
    for (const Result& r : b.results()) failed += r.status != "PASS";
    if (!opt.json_path.empty()) {
      if (!tl::bench::write_json(opt.json_path, b, "bench_cuda", device)) {
        std::fprintf(stderr, "bench_cuda: cannot write %s\n", opt.json_path.c_str());
        return 1;
      }
      std::printf("wrote %s\n", opt.json_path.c_str());
    }
    std::printf("%zu benchmarks, %d failed validation or errored\n", b.results().size(), failed);
    return failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    return 1;
  }
}
