// kernel_lab: every version of the lab's two kernels (lab/kernel_lab.h),
// validated against the CPU reference, then timed, by the harness that times
// the production kernels (bench/cuda_harness.h).
//
//   kernel_lab [--validate-only] [--json PATH] [--repeats N] [--budget-ms MS]
//              [--filter SUBSTRING]
//
// For each kernel, in order:
//  1. Edge shapes (small, odd: scalar lanes, C < 32, down-sampling, one
//     source pixel, many channel tiles), every version validated on each. A
//     version that fails one is refused: it is not timed anywhere.
//  2. The recipe's shapes (and a channel-heavy one), inputs and CPU reference
//     built once per shape; each version validated on them again, then timed
//     (Bench::run: only a version that passes is timed). --validate-only
//     stops after the validation (bench/gpu_check.sh's gpu-tests step runs
//     that as the CTest test KernelLab.ValidateAll).
// Outputs are poisoned (all bits set: NaN) before each validating call, so an
// element a version forgets to write fails.
//
// Exit status: 0 when every version passed, 1 when one failed or errored,
// 2 on a bad argument, 77 when there is no usable GPU (nothing was run;
// CTest and gpu_check.sh report that as SKIP).
#include "lab/kernel_lab.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "bench/cuda_harness.h"
#include "engine/context.h"
#include "kernels/batchnorm.h"
#include "kernels/upsample.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"

