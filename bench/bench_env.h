// The process environment the CPU benchmarks run in, shared by
// bench_kernels.cpp and bench_e2e.cpp; the same rules as ./apps/train_cifar
// (bench/compare_torch.py sets the wait policy itself, for both sides):
//  * OPENBLAS_CORETYPE=SkylakeX on a CPU with AVX-512, when unset. Debian's
//    OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to its
//    SSE3 "Prescott" kernels, 4x slower; apps/train_cifar sets the same.
//  * OMP_WAIT_POLICY=passive, when unset, as ./apps/train_cifar: an OpenMP
//    thread that finishes a parallel region sleeps instead of spinning. On a
//    2-core machine shared
//    with other work (compiles), spinning threads burn the time slices the
//    thread they wait for needs, and every parallel region ends up costing a
//    scheduler tick: measured here, a training step at 32x32 went from
//    0.5 s to 5.7 s with the default policy while two compiles ran.
// Both are read once, when the libraries are loaded (before main), so setting
// them means running the program again: exec. A variable set to the empty
// string counts as set: OMP_WAIT_POLICY= keeps libgomp's default (spin for a
// while, then sleep: faster on an idle machine, bench/RESULTS.md).
//  * The thread count: OMP_NUM_THREADS when set, else 2 (the project's
//    development machine has 2 cores; PyTorch is compared at 2 threads).
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace tl::bench {

// True when /proc/cpuinfo lists the avx512f flag (false where it cannot be read).
inline bool cpu_has_avx512f() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) return line.find(" avx512f") != std::string::npos;
  return false;
}

// The value of an environment variable, or `fallback` when unset or empty.
inline const char* env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Call first thing in main. Sets the variables above that are unset and
// re-executes the program once so that they take effect; returns normally
// when nothing needed setting (or when the exec fails: the run then goes on,
// and the program prints the GEMM kernel set it got).
inline void ensure_environment(char** argv, const char* program) {
  bool changed = false;
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr && cpu_has_avx512f()) {
    setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
    changed = true;
  }
  if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    changed = true;
  }
  if (!changed) return;  // (so the re-executed program returns here: both are set now)
  std::fprintf(stderr, "%s: running with OPENBLAS_CORETYPE=%s OMP_WAIT_POLICY=%s (set them to override)\n",
               program, env_or("OPENBLAS_CORETYPE", "(unset)"), env_or("OMP_WAIT_POLICY", "(default)"));
  execv("/proc/self/exe", argv);
  std::perror("execv /proc/self/exe");  // only reached when the exec failed
}

// Sets the OpenMP thread count (OMP_NUM_THREADS when set, else `fallback`)
// and returns it.
inline int configure_threads(int fallback = 2) {
#ifdef _OPENMP
  if (std::getenv("OMP_NUM_THREADS") == nullptr) omp_set_num_threads(fallback);
  return omp_get_max_threads();
#else
  (void)fallback;
  return 1;
#endif
}

}  // namespace tl::bench
