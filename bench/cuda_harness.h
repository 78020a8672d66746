// The harness that checks then times CUDA kernels, shared by the production
// kernels' microbenchmarks (bench/bench_cuda.cpp) and the kernel lab
// (lab/kernel_lab.cpp), so that a lab version and the production kernel it
// leads to are measured by the same code under the same conditions.
//
// What a benchmark goes through (Bench::run):
//  1. Validation first: `validate` runs the kernel once on inputs built on the
//     host and compares its output with the CPU reference (kernels/*.cpp)
//     under a stated tolerance (compare, compare_within) or bit for bit
//     (compare_bits). A kernel that disagrees is reported FAILED and never
//     timed: a fast wrong kernel has no speed worth printing.
//  2. Warm-up calls, then `repeats` timed calls, each between a pair of CUDA
//     events on the Context's stream, with the L2 cache cleared before each
//     (a cudaMemsetAsync over a buffer twice the L2 size, outside the timed
//     region), so every call reads its inputs from DRAM. The median is kept:
//     robust to the odd slow call (a clock change, another process).
//  3. GB/s from the bytes the kernel must move, given by the caller: every
//     array it must read counted once plus every array it must write counted
//     once. A kernel that reads an input twice gets no credit for the second
//     read; the gap to the copy bandwidth shows what that costs.
//  4. The copy bandwidth (measure_copy_bandwidth: cudaMemcpyAsync device to
//     device of 1 GiB, best of 7, read + write bytes) is the yardstick: each
//     kernel's rate is also printed as a fraction of it. A memory-bound kernel
//     at 0.9 has little left to gain.
// Output: one table row per benchmark as it finishes (print_header, then the
// rows), and write_json for machines (bench/gpu_check.sh).
//
// Header-only: the two programs that use it are each one translation unit,
// and neither has to link the other's build target.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/context.h"
#include "runtime/cuda/check.h"
#include "runtime/cuda/cuda_state.h"

namespace tl::bench {

// ---- host inputs --------------------------------------------------------------
// A 64-bit mix of (seed, i): deterministic and fast enough for 64M elements.
inline float mix_uniform(uint64_t i, uint64_t seed) {
  uint64_t z = (i + 1) * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 31)) * 0x94D049BB133111EBull;
  z ^= z >> 29;
  return static_cast<float>(z >> 40) * (1.0f / 16777216.0f);  // [0, 1)
}
// Values in [lo, hi).
inline std::vector<float> host_random(int64_t n, uint64_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i)
    v[static_cast<size_t>(i)] = lo + (hi - lo) * mix_uniform(static_cast<uint64_t>(i), seed);
  return v;
}

// ---- device buffers -----------------------------------------------------------
// A plain cudaMalloc'd buffer (not the caching allocator: a benchmark owns
// its memory and frees it when it ends).
template <typename T>
class DevBuf {
 public:
  explicit DevBuf(int64_t n) : n_(n) {
    TL_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p_),
                             sizeof(T) * static_cast<size_t>(std::max<int64_t>(n, 1))));
  }
  explicit DevBuf(const std::vector<T>& host) : DevBuf(static_cast<int64_t>(host.size())) {
    upload(host);
  }
  ~DevBuf() {
    if (p_) cudaFree(p_);  // a destructor must not throw: status ignored
  }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  T* get() const { return p_; }
  int64_t size() const { return n_; }
  void upload(const std::vector<T>& host) {
    TL_CUDA_CHECK(cudaMemcpy(p_, host.data(), sizeof(T) * host.size(), cudaMemcpyHostToDevice));
    // A pageable copy may return before its DMA lands; the launchers run on
    // the Context's own stream, so wait here.
    TL_CUDA_CHECK(cudaDeviceSynchronize());
  }

 private:
  T* p_ = nullptr;
  int64_t n_;
};

// ---- validation ---------------------------------------------------------------
struct Check {
  bool pass = true;
  double max_abs_err = 0;
  std::string detail;  // the first failing array and element
};

// The device array back on the host, after everything queued has finished
// (the launchers run on the Context's stream, which need not synchronise with
// the legacy default stream that cudaMemcpy uses).
inline std::vector<float> download(const float* device, size_t n) {
  TL_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> got(n);
  TL_CUDA_CHECK(cudaMemcpy(got.data(), device, sizeof(float) * n, cudaMemcpyDeviceToHost));
  return got;
}