namespace {

using tl::bench::Bench;
using tl::bench::Check;
using tl::bench::DevBuf;
using tl::bench::host_random;
using tl::bench::Result;

constexpr int kNoGpuExit = 77;  // the "skipped" status of CTest and of scripts/fuzz.sh
constexpr double kF = 4;        // bytes per float32
constexpr float kBnEps = 1.001e-5f;
constexpr float kBnMomentum = 0.99f;

// ---- tolerances -------------------------------------------------------------------
// BN backward (every version): the two per-channel sums are accumulated in
// double on both devices, in different orders, so they agree to ~1e-16
// relative and round to the same float except within ~1e-16 of a rounding
// boundary, where they differ by one ulp (2^-23 relative at most): dgamma and
// dbeta within 2.5e-7 relative (2 ulps), 1e-6 absolute for values that cancel
// to ~0. dx is the CPU's float expression (kernels/batchnorm_math.cuh), so it
// is bit-identical given the same means, and the means differ at all with a
// probability of ~1e-8 per channel; one ulp of a mean (|mean| < 2 here, so an
// ulp is at most 2^-23) moves dx by scale * (1 + |xhat|) * 2^-23 < 4e-7 on
// the large shapes (scale <= 1.1, |xhat| <= 1.8). The same bounds as
// tests/gpu/test_cuda_batchnorm.cpp.
constexpr double kBnParamGradAtol = 1e-6, kBnParamGradRtol = 2.5e-7;
constexpr double kBnDxAtol = 1e-6, kBnDxRtol = 1e-6;

// Versions that are bit-identical by construction are compared bit for bit,
// PROVIDED the host compiler did not contract the CPU reference's a * b + c
// into an FMA: never on baseline x86-64 (how tl builds), always on aarch64.
// There they get a few float ulps instead (tests/gpu/cuda_parity.h).
#if defined(__FMA__) || defined(__aarch64__) || defined(__ARM_FEATURE_FMA)
constexpr bool kHostMayContract = true;
#else
constexpr bool kHostMayContract = false;
#endif
constexpr double kContractedAtol = 1e-6, kContractedRtol = 5e-7;

void compare_exact(Check& c, const char* what, const std::vector<float>& want,
                   const float* device) {
  if (kHostMayContract)
    tl::bench::compare(c, what, want, device, kContractedAtol, kContractedRtol);
  else
    tl::bench::compare_bits(c, what, want, device);
}

// Sets every byte of a device array: 0xff makes every float a NaN.
void poison(Bench& b, float* p, int64_t n) {
  TL_CUDA_CHECK(cudaMemsetAsync(p, 0xff, sizeof(float) * static_cast<size_t>(n), b.stream()));
}

struct LabOptions {
  tl::bench::Options bench;
  bool validate_only = false;
};

// One version on one shape: validated, then timed unless --validate-only or
// refused (it failed an edge shape: `refused` holds why).
void run_version(Bench& b, const LabOptions& opt, const std::string& name, double bytes,
                 const std::string& refused, const std::function<Check()>& validate,
                 const std::function<void()>& kernel) {
  if (!b.selected(name)) return;
  if (!refused.empty() || opt.validate_only) {
    Result r;
    r.name = name;
    r.bytes = bytes;
    if (!refused.empty()) {
      r.status = "FAILED";
      r.note = "not timed: " + refused;
    } else {
      try {
        const Check c = validate();
        r.max_abs_err = c.max_abs_err;
        r.status = c.pass ? "PASS" : "FAILED";
        r.note = c.pass ? "validated, not timed (--validate-only)" : c.detail;
      } catch (const std::exception& e) {
        r.status = "ERROR";
        r.note = e.what();
      }
    }
    b.add_row(r);
    return;
  }
  b.run(name, bytes, validate, kernel);
}

// Validates every version on every edge shape (validate(version, shape) ->
// Check); returns, per version, why it is refused ("" when it passed all).
template <typename Versions, typename Shapes, typename Validate>
std::vector<std::string> check_edge_shapes(const Versions& versions, const Shapes& shapes,
                                           Validate validate) {
  std::vector<std::string> refused(versions.size());
  for (size_t v = 0; v < versions.size(); ++v) {
    double max_err = 0;
    for (const auto& s : shapes) {
      Check c;
      try {
        c = validate(versions[v], s);
      } catch (const std::exception& e) {
        c.pass = false;
        c.detail = e.what();
      }
      max_err = std::max(max_err, c.max_abs_err);
      if (!c.pass) {
        refused[v] = std::string("failed on edge shape ") + s.name + ": " + c.detail;
        break;
      }
    }
    if (refused[v].empty())
      std::printf("  %-28s PASS on %zu edge shapes, max error %.3g\n", versions[v].name,
                  std::size(shapes), max_err);
    else
      std::printf("  %-28s FAILED, refused: %s\n", versions[v].name, refused[v].c_str());
  }
  std::fflush(stdout);
  return refused;
}

// ---- BN + ReLU backward ---------------------------------------------------------------
struct BnShape {
  const char* name;
  int64_t rows, channels;
};
const BnShape kBnEdgeShapes[] = {
    {"6x37", 6, 37},        // a 1-D BN after Dense: odd C (scalar lanes), fewer rows than threads
    {"2x5x7x64", 70, 64},   // a conv shape in one row block (float4 lanes in production)
    {"5000x12", 5000, 12},  // C < 32 (narrow tiles), many row blocks
    {"64x4100", 64, 4100},  // many channel tiles, few rows (the head's shape, smaller)
};
const BnShape kBnShapes[] = {
    {"112x112x64_b64", 64 * 112 * 112, 64},  // the stem's BN: the most rows, the fewest channels
    {"56x56x256_b64", 64 * 56 * 56, 256},    // stage 2 expanded: 51M elements, 205 MB
    {"7x7x2048_b64", 64 * 7 * 7, 2048},      // stage 5 expanded: few rows, many channels
};

// Inputs, the CPU reference and device buffers of one shape. The saved
// statistics come from the CPU's training forward and are given to every
// version, so each is checked on the backward alone.
struct BnCase {
  int64_t E, C;
  tl::BatchNormGeometry g;
  std::vector<float> dx_cpu, dgamma_cpu, dbeta_cpu;
  DevBuf<float> x, dy, gamma, beta, mean, invstd, dx, dgamma, dbeta;

  explicit BnCase(const BnShape& s) : BnCase(s, host_inputs(s)) {}

 private:
  struct Host {
    std::vector<float> x, dy, gamma, beta, mean, invstd;
  };
  static Host host_inputs(const BnShape& s) {
    const int64_t E = s.rows * s.channels, C = s.channels;
    Host h{host_random(E, 1, -2.0f, 3.0f), host_random(E, 6),     host_random(C, 2, 0.5f, 1.5f),
           host_random(C, 3, -0.5f, 0.5f), std::vector<float>(C), std::vector<float>(C)};
    std::vector<float> y(static_cast<size_t>(E)), running_mean(C, 0.0f), running_var(C, 1.0f);
    tl::batchnorm_forward_train_cpu(y.data(), h.mean.data(), h.invstd.data(), running_mean.data(),
                                    running_var.data(), h.x.data(), h.gamma.data(), h.beta.data(),
                                    tl::BatchNormGeometry{s.rows, C}, kBnEps, kBnMomentum, true);
    return h;
  }
  BnCase(const BnShape& s, const Host& h)
      : E(s.rows * s.channels),
        C(s.channels),
        g{s.rows, s.channels},
        dx_cpu(static_cast<size_t>(E)),
        dgamma_cpu(C),
        dbeta_cpu(C),
        x(h.x),
        dy(h.dy),
        gamma(h.gamma),
        beta(h.beta),
        mean(h.mean),
        invstd(h.invstd),
        dx(E),
        dgamma(C),
        dbeta(C) {
    tl::batchnorm_backward_train_cpu(dx_cpu.data(), dgamma_cpu.data(), dbeta_cpu.data(),
                                     h.dy.data(), h.x.data(), h.gamma.data(), h.beta.data(),
                                     h.mean.data(), h.invstd.data(), g, true);
  }

