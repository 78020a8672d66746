#!/usr/bin/env bash
# bench/gpu_check.sh: the ONE prepared check to run when a GPU machine is
# available (docs/DESIGN.md, "GPUs"). In order, each step with its own
# timeout, all of it inside a budget of 450 s (under 8 minutes with margin):
#   info       what the machine has: nvidia-smi, nvcc, cmake, ninja,
#              compute-sanitizer, Python/PyTorch, and where cuDNN, cuBLAS,
#              HDF5, BLAS and GoogleTest are (the cuDNN / cuBLAS pip wheels
#              under site-packages/nvidia included)
#   gtest      (only when CMake would not find GoogleTest) builds it from
#              /usr/src/googletest, or uses $TL_GTEST_ROOT
#   configure  Release, Ninja, -DTL_CUDA=ON for sm_90 (-DCUDNN_ROOT=<wheel>
#              when cuDNN is only in the pip wheel)
#   build      the GPU tests, train_cifar, bench_e2e and bench_cuda (if it exists), all cores
#   gpu-tests  ctest -L gpu --output-on-failure
#   sanitizer  compute-sanitizer --tool memcheck on a few small GPU tests
#   bench-cuda the CUDA kernel benchmarks, if a bench_cuda target exists
#   e2e-*      bench_e2e on the GPU: the 224x224 training step and inference, FP32 and TF32
#   train      train_cifar --device cuda --quick --epochs 1 (synthetic data,
#              or $CIFAR_DIR: the CIFAR-10 binary folder or an image folder)
#   torch      python3 bench/compare_torch.py, if it exists
# A failed step does not stop the others. Logs go to $OUT/logs/<step>.log and
# one line per step (PASS / FAIL / TIMEOUT / SKIP, seconds, note) to
# $OUT/summary.txt; $OUT defaults to ./gpu-check-out.
#
# Environment: OUT, CIFAR_DIR, TL_BUILD_DIR (default ./build),
# TL_CHECK_BUDGET_S (default 450), TL_GTEST_ROOT, CUDNN_ROOT.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
out=${OUT:-$root/gpu-check-out}
build=${TL_BUILD_DIR:-$root/build}
budget_s=${TL_CHECK_BUDGET_S:-450}
jobs=$(nproc 2>/dev/null || echo 4)
start=$(date +%s)
mkdir -p "$out/logs"
summary=$out/summary.txt
{
  echo "tl GPU check, $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
       "$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo '(with local changes)')"
} > "$summary"

elapsed() { echo $(( $(date +%s) - start )); }

# record STEP STATUS SECONDS NOTE: one summary line.
record() {
  printf '%-10s %-7s %4ss  %s\n' "$1" "$2" "$3" "$4" | tee -a "$summary"
}

# run_step STEP TIMEOUT CMD...: CMD under its own timeout, cut to what is
# left of the budget; output to $out/logs/STEP.log (its tail echoed).
# Returns CMD's exit status (124 on a timeout).
run_step() {
  local name=$1 limit=$2
  shift 2
  local left=$(( budget_s - $(elapsed) ))
  if (( left < 15 )); then
    record "$name" SKIP 0 "the ${budget_s}s budget is spent"
    return 125
  fi
  (( limit > left )) && limit=$left
  local log=$out/logs/$name.log t0 rc status
  t0=$(date +%s)
  echo "=== $name (timeout ${limit}s): $*"
  timeout -k 10 "$limit" "$@" > "$log" 2>&1
  rc=$?
  tail -n 20 "$log"
  case $rc in
    0) status=PASS ;;
    124 | 137) status=TIMEOUT ;;
    *) status=FAIL ;;
  esac
  record "$name" "$status" "$(( $(date +%s) - t0 ))" "exit $rc, log logs/$name.log"
  return "$rc"
}

skip() { record "$1" SKIP 0 "$2"; }