// Compares `want.size()` device floats with the CPU's: element i passes when
// |got - want| <= bound(i, want); NaN never passes. Accumulates into `c`.
template <typename Bound>
void compare_with(Check& c, const char* what, const std::vector<float>& want, const float* device,
                  Bound bound) {
  const std::vector<float> got = download(device, want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const double w = want[i], g = got[i], err = std::fabs(g - w);
    if (!(err <= bound(i, w))) {  // written so that NaN fails
      if (c.pass) {
        char buf[192];
        std::snprintf(buf, sizeof buf, "%s[%zu]: got %.9g, want %.9g (allowed %.3g)", what, i, g, w,
                      bound(i, w));
        c.detail = buf;
      }
      c.pass = false;
    }
    if (!std::isnan(err)) c.max_abs_err = std::max(c.max_abs_err, err);
  }
}

// |got - want| <= atol + rtol * |want|.
inline void compare(Check& c, const char* what, const std::vector<float>& want, const float* device,
                    double atol, double rtol) {
  compare_with(c, what, want, device, [&](size_t, double w) { return atol + rtol * std::fabs(w); });
}
inline void compare_scalar(Check& c, const char* what, float want, const float* device, double atol,
                           double rtol) {
  compare(c, what, std::vector<float>{want}, device, atol, rtol);
}

// |got[i] - want[i]| <= bound[i]: for a kernel whose error can be bounded
// element by element (a sum in another order: the bound grows with the
// element's own terms).
inline void compare_within(Check& c, const char* what, const std::vector<float>& want,
                           const float* device, const std::vector<double>& bound) {
  compare_with(c, what, want, device, [&](size_t i, double) { return bound[i]; });
}

// Every element has the CPU's bits (so -0 != +0, and NaN passes only as the
// same NaN): for the kernels that are bit-identical by construction.
inline void compare_bits(Check& c, const char* what, const std::vector<float>& want,
                         const float* device) {
  const std::vector<float> got = download(device, want.size());
  int64_t differ = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(float)) == 0) continue;
    if (differ++ == 0) {
      char buf[192];
      std::snprintf(buf, sizeof buf, "%s[%zu]: got %.9g, want %.9g (bits differ)", what, i,
                    static_cast<double>(got[i]), static_cast<double>(want[i]));
      if (c.pass) c.detail = buf;
    }
    const double err = std::fabs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
    if (!std::isnan(err)) c.max_abs_err = std::max(c.max_abs_err, err);
  }
  if (differ > 0) {
    if (c.pass) c.detail += ", " + std::to_string(differ) + " elements in all";
    c.pass = false;
  }
}

// ---- timing ---------------------------------------------------------------------
struct Options {
  int repeats = 20;
  int warmup = 3;
  // When > 0: a kernel whose first warm-up call shows that warmup + repeats
  // calls would take longer than this gets fewer (at least one timed call):
  // the lab's deliberately slow first versions would otherwise take minutes.
  double budget_ms = 0;
  std::string json_path;
  std::string filter;
  int name_width = 34;  // of the table's first column
};

struct Result {
  std::string name;
  std::string status;  // PASS (validated and timed), FAILED (disagrees, not timed), ERROR
  double median_ms = 0, bytes = 0, gbps = 0, copy_fraction = 0, max_abs_err = 0;
  int repeats = 0;  // timed calls behind the median
  std::string note;
};

class Bench {
 public:
  Bench(tl::Context& ctx, const Options& opt) : ctx_(ctx), opt_(opt) {
    stream_ = ctx.cuda()->stream;
    int device = 0, l2 = 0;
    TL_CUDA_CHECK(cudaGetDevice(&device));
    TL_CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
    // Twice the L2: a write of that much leaves none of the benchmark's data in it.
    flush_bytes_ = std::max<size_t>(2 * static_cast<size_t>(l2), size_t{64} << 20);
    TL_CUDA_CHECK(cudaMalloc(&flush_, flush_bytes_));
    TL_CUDA_CHECK(cudaEventCreate(&start_));
    TL_CUDA_CHECK(cudaEventCreate(&stop_));
    l2_bytes_ = l2;
  }
  ~Bench() {
    cudaEventDestroy(start_);  // destructor: statuses ignored
    cudaEventDestroy(stop_);
    cudaFree(flush_);
  }
  Bench(const Bench&) = delete;
  Bench& operator=(const Bench&) = delete;