 public:
  void call(tl::cuda::CudaState& gpu, tl::lab::BnBackwardFn fn) {
    fn(gpu, dx.get(), dgamma.get(), dbeta.get(), dy.get(), x.get(), gamma.get(), beta.get(),
       mean.get(), invstd.get(), g, /*relu=*/true);
  }
  Check validate(Bench& b, tl::lab::BnBackwardFn fn) {
    poison(b, dx.get(), E);
    poison(b, dgamma.get(), C);
    poison(b, dbeta.get(), C);
    call(b.ctx().gpu(), fn);
    Check c;
    tl::bench::compare(c, "dx", dx_cpu, dx.get(), kBnDxAtol, kBnDxRtol);
    tl::bench::compare(c, "dgamma", dgamma_cpu, dgamma.get(), kBnParamGradAtol, kBnParamGradRtol);
    tl::bench::compare(c, "dbeta", dbeta_cpu, dbeta.get(), kBnParamGradAtol, kBnParamGradRtol);
    return c;
  }
};

std::string bn_row_name(const BnShape& s, const char* version) {
  return std::string("bn_relu_bwd/") + s.name + "/" + version;
}

void lab_batchnorm_backward(Bench& b, const LabOptions& opt) {
  const auto versions = tl::lab::batchnorm_backward_versions();
  bool any = false;
  for (const BnShape& s : kBnShapes)
    for (const auto& v : versions) any |= b.selected(bn_row_name(s, v.name));
  if (!any) return;
  std::printf("\n== BN + ReLU backward (training): lab/batchnorm_backward.cu\n");
  for (const auto& v : versions) std::printf("  %-28s %s\n", v.name, v.change);
  std::printf("edge shapes (dx within %.0e + %.0e*|dx|; dgamma, dbeta within %.0e + %.1e*|.|):\n",
              kBnDxAtol, kBnDxRtol, kBnParamGradAtol, kBnParamGradRtol);
  const std::vector<std::string> refused =
      check_edge_shapes(versions, kBnEdgeShapes, [&](const auto& v, const BnShape& s) {
        BnCase bc(s);
        return bc.validate(b, v.run);
      });
  for (const BnShape& s : kBnShapes) {
    bool shape_selected = false;
    for (const auto& v : versions) shape_selected |= b.selected(bn_row_name(s, v.name));
    if (!shape_selected) continue;
    BnCase bc(s);
    for (size_t i = 0; i < versions.size(); ++i) {
      const auto& v = versions[i];
      // reads dy, x (2E) + writes dx (E) + gamma, beta, mean, invstd (4C) +
      // writes dgamma, dbeta (2C): what any version must move. A version that
      // reads dy and x twice gets no credit for the second read.
      run_version(
          b, opt, bn_row_name(s, v.name), kF * static_cast<double>(3 * bc.E + 6 * bc.C), refused[i],
          [&] { return bc.validate(b, v.run); }, [&] { bc.call(b.ctx().gpu(), v.run); });
    }
  }
}

// ---- bilinear upsampling backward ------------------------------------------------------
struct UpShape {
  const char* name;
  tl::UpsampleGeometry g;
};
tl::UpsampleGeometry up_geometry(int64_t n, int64_t h, int64_t w, int64_t c, int64_t oh,
                                 int64_t ow) {
  tl::UpsampleGeometry g;
  g.batch = n, g.in_h = h, g.in_w = w, g.channels = c, g.out_h = oh, g.out_w = ow;
  return g;
}
const UpShape kUpEdgeShapes[] = {
    {"2x5x7x8_to_11x3", up_geometry(2, 5, 7, 8, 11, 3)},  // up in y, down in x; float4 lanes
    {"1x9x4x5_to_4x9", up_geometry(1, 9, 4, 5, 4, 9)},    // down in y: inputs no output reads
    {"2x3x3x1_to_3x3", up_geometry(2, 3, 3, 1, 3, 3)},    // identity size
    {"1x1x1x2_to_5x4", up_geometry(1, 1, 1, 2, 5, 4)},    // one source pixel: every tap clamped
    {"2x4x6x16_to_13x17", up_geometry(2, 4, 6, 16, 13, 17)},
};
const UpShape kUpShapes[] = {
    {"32to224_c3_b64", up_geometry(64, 32, 32, 3, 224, 224)},   // the recipe's CIFAR -> ResNet50
    {"14to28_c256_b64", up_geometry(64, 14, 14, 256, 28, 28)},  // channel-heavy: x2, C = 256
};

// The most terms any dx element along one axis sums: how many (output, tap)
// pairs name one input index.
int64_t max_fan_in(int64_t in_size, int64_t out_size) {
  std::vector<int64_t> count(static_cast<size_t>(in_size), 0);
  for (int64_t o = 0; o < out_size; ++o) {
    const tl::BilinearTap t = tl::bilinear_tap(o, in_size, out_size);
    ++count[static_cast<size_t>(t.i0)];
    ++count[static_cast<size_t>(t.i1)];
  }
  return *std::max_element(count.begin(), count.end());
}

struct UpCase {
  tl::UpsampleGeometry g;
  int64_t nx, ny;
  std::vector<float> dx_cpu;
  // For the versions that add in another order (the scatter): a bound on
  // |dx_gpu - dx_cpu| per element. Both are float sums of the same n products
  // (each product rounded identically on both sides), in two orders; each is
  // within gamma_n * S of the exact sum, S = sum of the terms' magnitudes,
  // gamma_n = n u / (1 - n u), u = 2^-24 (Higham, Accuracy and Stability of
  // Numerical Algorithms, 4.2); so they differ by at most 2 gamma_n S. S is the
  // backward applied to |dy| (the weights are >= 0), in double; n is the
  // largest fan-in. Times (1 + 4u): S is summed in double from weights that
  // the float products round up to 3 times. Plus n * FLT_MIN: atom.add.f32
  // flushes subnormal sums to zero.
  std::vector<double> reorder_bound;
  DevBuf<float> dy, dx;

