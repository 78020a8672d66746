#!/usr/bin/env bash
# The test command: installs what is missing, configures (CUDA targets too
# when nvcc and cuDNN are found), builds, and runs the whole CTest suite.
# GPU tests report SKIPPED on machines without a GPU.
#
# Then it rebuilds the CPU code with AddressSanitizer + UBSan and reruns the
# tests that read files a user hands us (weights, checkpoints, data sets), so
# a bad file is shown to give an error, never memory corruption.
#
#   ./scripts/test.sh                  # build in ./build (and ./build-asan)
#   BUILD_DIR=b ./scripts/test.sh
#   TL_SKIP_SANITIZE=1 ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install_deps.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTL_CUDA="${TL_CUDA:-AUTO}"
cmake --build "$BUILD_DIR" -j "$JOBS"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS" "$@")

if [ "${TL_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== AddressSanitizer + UBSan: the file-reading tests =="
  cmake -S . -B "$BUILD_DIR-asan" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTL_CUDA=OFF \
        -DTL_SANITIZE=ON -DTL_BUILD_BENCH=OFF
  cmake --build "$BUILD_DIR-asan" -j "$JOBS" --target tl_tests
  (cd "$BUILD_DIR-asan" && ctest --output-on-failure -j "$JOBS" -L cpu \
     -R 'KerasH5|ModelWeights|Checkpoint|Cifar10|ImageFolder|TrainCifarCli' -E 'Resume')
fi

# The fuzz corpus (fuzz/corpus/, docs/fuzzing.md) replayed once under ASan +
# UBSan: every parser of user input still answers each committed input with a
# tl::Error or a result, never a crash. Needs clang with libFuzzer; without
# it the step says it was skipped. TL_SKIP_FUZZ=1 skips it.
if [ "${TL_SKIP_FUZZ:-0}" != "1" ]; then
  echo "== Fuzz corpus replay (libFuzzer, ASan + UBSan) =="
  fuzz_rc=0
  JOBS="$JOBS" ./scripts/fuzz.sh --replay || fuzz_rc=$?
  if [ "$fuzz_rc" = 77 ]; then
    echo "fuzz corpus replay: SKIPPED (no clang with libFuzzer on this machine)"
  elif [ "$fuzz_rc" != 0 ]; then
    exit "$fuzz_rc"
  fi
fi
