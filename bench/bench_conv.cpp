// Google Benchmark of the CPU convolution (kernels/conv2d.cpp: im2col + GEMM)
// on ResNet50's layer shapes, and of the SGEMM under it, in GFLOP/s, so the
// convolution can be read as a fraction of this machine's GEMM speed.
//
//   conv_fwd/<shape>   conv2d_forward_cpu<float>   flops = Conv2dGeometry::flops()
//   conv_bwd/<shape>   conv2d_backward_cpu<float>  (dx, dw, dbias) flops = 2 x forward
//   conv_fwd_budget/<shape>/<MB>  the forward with another column-buffer bound
//   sgemm/<m>x<n>x<k>  gemm_cpu<float>             flops = 2 m n k
//   gemm_ref/...       gemm_reference_cpu<float>   (the no-BLAS fallback)
//
// The acceptance shape is conv_fwd/r50_3x3_64to64_56_b32 (a stage-1 3x3 at
// batch 32); its GEMM is sgemm/100352x64x576_NT. Times are wall-clock
// (UseRealTime): the kernels run on several threads.
//   ./build-conv/bench/bench_conv --benchmark_filter='r50_3x3_64to64|sgemm'
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"

namespace {

using tl::Conv2dGeometry;

// Deterministic values in [-1, 1): no denormals, no zeros that BLAS could skip.
std::vector<float> filled(int64_t n, uint32_t seed) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed * 2654435761u + 1;
  for (float& f : v) {
    s = s * 1664525u + 1013904223u;  // LCG: speed, not quality, matters here
    f = static_cast<float>(s >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
  return v;
}

struct ConvShape {
  const char* name;
  int64_t batch, size, in_c, out_c, kernel, stride, pad;
  Conv2dGeometry geometry() const {
    Conv2dGeometry g;
    g.batch = batch, g.in_h = size, g.in_w = size, g.in_c = in_c;
    g.out_c = out_c, g.kernel_h = kernel, g.kernel_w = kernel, g.stride = stride, g.pad = pad;
    return g;
  }
};

// ResNet50 (Keras v1) layers at 224x224 input.
const ConvShape kShapes[] = {
    {"r50_3x3_64to64_56_b32", 32, 56, 64, 64, 3, 1, 1},      // acceptance shape (stage 1)
    {"r50_1x1_64to256_56_b32", 32, 56, 64, 256, 1, 1, 0},    // stage 1 expand: pointwise
    {"r50_1x1_256to64_56_b32", 32, 56, 256, 64, 1, 1, 0},    // stage 1 reduce: pointwise
    {"r50_3x3_256to256_14_b32", 32, 14, 256, 256, 3, 1, 1},  // stage 3
    {"r50_7x7s2_3to64_224_b8", 8, 224, 3, 64, 7, 2, 3},      // the stem (C=3: thin GEMM K)
    {"r50_1x1s2_256to512_56_b32", 32, 56, 256, 512, 1, 2, 0},  // stage 2 entry, strided 1x1
};

// kIsRate divides by the measured (here: wall-clock) time; the console shows
// "GFLOP=123/s". CPU time would only be the main thread's share.
void set_rate(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP"] = benchmark::Counter(
      flops_per_iteration * static_cast<double>(state.iterations()) * 1e-9,
      benchmark::Counter::kIsRate);
}

// budget_mb > 0: the same kernel with another bound on its column buffer
// (the default is 16 MB), to see what chunking costs or saves.
void conv_forward(benchmark::State& state, const ConvShape& s, int64_t budget_mb) {
  const Conv2dGeometry g = s.geometry();
  const std::vector<float> x = filled(g.batch * g.in_h * g.in_w * g.in_c, 1);
  const std::vector<float> w = filled(g.out_c * g.patch_size(), 2);
  const std::vector<float> b = filled(g.out_c, 3);
  std::vector<float> y(static_cast<size_t>(g.batch * g.out_h() * g.out_w() * g.out_c));
  for (auto _ : state) {
    if (budget_mb > 0)
      tl::conv2d_forward_im2col_cpu(y.data(), x.data(), w.data(), b.data(), g, budget_mb << 20);
    else
      tl::conv2d_forward_cpu(y.data(), x.data(), w.data(), b.data(), g);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, g.flops());
}

void conv_backward(benchmark::State& state, const ConvShape& s) {
  const Conv2dGeometry g = s.geometry();
  const int64_t nx = g.batch * g.in_h * g.in_w * g.in_c;
  const std::vector<float> x = filled(nx, 1), w = filled(g.out_c * g.patch_size(), 2);
  const std::vector<float> dy = filled(g.batch * g.out_h() * g.out_w() * g.out_c, 4);
  std::vector<float> dx(static_cast<size_t>(nx)), dw(w.size()), db(static_cast<size_t>(g.out_c));
  for (auto _ : state) {
    tl::conv2d_backward_cpu(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), g);
    benchmark::DoNotOptimize(dx.data());
    benchmark::DoNotOptimize(dw.data());
    benchmark::ClobberMemory();
  }
  // Two GEMMs of the forward's size (dw and dx); im2col/col2im and the bias
  // sum are counted as overhead, not work.
  set_rate(state, 2.0 * g.flops());
}