  cudaStream_t stream() const { return stream_; }
  int l2_bytes() const { return l2_bytes_; }
  double copy_gbps() const { return copy_gbps_; }
  bool selected(const std::string& name) const {
    return opt_.filter.empty() || name.find(opt_.filter) != std::string::npos;
  }
  // Whether any of a group's benchmarks is selected (skips building its inputs).
  bool any_selected(std::initializer_list<std::string> names) const {
    for (const std::string& n : names)
      if (selected(n)) return true;
    return false;
  }

  // Milliseconds of one call of `fn`, L2 cleared before it (outside the events).
  float time_once_ms(const std::function<void()>& fn) {
    TL_CUDA_CHECK(cudaMemsetAsync(flush_, 0, flush_bytes_, stream_));
    TL_CUDA_CHECK(cudaEventRecord(start_, stream_));
    fn();
    TL_CUDA_CHECK(cudaEventRecord(stop_, stream_));
    TL_CUDA_CHECK(cudaEventSynchronize(stop_));
    float ms = 0;
    TL_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
    return ms;
  }

  // Median milliseconds of `fn` over the repeats (stored in *repeats_used),
  // L2 cleared before each.
  double time_median_ms(const std::function<void()>& fn, int* repeats_used = nullptr) {
    int warmup = opt_.warmup, repeats = opt_.repeats;
    if (opt_.budget_ms > 0 && warmup > 0) {
      const double first = time_once_ms(fn);  // the first warm-up, timed
      --warmup;
      const double calls = opt_.budget_ms / std::max(first, 1e-3);
      if (calls < warmup + repeats) {  // too slow for the full count: no more warm-up
        warmup = 0;
        repeats = std::clamp(static_cast<int>(calls), 1, repeats);
      }
    }
    for (int i = 0; i < warmup; ++i) fn();
    std::vector<float> ms(static_cast<size_t>(repeats));
    for (float& t : ms) t = time_once_ms(fn);
    std::sort(ms.begin(), ms.end());
    const size_t n = ms.size();
    if (repeats_used) *repeats_used = repeats;
    return n % 2 ? ms[n / 2] : 0.5 * (ms[n / 2 - 1] + ms[n / 2]);
  }

  // Device-to-device copy of 1 GiB, best of several: (read + write) bytes / time.
  void measure_copy_bandwidth() {
    const size_t bytes = size_t{1} << 30;
    DevBuf<uint8_t> src(static_cast<int64_t>(bytes)), dst(static_cast<int64_t>(bytes));
    TL_CUDA_CHECK(cudaMemsetAsync(src.get(), 1, bytes, stream_));
    float best = 1e30f;
    for (int i = 0; i < 8; ++i) {
      TL_CUDA_CHECK(cudaEventRecord(start_, stream_));
      TL_CUDA_CHECK(
          cudaMemcpyAsync(dst.get(), src.get(), bytes, cudaMemcpyDeviceToDevice, stream_));
      TL_CUDA_CHECK(cudaEventRecord(stop_, stream_));
      TL_CUDA_CHECK(cudaEventSynchronize(stop_));
      float ms = 0;
      TL_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
      if (i > 0) best = std::min(best, ms);  // the first copy is the warm-up
    }
    copy_gbps_ = 2.0 * static_cast<double>(bytes) / (best * 1e-3) * 1e-9;
    std::printf(
        "device copy bandwidth: %.1f GB/s (cudaMemcpyAsync D2D of 1 GiB, best of 7, "
        "read + write bytes, %.3f ms)\n",
        copy_gbps_, best);
  }