# ---- where things are -------------------------------------------------------
site_dirs=$(python3 -c 'import site; print("\n".join(site.getsitepackages() + [site.getusersitepackages()]))' 2>/dev/null || true)
wheel_libs=()
wheel_cudnn=""
while IFS= read -r d; do
  if [ -z "$d" ] || [ ! -d "$d/nvidia" ]; then continue; fi
  for lib in "$d"/nvidia/*/lib; do
    [ -d "$lib" ] && wheel_libs+=("$lib")
  done
  if [ -z "$wheel_cudnn" ] && [ -f "$d/nvidia/cudnn/include/cudnn.h" ]; then
    wheel_cudnn=$d/nvidia/cudnn
  fi
done <<< "$site_dirs"
# The wheels' libraries are found at run time through LD_LIBRARY_PATH
# (cuDNN 9 also dlopens its sub-libraries, libcudnn_cnn.so.9 etc., by name).
if (( ${#wheel_libs[@]} )); then
  LD_LIBRARY_PATH=$(IFS=:; echo "${wheel_libs[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  export LD_LIBRARY_PATH
fi

nvcc_bin=$(command -v nvcc || true)
if [ -z "$nvcc_bin" ] && [ -x /usr/local/cuda/bin/nvcc ]; then nvcc_bin=/usr/local/cuda/bin/nvcc; fi
cuda_home=${CUDA_HOME:-$( [ -n "$nvcc_bin" ] && cd "$(dirname "$nvcc_bin")/.." && pwd )}
sanitizer_bin=$(command -v compute-sanitizer || true)
for candidate in "$cuda_home/bin/compute-sanitizer" "$cuda_home/compute-sanitizer/compute-sanitizer"; do
  if [ -z "$sanitizer_bin" ] && [ -x "$candidate" ]; then sanitizer_bin=$candidate; fi
done
cudnn_root=${CUDNN_ROOT:-}
if [ -z "$cudnn_root" ] && [ ! -f "$cuda_home/include/cudnn.h" ] && [ ! -f /usr/include/cudnn.h ] \
   && [ ! -f /usr/include/x86_64-linux-gnu/cudnn.h ] && [ -n "$wheel_cudnn" ]; then
  cudnn_root=$wheel_cudnn
fi

where_is() {  # locate WHAT PATTERN DIRS...: prints the files found (at most 4)
  local what=$1 pattern=$2
  shift 2
  local found
  found=$(find "$@" -maxdepth 6 -name "$pattern" 2>/dev/null | head -n 4)
  printf '  %-9s %s\n' "$what" "${found:-not found}" | sed '2,$s/^/            /'
}

info() {
  echo "--- nvidia-smi"
  timeout 20 nvidia-smi || echo "nvidia-smi failed or is missing"
  timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
  echo "--- tools"
  if [ -n "$nvcc_bin" ]; then "$nvcc_bin" --version | tail -n 2; else echo "nvcc: not found"; fi
  cmake --version | head -n 1
  echo "ninja $(ninja --version 2>/dev/null || echo 'not found')"
  if [ -n "$sanitizer_bin" ]; then "$sanitizer_bin" --version | head -n 2; else echo "compute-sanitizer: not found"; fi
  python3 -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -n 1
  echo "cores: $jobs; memory: $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB"}')"
  echo "--- libraries (CUDA home: ${cuda_home:-none})"
  local sp=()
  while IFS= read -r d; do [ -n "$d" ] && [ -d "$d/nvidia" ] && sp+=("$d/nvidia"); done <<< "$site_dirs"
  where_is cudnn.h cudnn.h "$cuda_home/include" /usr/include /usr/local/include "${sp[@]}"
  where_is libcudnn 'libcudnn.so*' "$cuda_home/lib64" "$cuda_home/lib" /usr/lib/x86_64-linux-gnu "${sp[@]}"
  where_is libcublas 'libcublas.so*' "$cuda_home/lib64" "$cuda_home/lib" /usr/lib/x86_64-linux-gnu "${sp[@]}"
  where_is hdf5.h hdf5.h /usr/include /usr/local/include
  where_is blas 'libopenblas*.so*' /usr/lib /usr/local/lib
  where_is cblas.h cblas.h /usr/include /usr/local/include
  where_is gtest GTestConfig.cmake /usr/lib /usr/local/lib "${TL_GTEST_ROOT:-/nonexistent}"
  echo "  CUDNN_ROOT passed to CMake: ${cudnn_root:-(none: CMake searches the toolkit and the wheels)}"
  echo "  LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"
}
export -f info where_is
export site_dirs nvcc_bin cuda_home cudnn_root jobs sanitizer_bin
run_step info 60 bash -c info

# ---- GoogleTest (the tests need it; the GPU machine may lack its -dev package)
gtest_prefix=${TL_GTEST_ROOT:-}
if [ -z "$gtest_prefix" ] && ! find /usr/lib /usr/local/lib /usr/share -maxdepth 5 -name GTestConfig.cmake 2>/dev/null | grep -q .; then
  if [ -f /usr/src/googletest/CMakeLists.txt ]; then
    gtest_prefix=$build/_gtest
    run_step gtest 120 bash -c "cmake -S /usr/src/googletest -B '$build/_gtest-build' -G Ninja \
      -DCMAKE_BUILD_TYPE=Release -DBUILD_GMOCK=OFF -DCMAKE_INSTALL_PREFIX='$gtest_prefix' \
      && cmake --build '$build/_gtest-build' -j '$jobs' && cmake --install '$build/_gtest-build'"
  else
    skip gtest "GoogleTest not found and no /usr/src/googletest: set TL_GTEST_ROOT to an install prefix"
  fi
fi

# ---- configure and build ------------------------------------------------------
cmake_args=(-S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTL_CUDA=ON
            -DTL_CUDA_ARCHS=90 -DCMAKE_CUDA_ARCHITECTURES=90)
[ -n "$cudnn_root" ] && cmake_args+=("-DCUDNN_ROOT=$cudnn_root")
[ -n "$nvcc_bin" ] && cmake_args+=("-DCMAKE_CUDA_COMPILER=$nvcc_bin")
[ -n "$gtest_prefix" ] && cmake_args+=("-DGTest_ROOT=$gtest_prefix" "-DCMAKE_PREFIX_PATH=$gtest_prefix")
run_step configure 90 cmake "${cmake_args[@]}"

targets=(tl_gpu_tests train_cifar bench_e2e)
if ninja -C "$build" -t targets all 2>/dev/null | grep -q '^bench_cuda:'; then
  targets+=(bench_cuda)
fi
run_step build 300 cmake --build "$build" -j "$jobs" --target "${targets[@]}" -- -k 0

# ---- the GPU tests --------------------------------------------------------------
gpu_tests=$build/tests/tl_gpu_tests
if [ -x "$gpu_tests" ]; then
  # The JUnit file keeps every test's output, passing ones included (the
  # measured CPU-vs-GPU differences that the model test prints).
  run_step gpu-tests 180 ctest --test-dir "$build" -L gpu --output-on-failure -j 4 --timeout 170 \
    --output-junit "$out/gpu-tests.xml"
  log=$out/logs/gpu-tests.log
  grep -E 'tests passed|tests failed' "$log" | tail -n 1 | sed 's/^/           /' | tee -a "$summary"
  # A skipped GPU test on a GPU machine means the device was not usable.
  skipped=$(grep -c '\*\*\*Skipped' "$log" || true)
  if (( skipped > 0 )); then
    record gpu-skips FAIL 0 "$skipped GPU tests were SKIPPED: no usable GPU? (logs/gpu-tests.log)"
  fi
else
  skip gpu-tests "tl_gpu_tests was not built"
fi

# ---- compute-sanitizer memcheck on small tests --------------------------------------
if [ -x "$gpu_tests" ] && [ -n "$sanitizer_bin" ]; then
  run_step sanitizer 90 "$sanitizer_bin" --tool memcheck --error-exitcode 1 --leak-check no \
    "$gpu_tests" '--gtest_filter=CudaParity.ReluAddRelu:CudaParity.LinearForwardAndAllGradients:CudaParity.Conv2dPartialGradients'
  grep -E 'ERROR SUMMARY|PASSED|FAILED|SKIPPED' "$out/logs/sanitizer.log" | tail -n 4 | sed 's/^/           /' | tee -a "$summary"
else
  skip sanitizer "no tl_gpu_tests or no compute-sanitizer"
fi

# ---- CUDA kernel benchmarks ------------------------------------------------------
bench_bin=$(find "$build" -maxdepth 3 -type f -name bench_cuda -perm -u+x 2>/dev/null | head -n 1)
if [ -n "$bench_bin" ]; then
  run_step bench-cuda 60 "$bench_bin"
  cp "$out/logs/bench-cuda.log" "$out/bench_cuda.txt" 2>/dev/null || true
else
  skip bench-cuda "no bench_cuda target in this tree"
fi

# ---- end to end: the recipe's 224x224 step on the GPU, FP32 and TF32 -------------------
e2e_bin=$build/bench/bench_e2e
if [ -x "$e2e_bin" ]; then
  run_step e2e-fp32 60 "$e2e_bin" --device cuda --precision fp32 --only train224,infer224b64,train32 \
    --warmup 3 --iters 10 --json "$out/e2e_fp32.json"
  run_step e2e-tf32 60 "$e2e_bin" --device cuda --precision tf32 --only train224,infer224b64 \
    --warmup 3 --iters 10 --json "$out/e2e_tf32.json"
  grep -hE '^(train|infer)' "$out/logs/e2e-fp32.log" "$out/logs/e2e-tf32.log" | sed 's/^/           /' | tee -a "$summary"
else
  skip e2e "bench_e2e was not built"
fi

# ---- a short training run ---------------------------------------------------------
train_bin=$build/apps/train_cifar
if [ -x "$train_bin" ]; then
  data_args=(--dataset synthetic)
  if [ -n "${CIFAR_DIR:-}" ]; then
    if [ -d "$CIFAR_DIR/train" ]; then data_args=(--dataset folder --data-dir "$CIFAR_DIR")
    else data_args=(--dataset cifar10 --data-dir "$CIFAR_DIR"); fi
  fi
  run_step train 120 "$train_bin" --device cuda --quick --epochs 1 "${data_args[@]}" \
    --output-dir "$out/train"
  grep -iE 'epoch|images/s|accuracy|loss' "$out/logs/train.log" | tail -n 3 | sed 's/^/           /' | tee -a "$summary"
else
  skip train "train_cifar was not built"
fi

# ---- PyTorch comparison --------------------------------------------------------------
if [ -f "$root/bench/compare_torch.py" ]; then
  # CPU comparison only, kept short here (the GPU comparison is bench_e2e above).
  run_step torch 120 python3 "$root/bench/compare_torch.py" --rounds 1 --policies passive --warmup 1 --iters 3
  tail -n 5 "$out/logs/torch.log" | sed 's/^/           /' >> "$summary"
else
  skip torch "bench/compare_torch.py does not exist yet"
fi

echo "total: $(elapsed)s of a ${budget_s}s budget" | tee -a "$summary"
failures=$(grep -cE '^[a-z-]+ +(FAIL|TIMEOUT)' "$summary" || true)
echo "summary: $summary ($failures failed or timed out)"
(( failures == 0 ))