struct GemmShape {
  int64_t m, n, k;
  bool trans_a, trans_b;
  const char* what;
};

const GemmShape kGemms[] = {
    {2048, 2048, 2048, false, false, "square"},
    {100352, 64, 576, false, true, "acceptance conv forward: cols * w^T"},
    {64, 576, 100352, true, false, "acceptance conv dw: dy^T * cols"},
    {100352, 576, 64, false, false, "acceptance conv dcols: dy * w"},
};

void gemm(benchmark::State& state, const GemmShape& s, bool reference) {
  // Stored shapes: A is (m, k) or (k, m); B is (k, n) or (n, k).
  const int64_t lda = s.trans_a ? s.m : s.k, ldb = s.trans_b ? s.k : s.n;
  const std::vector<float> a = filled(s.m * s.k, 5), b = filled(s.k * s.n, 6);
  std::vector<float> c(static_cast<size_t>(s.m * s.n));
  auto run = reference ? tl::gemm_reference_cpu<float> : tl::gemm_cpu<float>;
  for (auto _ : state) {
    run(s.trans_a, s.trans_b, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(),
        s.n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_rate(state, 2.0 * double(s.m) * double(s.n) * double(s.k));
  state.SetLabel(s.what);
}

std::string gemm_name(const char* prefix, const GemmShape& s) {
  return std::string(prefix) + "/" + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
         std::to_string(s.k) + "_" + (s.trans_a ? "T" : "N") + (s.trans_b ? "T" : "N");
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::AddCustomContext("gemm_backend", tl::gemm_backend_name());
  for (const ConvShape& s : kShapes) {
    benchmark::RegisterBenchmark((std::string("conv_fwd/") + s.name).c_str(), conv_forward, s,
                                 int64_t(0))
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark((std::string("conv_bwd/") + s.name).c_str(), conv_backward, s)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  // Column-buffer budgets on the acceptance shape (the default is 16 MB):
  // 8 MB is one image per GEMM (7.2 MB of columns), 256 MB the whole batch.
  for (int64_t mb : {8, 16, 32, 64, 256})
    benchmark::RegisterBenchmark(
        ("conv_fwd_budget/" + std::string(kShapes[0].name) + "/" + std::to_string(mb) + "MB")
            .c_str(),
        conv_forward, kShapes[0], mb)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  for (const GemmShape& s : kGemms)
    benchmark::RegisterBenchmark(gemm_name("sgemm", s).c_str(), gemm, s, false)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  // The fallback loop on a size it can finish quickly (GPU machines have no BLAS).
  static const GemmShape kRefShape{512, 512, 512, false, false, "built-in loop, square"};
  benchmark::RegisterBenchmark(gemm_name("gemm_ref", kRefShape).c_str(), gemm, kRefShape, true)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
