// The process environment the CPU benchmarks run in, shared by
// bench_kernels.cpp and bench_e2e.cpp; the same rules as ./apps/train_cifar
// (bench/compare_torch.py sets the wait policy itself, for both sides):
//  * OPENBLAS_CORETYPE=SkylakeX on a CPU with AVX-512, when unset. Debian's
//    OpenBLAS 0.3.21 does not recognise recent Xeons and falls back to its
//    SSE3 "Prescott" kernels, 4x slower; apps/train_cifar sets the same.
//    It is read once, when the library is loaded (before main), so setting it
//    means running the program again: exec. Set to the empty string it
//    counts as set.
//  * The thread count of tl's pool (runtime/thread_pool.h): TL_NUM_THREADS or
//    OMP_NUM_THREADS when set, else 2 (the project's development machine has
//    2 cores; PyTorch and Keras are compared at 2 threads).
// OpenMP's waiting policy no longer matters to tl (its pool waits its own
// way, TL_SPIN_US); bench/compare_torch.py still sets it, for PyTorch.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#include "runtime/thread_pool.h"

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
  if (!changed) return;  // (so the re-executed program returns here: it is set now)
  std::fprintf(stderr, "%s: running with OPENBLAS_CORETYPE=%s (set it to override)\n", program,
               env_or("OPENBLAS_CORETYPE", "(unset)"));
  execv("/proc/self/exe", argv);
  std::perror("execv /proc/self/exe");  // only reached when the exec failed
}

// Sets the thread count of tl's pool (`threads` when positive, else
// TL_NUM_THREADS or OMP_NUM_THREADS when set, else 2) and returns it.
inline int configure_threads(int threads = 0) {
  if (threads > 0)
    tl::set_cpu_threads(threads);
  else if (std::getenv("TL_NUM_THREADS") == nullptr && std::getenv("OMP_NUM_THREADS") == nullptr)
    tl::set_cpu_threads(2);
  return tl::cpu_threads();
}

}  // namespace tl::bench