  // One benchmark: `validate` runs the kernel once and compares it with the
  // CPU (filling a Check); only when it passes is `kernel` timed.
  void run(const std::string& name, double bytes, const std::function<Check()>& validate,
           const std::function<void()>& kernel, const std::string& note = "") {
    if (!selected(name)) return;
    Result r;
    r.name = name;
    r.bytes = bytes;
    r.note = note;
    try {
      const Check c = validate();
      r.max_abs_err = c.max_abs_err;
      if (!c.pass) {
        r.status = "FAILED";
        r.note = c.detail;
      } else {
        r.median_ms = time_median_ms(kernel, &r.repeats);
        r.gbps = bytes / (r.median_ms * 1e-3) * 1e-9;
        r.copy_fraction = copy_gbps_ > 0 ? r.gbps / copy_gbps_ : 0;
        r.status = "PASS";
        if (r.repeats < opt_.repeats)
          r.note += (r.note.empty() ? "" : "; ") + std::string("median of ") +
                    std::to_string(r.repeats) + " (time budget)";
      }
    } catch (const std::exception& e) {
      r.status = "ERROR";
      r.note = e.what();
    }
    add_row(r);
  }

  // A row measured by the caller (a library comparison, a version refused
  // before validation), printed and kept like the others.
  void add_row(const Result& r) {
    print_row(r);
    results_.push_back(r);
  }
  const std::vector<Result>& results() const { return results_; }
  const Options& options() const { return opt_; }
  tl::Context& ctx() { return ctx_; }

  void print_header() const {
    std::printf("%-*s %-6s %10s %9s %7s %10s  %s\n", opt_.name_width, "kernel", "check",
                "median_ms", "GB/s", "of_copy", "max_err", "note");
  }

 private:
  void print_row(const Result& r) const {
    std::printf("%-*s %-6s %10.4f %9.1f %6.1f%% %10.3g  %s\n", opt_.name_width, r.name.c_str(),
                r.status.c_str(), r.median_ms, r.gbps, 100.0 * r.copy_fraction, r.max_abs_err,
                r.note.c_str());
    std::fflush(stdout);
  }

  tl::Context& ctx_;
  Options opt_;
  cudaStream_t stream_ = nullptr;
  void* flush_ = nullptr;
  size_t flush_bytes_ = 0;
  int l2_bytes_ = 0;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
  double copy_gbps_ = 0;
  std::vector<Result> results_;
};

// ---- the GPU ------------------------------------------------------------------------
// A CUDA Context, or null with the reason in `why` (no driver, no device, a
// device the runtime refuses).
inline std::unique_ptr<tl::Context> make_cuda_context(std::string& why) {
  if (tl::cuda::device_count() == 0) {
    why = tl::cuda::no_device_reason();
    return nullptr;
  }
  try {
    return std::make_unique<tl::Context>(tl::Device::CUDA, /*seed=*/0);
  } catch (const std::exception& e) {
    why = e.what();
    return nullptr;
  }
}

// ---- output -------------------------------------------------------------------------
inline std::string json_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += ' ';
    } else {
      out += ch;
    }
  }
  return out;
}

// {"tool", "device", "copy_gbps", "l2_bytes", "repeats", "kernels": [one
// object per row]}. False when the file cannot be written.
inline bool write_json(const std::string& path, const Bench& b, const std::string& tool,
                       const std::string& device) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  std::fprintf(f,
               "{\n  \"tool\": \"%s\",\n  \"device\": \"%s\",\n  \"copy_gbps\": %.3f,\n"
               "  \"l2_bytes\": %d,\n  \"repeats\": %d,\n  \"kernels\": [\n",
               json_escape(tool).c_str(), json_escape(device).c_str(), b.copy_gbps(), b.l2_bytes(),
               b.options().repeats);
  const auto& rs = b.results();
  for (size_t i = 0; i < rs.size(); ++i) {
    const Result& r = rs[i];
    std::fprintf(f,
                 "    {\"name\": \"%s\", \"validation\": \"%s\", \"median_ms\": %.6f, "
                 "\"repeats\": %d, \"bytes\": %.0f, \"gbps\": %.3f, \"copy_fraction\": %.4f, "
                 "\"max_abs_err\": %.6g, \"note\": \"%s\"}%s\n",
                 json_escape(r.name).c_str(), r.status.c_str(), r.median_ms, r.repeats, r.bytes,
                 r.gbps, r.copy_fraction, r.max_abs_err, json_escape(r.note).c_str(),
                 i + 1 < rs.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  return std::fclose(f) == 0;
}

}  // namespace tl::bench