  explicit UpCase(const UpShape& s) : UpCase(s.g, host_random(numel_out(s.g), 13)) {}

 private:
  static int64_t numel_out(const tl::UpsampleGeometry& g) {
    return g.batch * g.out_h * g.out_w * g.channels;
  }
  UpCase(const tl::UpsampleGeometry& geometry, const std::vector<float>& dy_h)
      : g(geometry),
        nx(g.batch * g.in_h * g.in_w * g.channels),
        ny(numel_out(g)),
        dx_cpu(static_cast<size_t>(nx)),
        reorder_bound(static_cast<size_t>(nx)),
        dy(dy_h),
        dx(nx) {
    tl::upsample_bilinear_backward_cpu(dx_cpu.data(), dy_h.data(), g);
    std::vector<double> abs_dy(dy_h.size());
    for (size_t i = 0; i < dy_h.size(); ++i) abs_dy[i] = std::fabs(static_cast<double>(dy_h[i]));
    tl::upsample_bilinear_backward_cpu(reorder_bound.data(), abs_dy.data(), g);  // S
    const double n = static_cast<double>(max_fan_in(g.in_h, g.out_h) * max_fan_in(g.in_w, g.out_w));
    const double u = std::ldexp(1.0, -24), gamma = n * u / (1.0 - n * u);
    for (double& bound : reorder_bound) bound = 2.0 * gamma * (1.0 + 4.0 * u) * bound + n * FLT_MIN;
  }

