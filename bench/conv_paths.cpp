// conv_paths: every convolution of ResNet50 timed on both CPU paths, oneDNN
// and tl's im2col + GEMM, layer by layer, for one batch size and input size.
// This is the measurement behind the rule that picks between them
// (onednn_is_faster in kernels/conv2d.cpp; bench/RESULTS.md "oneDNN or
// im2col").
//
//   ./build/bench/conv_paths [--batch N] [--size S] [--backward]
//
// Each layer runs both paths in turn, 4 rounds; the best of the last 3 is
// reported (the first round builds oneDNN's kernels). Layers that repeat in a
// stage are printed once. Like bench_e2e, it sets OPENBLAS_CORETYPE first
// when it is unset, and runs tl's pool on 2 threads unless TL_NUM_THREADS or
// OMP_NUM_THREADS says otherwise (bench_env.h).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <tuple>
#include <vector>

#include "bench/bench_env.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_onednn.h"

namespace {

using tl::Conv2dGeometry;

Conv2dGeometry geometry(int64_t batch, int64_t size, int64_t in_c, int64_t out_c, int64_t kernel,
                        int64_t stride, int64_t pad) {
  Conv2dGeometry g;
  g.batch = batch, g.in_h = size, g.in_w = size, g.in_c = in_c;
  g.out_c = out_c, g.kernel_h = kernel, g.kernel_w = kernel, g.stride = stride, g.pad = pad;
  return g;
}

// ResNet50's convolutions in order (layers/resnet50.cpp): the stem, then per
// bottleneck 1x1 (with the stage's stride), 3x3, 1x1, and the projection
// shortcut on each stage's first block.
std::vector<Conv2dGeometry> resnet50_convs(int64_t batch, int64_t image) {
  std::vector<Conv2dGeometry> convs{geometry(batch, image, 3, 64, 7, 2, 3)};
  int64_t size = (image / 2 + 1) / 2, channels = 64;  // after the stem and the 3/2 max pool
  const int64_t stages[4][3] = {{64, 3, 1}, {128, 4, 2}, {256, 6, 2}, {512, 3, 2}};
  for (const auto& [filters, blocks, first_stride] : stages) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t stride = b == 0 ? first_stride : 1;
      if (b == 0) convs.push_back(geometry(batch, size, channels, 4 * filters, 1, stride, 0));
      convs.push_back(geometry(batch, size, channels, filters, 1, stride, 0));
      size = (size - 1) / stride + 1;
      convs.push_back(geometry(batch, size, filters, filters, 3, 1, 1));
      convs.push_back(geometry(batch, size, filters, 4 * filters, 1, 1, 0));
      channels = 4 * filters;
    }
  }
  return convs;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  tl::bench::ensure_environment(argv, "conv_paths");
  tl::bench::configure_threads();
  int64_t batch = 8, size = 224;
  bool backward = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--size") && i + 1 < argc) size = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--backward")) backward = true;
    else {
      std::fprintf(stderr, "usage: conv_paths [--batch N] [--size S] [--backward]\n");
      return 2;
    }
  }
  if (!tl::onednn_available()) {
    std::fprintf(stderr, "conv_paths: this build has no oneDNN (apt-get install libdnnl-dev)\n");
    return 1;
  }
  std::printf("ResNet50 convolutions, batch %lld, %lldx%lld input, %s; ms per call (best of 3)\n",
              static_cast<long long>(batch), static_cast<long long>(size),
              static_cast<long long>(size), backward ? "backward (dx + dw)" : "forward");
  std::printf("%8s %5s %11s %7s %9s %9s %7s\n", "N*OH*OW", "in", "C -> O", "k/s", "im2col",
              "oneDNN", "ratio");
  double total_im2col = 0, total_onednn = 0;
  std::set<std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t>> printed;
  for (const Conv2dGeometry& g : resnet50_convs(batch, size)) {
    const size_t nx = size_t(g.batch * g.in_h * g.in_w * g.in_c);
    const size_t nw = size_t(g.out_c * g.patch_size());
    const size_t ny = size_t(g.batch * g.out_h() * g.out_w() * g.out_c);
    std::vector<float> x(nx, 0.5f), w(nw, 0.01f), b(size_t(g.out_c), 0.1f), y(ny, 1.0f);
    std::vector<float> dx(nx), dw(nw), db(size_t(g.out_c));
    double best_im2col = 1e30, best_onednn = 1e30;
    for (int round = 0; round < 4; ++round) {
      const double t0 = seconds_now();
      if (backward)
        tl::conv2d_backward_im2col_cpu(dx.data(), dw.data(), db.data(), y.data(), x.data(),
                                       w.data(), g, int64_t(16) << 20);
      else
        tl::conv2d_forward_im2col_cpu(y.data(), x.data(), w.data(), b.data(), g, int64_t(16) << 20);
      const double t1 = seconds_now();
      if (backward)
        tl::conv2d_backward_onednn(dx.data(), dw.data(), y.data(), x.data(), w.data(), g);
      else
        tl::conv2d_forward_onednn(y.data(), x.data(), w.data(), b.data(), g);
      const double t2 = seconds_now();
      if (round > 0) {
        best_im2col = std::min(best_im2col, t1 - t0);
        best_onednn = std::min(best_onednn, t2 - t1);
      }
    }
    total_im2col += best_im2col;
    total_onednn += best_onednn;
    if (!printed.insert({g.in_h, g.in_c, g.out_c, g.kernel_h, g.stride}).second) continue;
    char shape[32], ks[16];
    std::snprintf(shape, sizeof shape, "%lld -> %lld", static_cast<long long>(g.in_c),
                  static_cast<long long>(g.out_c));
    std::snprintf(ks, sizeof ks, "%lldx%lld/%lld", static_cast<long long>(g.kernel_h),
                  static_cast<long long>(g.kernel_w), static_cast<long long>(g.stride));
    std::printf("%8lld %5lld %11s %7s %9.2f %9.2f %6.2fx\n",
                static_cast<long long>(g.batch * g.out_h() * g.out_w()),
                static_cast<long long>(g.in_h), shape, ks, best_im2col * 1e3, best_onednn * 1e3,
                best_im2col / best_onednn);
  }
  std::printf("all %zu convolutions: im2col %.1f ms, oneDNN %.1f ms (%.2fx)\n",
              resnet50_convs(batch, size).size(), total_im2col * 1e3, total_onednn * 1e3,
              total_im2col / total_onednn);
  return 0;
}