 public:
  void call(tl::cuda::CudaState& gpu, tl::lab::UpsampleBackwardFn fn) {
    fn(gpu, dx.get(), dy.get(), g);
  }
  Check validate(Bench& b, const tl::lab::Version<tl::lab::UpsampleBackwardFn>& v) {
    poison(b, dx.get(), nx);
    call(b.ctx().gpu(), v.run);
    Check c;
    if (v.bit_exact)
      compare_exact(c, "dx", dx_cpu, dx.get());
    else
      tl::bench::compare_within(c, "dx", dx_cpu, dx.get(), reorder_bound);
    return c;
  }
};

std::string up_row_name(const UpShape& s, const char* version) {
  return std::string("upsample_bwd/") + s.name + "/" + version;
}

void lab_upsample_backward(Bench& b, const LabOptions& opt) {
  const auto versions = tl::lab::upsample_backward_versions();
  bool any = false;
  for (const UpShape& s : kUpShapes)
    for (const auto& v : versions) any |= b.selected(up_row_name(s, v.name));
  if (!any) return;
  std::printf("\n== bilinear upsampling backward: lab/upsample_backward.cu\n");
  for (const auto& v : versions) std::printf("  %-28s %s\n", v.name, v.change);
  std::printf(
      "edge shapes (bit-exact versions: %s; the others within the reordering bound "
      "2 gamma_n sum|terms|):\n",
      kHostMayContract ? "a few ulps (this host contracts FMAs)" : "every bit");
  const std::vector<std::string> refused =
      check_edge_shapes(versions, kUpEdgeShapes, [&](const auto& v, const UpShape& s) {
        UpCase uc(s);
        return uc.validate(b, v);
      });
  for (const UpShape& s : kUpShapes) {
    bool shape_selected = false;
    for (const auto& v : versions) shape_selected |= b.selected(up_row_name(s, v.name));
    if (!shape_selected) continue;
    UpCase uc(s);
    for (size_t i = 0; i < versions.size(); ++i) {
      const auto& v = versions[i];
      // reads dy + writes dx, once each (the scatter's zero-fill of dx and
      // the gathers' re-reads of dy from L2 are not credited).
      run_version(
          b, opt, up_row_name(s, v.name), kF * static_cast<double>(uc.ny + uc.nx), refused[i],
          [&] { return uc.validate(b, v); }, [&] { uc.call(b.ctx().gpu(), v.run); });
    }
  }
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--validate-only] [--json PATH] [--repeats N] [--budget-ms MS] "
               "[--filter SUBSTRING]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  LabOptions opt;
  opt.bench.name_width = 52;
  // The slow first versions take up to seconds a call: each version gets at
  // most ~1.5 s of timed calls (at least one), so the whole lab stays within
  // the step budget bench/gpu_check.sh gives it.
  opt.bench.budget_ms = 1500;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--validate-only")
      opt.validate_only = true;
    else if (a == "--json" && i + 1 < argc)
      opt.bench.json_path = argv[++i];
    else if (a == "--repeats" && i + 1 < argc)
      opt.bench.repeats = std::max(1, std::atoi(argv[++i]));
    else if (a == "--budget-ms" && i + 1 < argc)
      opt.bench.budget_ms = std::atof(argv[++i]);
    else if (a == "--filter" && i + 1 < argc)
      opt.bench.filter = argv[++i];
    else
      return usage(argv[0]);
  }

  std::string why;
  const std::unique_ptr<tl::Context> ctx = tl::bench::make_cuda_context(why);
  if (!ctx) {
    std::printf(
        "kernel_lab: SKIP: no usable GPU (%s); no version was validated or timed "
        "(exit %d)\n",
        why.c_str(), kNoGpuExit);
    return kNoGpuExit;
  }

  try {
    const std::string device = ctx->cuda()->describe();
    std::printf("kernel_lab: %s\n", device.c_str());
    Bench b(*ctx, opt.bench);
    if (opt.validate_only) {
      std::printf("validation only: nothing is timed\n");
    } else {
      std::printf(
          "L2 %d bytes, cleared before each of %d timed repeats (median kept; fewer when "
          "a version's calls would exceed %.0f ms), %d warm-up\n",
          b.l2_bytes(), opt.bench.repeats, opt.bench.budget_ms, opt.bench.warmup);
      b.measure_copy_bandwidth();
    }
    // The JSON is written after each kernel too: a run cut short by its time
    // cap (bench/gpu_check.sh) still brings back what it measured.
    const auto save_json = [&] {
      return opt.bench.json_path.empty() ||
             tl::bench::write_json(opt.bench.json_path, b, "kernel_lab", device);
    };
    lab_batchnorm_backward(b, opt);
    save_json();
    lab_upsample_backward(b, opt);

    // The table again, whole, at the end: the rows printed as they finished
    // are interleaved with the edge-shape lines above.
    std::printf("\n");
    b.print_header();
    int failed = 0;
    for (const Result& r : b.results()) {
      failed += r.status != "PASS";
      std::printf("%-*s %-6s %10.4f %9.1f %6.1f%% %10.3g\n", opt.bench.name_width, r.name.c_str(),
                  r.status.c_str(), r.median_ms, r.gbps, 100.0 * r.copy_fraction, r.max_abs_err);
    }
    if (!save_json()) {
      std::fprintf(stderr, "kernel_lab: cannot write %s\n", opt.bench.json_path.c_str());
      return 1;
    }
    if (!opt.bench.json_path.empty()) std::printf("wrote %s\n", opt.bench.json_path.c_str());
    std::printf("%zu version-shape pairs, %d failed validation, were refused or errored\n",
                b.results().size(), failed);
    return failed == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kernel_lab: %s\n", e.what());
    return 1;
  }
}
