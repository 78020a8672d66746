#!/usr/bin/env bash
# bench/gpu_check.sh: the ONE prepared check to run when a GPU machine is
# lent (about 15 minutes a task, one command of at most 10 minutes, 1-2 of
# them to start it), so everything below fits a budget of 450 s.
#
#   here:   scripts/stage_gpu_bundle.sh      (GoogleTest source + real CIFAR-10)
#   there:  bench/gpu_check.sh               (carry: gpu-bundle)
#   here:   bench/gpu_check.sh --rehearse    (the same, pretending to be that machine)
#
# Steps, most valuable first (a failed step never stops the others; each
# has a time cap, cut to what is left of the budget; a step that would start
# with under 15 s left is SKIPped):
#   info        GPU, driver, sandbox, tools, Python/PyTorch, libraries, bundle
#   configure   Release, Ninja, CUDA for sm_90; GoogleTest from the bundle when
#               none is installed; cuDNN from the pip wheel when not in the toolkit
#   build       the GPU tests, train_cifar, bench_e2e, bench_cuda, kernel_lab; all cores
#   linked      ldd: which cuDNN, cuBLAS, CUDA runtime (and HDF5, BLAS) the
#               binaries really load
#   gpu-tests   ctest -L gpu with TL_SYNC_CHECK=1 (a fault is blamed on the
#               launch that caused it) and cuDNN's error log (CUDNN_LOGLEVEL_DBG=1)
#   e2e         bench_e2e on the GPU: the recipe's 224x224 step (batch 64) and
#               inference, FP32, TF32 and BF16 (steps as a CUDA graph), the
#               per-op split of each step, and the BF16 step without the graph
#   torch       bench/compare_torch_gpu.py: PyTorch on the same GPU, channels_last,
#               cudnn.benchmark, FP32 / TF32 / AMP-BF16, interleaved with tl: the
#               tl / PyTorch ratio table (bench/RESULTS.md's headline)
#   bench-cuda  the CUDA kernel microbenchmarks (GB/s against measured copy bandwidth)
#   lab         the kernel lab (lab/): every version of the BN+ReLU and upsampling
#               backward, validated against the CPU, then timed (docs/lab/'s tables);
#               the rehearsal runs it too, to see it find no GPU and exit 77 (SKIP)
#   train       train_cifar at the recipe's settings (224x224, Flatten head,
#               batch 64, SGD) on the bundle's real CIFAR-10, 1 epoch
#   sanitizer   compute-sanitizer memcheck, racecheck, synccheck on the tests of
#               tl's own kernels (not cuDNN's); SKIP when the sandbox (gVisor)
#               refuses the device
#   e2e-batch   if time is left: the BF16 224x224 step at batch 128 and 256
#
# What comes back (at most 8 files may): $OUT/summary.txt (one line a step,
# then the headline numbers), $OUT/results.json (the same, machine-readable,
# with the benchmark and training figures), $OUT/logs.tar.gz (every log,
# the JUnit XML of the tests, the training metrics). The summary is the last
# thing printed.
#
# --rehearse: on a machine WITHOUT a GPU, pretend to be the GPU machine:
# the system's GoogleTest, HDF5, BLAS, JPEG, PNG and Google Benchmark are
# hidden from CMake (CMAKE_DISABLE_FIND_PACKAGE_*), the bundle is used, every
# step that needs no GPU runs for real (and a CPU smoke run of train_cifar
# on the bundle's images, and of the PyTorch comparison at 32x32, stands in
# for the GPU ones), every GPU step says SKIP and why. Its caps are scaled
# for 2 cores (TL_CHECK_SCALE, default 8) and its budget is 3600 s.
#
# Environment: OUT (default ./gpu-check-out), TL_GPU_BUNDLE (./gpu-bundle),
# TL_BUILD_DIR (./build-gpu-check), TL_CHECK_BUDGET_S, TL_CHECK_SCALE,
# CUDNN_ROOT.
set -uo pipefail

rehearse=0
for a in "$@"; do
  case $a in
    --rehearse) rehearse=1 ;;
    -h | --help) sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu_check: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1
out=${OUT:-$root/gpu-check-out}
bundle=${TL_GPU_BUNDLE:-$root/gpu-bundle}
build=${TL_BUILD_DIR:-$root/build-gpu-check}
if (( rehearse )); then
  budget_s=${TL_CHECK_BUDGET_S:-3600}
  scale=${TL_CHECK_SCALE:-8}
else
  budget_s=${TL_CHECK_BUDGET_S:-450}
  scale=${TL_CHECK_SCALE:-1}
fi
jobs=$(nproc 2>/dev/null || echo 4)
start=$(date +%s)
mkdir -p "$out"
logs=$out/logs
rm -rf "$logs" "$out/summary.txt" "$out/results.json" "$out/logs.tar.gz"
mkdir -p "$logs"
summary=$out/summary.txt
steps_tsv=$logs/steps.tsv   # step, status, seconds, note: for results.json
: > "$steps_tsv"
{
  echo "tl GPU check$( (( rehearse )) && echo ' REHEARSAL (no GPU; GPU steps SKIP)'), $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname)"
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
       "$(git -C "$root" status --porcelain 2>/dev/null | grep -q . && echo '(with local changes)')"
} > "$summary"

elapsed() { echo $(( $(date +%s) - start )); }

# record STEP STATUS SECONDS NOTE: one summary line (and one TSV row).
record() {
  printf '%-11s %-7s %4ss  %s\n' "$1" "$2" "$3" "$4" | tee -a "$summary"
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$steps_tsv"
}
note() { sed 's/^/            /' | tee -a "$summary"; }
skip() { record "$1" SKIP 0 "$2"; }

# run_step STEP CAP_S CMD...: CMD under its own timeout (CAP_S x scale, cut
# to what is left of the budget), output to logs/STEP.log (its tail echoed).
# Returns CMD's exit status (124 on a timeout, 125 when not started).
run_step() {
  local name=$1 limit=$(( $2 * scale ))
  shift 2
  local left=$(( budget_s - $(elapsed) ))
  if (( left < 15 )); then
    record "$name" SKIP 0 "the ${budget_s}s budget is spent"
    return 125
  fi
  (( limit > left )) && limit=$left
  local log=$logs/$name.log t0 rc status
  t0=$(date +%s)
  echo "=== $name (cap ${limit}s): $*"
  timeout -k 10 "$limit" "$@" > "$log" 2>&1
  rc=$?
  tail -n 15 "$log"
  case $rc in
    0) status=PASS ;;
    124 | 137) status=TIMEOUT ;;
    *) status=FAIL ;;
  esac
  record "$name" "$status" "$(( $(date +%s) - t0 ))" "exit $rc, logs/$name.log"
  return "$rc"
}

# ---- where things are -------------------------------------------------------
# The Python with PyTorch: python3 on the GPU machine (a venv); on Debian
# machines /usr/bin/python3 (python3-torch) when another python3 comes first.
py=python3
if ! python3 -c 'import torch' 2> /dev/null && [ -x /usr/bin/python3 ] \
   && /usr/bin/python3 -c 'import torch' 2> /dev/null; then
  py=/usr/bin/python3
fi
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

# Is there a usable GPU? nvidia-smi listing one is the test (the GPU tests
# themselves would only SKIP without one, which must not read as a pass).
gpu_reason=""
if (( rehearse )); then
  gpu_reason="rehearsal: no GPU used"
elif ! command -v nvidia-smi > /dev/null; then
  gpu_reason="no nvidia-smi: no GPU driver on this machine"
elif ! timeout 20 nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  gpu_reason="nvidia-smi lists no GPU"
fi
have_gpu() { [ -z "$gpu_reason" ]; }

# The sandbox decides whether compute-sanitizer and ncu work (gVisor: no).
case $(uname -r) in
  4.4.0*) sandbox="gVisor (kernel $(uname -r))" ;;
  *) sandbox="kernel $(uname -r)$( [ -d /sys/firmware ] || echo ', Firecracker-like')" ;;
esac

where_is() {  # WHAT PATTERN DIRS...: prints the files found (at most 4)
  local what=$1 pattern=$2
  shift 2
  local found
  found=$(find "$@" -maxdepth 6 -name "$pattern" 2>/dev/null | head -n 4)
  printf '  %-9s %s\n' "$what" "${found:-not found}" | sed '2,$s/^/            /'
}

info() {
  echo "--- GPU"
  if have_gpu; then
    timeout 20 nvidia-smi
    timeout 20 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  else
    echo "none: $gpu_reason"
  fi
  echo "sandbox: $sandbox"
  echo "--- tools"
  if [ -n "$nvcc_bin" ]; then "$nvcc_bin" --version | tail -n 2; else echo "nvcc: not found"; fi
  cmake --version | head -n 1
  echo "ninja $(ninja --version 2>/dev/null || echo 'not found')"
  if [ -n "$sanitizer_bin" ]; then "$sanitizer_bin" --version | head -n 2; else echo "compute-sanitizer: not found"; fi
  "$py" -c 'import sys, torch; print("python", sys.executable, sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' 2>&1 | tail -n 1
  echo "cores: $jobs; memory: $(free -g 2>/dev/null | awk '/Mem:/ {print $2 " GiB"}')"
  echo "--- libraries (CUDA home: ${cuda_home:-none})"
  local sp=()
  while IFS= read -r d; do [ -n "$d" ] && [ -d "$d/nvidia" ] && sp+=("$d/nvidia"); done <<< "$site_dirs"
  where_is cudnn.h cudnn.h "$cuda_home/include" /usr/include /usr/local/include "${sp[@]}"
  where_is libcudnn 'libcudnn.so*' "$cuda_home/lib64" "$cuda_home/lib" /usr/lib/x86_64-linux-gnu "${sp[@]}"
  where_is libcublas 'libcublas.so*' "$cuda_home/lib64" "$cuda_home/lib" /usr/lib/x86_64-linux-gnu "${sp[@]}"
  where_is hdf5.h hdf5.h /usr/include /usr/local/include
  where_is blas 'libopenblas*.so*' /usr/lib /usr/local/lib
  where_is gtest GTestConfig.cmake /usr/lib /usr/local/lib
  echo "  CUDNN_ROOT passed to CMake: ${cudnn_root:-(none: CMake searches the toolkit and the wheels)}"
  echo "  LD_LIBRARY_PATH: ${LD_LIBRARY_PATH:-}"
  echo "--- bundle ($bundle)"
  cat "$bundle/MANIFEST.txt" 2>/dev/null || echo "no bundle: run scripts/stage_gpu_bundle.sh on a development machine and carry gpu-bundle"
}
export -f info where_is have_gpu
export py site_dirs nvcc_bin cuda_home cudnn_root jobs sanitizer_bin gpu_reason sandbox bundle
run_step info 30 bash -c info
have_gpu || echo "no GPU: $gpu_reason" | note

# ---- configure and build ------------------------------------------------------
cmake_args=(-S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTL_CUDA=ON
            -DTL_CUDA_ARCHS=90 -DCMAKE_CUDA_ARCHITECTURES=90)
[ -n "$cudnn_root" ] && cmake_args+=("-DCUDNN_ROOT=$cudnn_root")
[ -n "$nvcc_bin" ] && cmake_args+=("-DCMAKE_CUDA_COMPILER=$nvcc_bin")
[ -f "$bundle/googletest/CMakeLists.txt" ] && cmake_args+=("-DTL_GTEST_SOURCE_DIR=$bundle/googletest")
if (( rehearse )); then
  # What the GPU machine lacks, hidden here; ccache (absent there) keeps a
  # repeated rehearsal quick on 2 cores.
  for pkg in GTest HDF5 JPEG PNG BLAS DNNL benchmark; do cmake_args+=("-DCMAKE_DISABLE_FIND_PACKAGE_$pkg=ON"); done
  if command -v ccache > /dev/null; then
    cmake_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
fi
run_step configure 60 cmake "${cmake_args[@]}"
grep -E '^-- tl:' "$logs/configure.log" | sed 's/^-- //' | note

targets=(tl_gpu_tests train_cifar bench_e2e bench_cuda kernel_lab)
run_step build 240 cmake --build "$build" -j "$jobs" --target "${targets[@]}" -- -k 0

gpu_tests=$build/tests/tl_gpu_tests
train_bin=$build/apps/train_cifar
e2e_bin=$build/bench/bench_e2e
bench_bin=$build/bench/bench_cuda
lab_bin=$build/lab/kernel_lab

linked() {
  local bin
  for bin in "$gpu_tests" "$train_bin"; do
    [ -x "$bin" ] || { echo "$bin: not built"; return 1; }
    echo "--- ldd $bin"
    ldd "$bin" | grep -E 'cudnn|cublas|cudart|hdf5|openblas|jpeg|png|not found' || true
    if ldd "$bin" | grep -q 'not found'; then echo "a library is missing"; return 1; fi
  done
}
export -f linked
export gpu_tests train_bin
run_step linked 10 bash -c linked
grep -E '=>' "$logs/linked.log" | awk '{print $1 " -> " $3}' | sort -u | note

# ---- the GPU tests --------------------------------------------------------------
if [ ! -x "$gpu_tests" ]; then
  skip gpu-tests "tl_gpu_tests was not built"
elif ! have_gpu; then
  count=$("$gpu_tests" --gtest_list_tests 2>/dev/null | grep -c '^  ' || true)
  skip gpu-tests "$gpu_reason; the binary loads and lists $count tests"
else
  # TL_SYNC_CHECK=1 synchronises after every launch, so an asynchronous fault
  # is reported by the launch that caused it; cuDNN logs its errors.
  run_step gpu-tests 150 env TL_SYNC_CHECK=1 CUDNN_LOGLEVEL_DBG=1 CUDNN_LOGDEST_DBG="$logs/cudnn-errors.log" \
    ctest --test-dir "$build" -L gpu --output-on-failure -j 4 --timeout 140 \
    --output-junit "$logs/gpu-tests.xml"
  grep -E 'tests passed|tests failed' "$logs/gpu-tests.log" | tail -n 1 | note
  grep -E '^\s+[0-9]+ - .*\((Failed|Timeout|Exception)' "$logs/gpu-tests.log" | head -n 12 | note
  skipped=$(grep -c '\*\*\*Skipped' "$logs/gpu-tests.log" || true)
  if (( skipped > 0 )); then
    record gpu-skips FAIL 0 "$skipped GPU tests were SKIPPED on a GPU machine: see logs/gpu-tests.log"
  fi
fi

# ---- end to end: the recipe's 224x224 step on the GPU, FP32, TF32 and BF16, with the
# per-op split of each (bench_e2e --profile) --------------------------------------------
if [ ! -x "$e2e_bin" ]; then
  skip e2e "bench_e2e was not built"
elif ! have_gpu; then
  skip e2e "$gpu_reason"
else
  e2e() {
    local p
    for p in fp32 tf32 bf16; do
      "$e2e_bin" --device cuda --precision "$p" --only train224,infer224b64 \
        --warmup 5 --iters 20 --profile 3 --json "$logs/e2e_$p.json" || return 1
    done
    # What the CUDA graph buys: the BF16 step launched kernel by kernel.
    "$e2e_bin" --device cuda --precision bf16 --only train224 --cuda-graph off \
      --warmup 3 --iters 10 --json "$logs/e2e_bf16_no_graph.json" || return 1
  }
  export -f e2e
  export e2e_bin logs
  run_step e2e 90 bash -c e2e
  grep -hE '^(train|infer)' "$logs/e2e.log" | note
  # The per-op split of each training step (bench_e2e --profile): its top rows.
  grep -hE '^  ' "$logs/e2e.log" | head -n 45 | note
fi

# ---- PyTorch on the same GPU -------------------------------------------------------
if [ ! -x "$e2e_bin" ]; then
  skip torch "bench_e2e was not built"
elif ! "$py" -c 'import torch' 2> /dev/null; then
  skip torch "python3 has no torch"
elif (( rehearse )); then
  # The same script and code path on the CPU at 32x32, FP32: proves it runs.
  run_step torch-cpu 60 env OMP_NUM_THREADS=2 "$py" bench/compare_torch_gpu.py --rehearse \
    --tl-bench "$e2e_bin" --warmup 1 --iters 2 --json "$logs/torch_compare.json"
  grep -E '^\|' "$logs/torch-cpu.log" | note
  skip torch "$gpu_reason"
elif ! have_gpu; then
  skip torch "$gpu_reason"
else
  run_step torch 100 "$py" bench/compare_torch_gpu.py --tl-bench "$e2e_bin" --rounds 1 \
    --warmup 5 --iters 20 --json "$logs/torch_compare.json" --markdown "$logs/torch_compare.md"
  grep -E '^\||^- ' "$logs/torch.log" | note
fi

# ---- CUDA kernel benchmarks ------------------------------------------------------
if [ ! -x "$bench_bin" ]; then
  skip bench-cuda "bench_cuda was not built"
elif ! have_gpu; then
  skip bench-cuda "$gpu_reason"
else
  run_step bench-cuda 60 "$bench_bin"
  grep -iE 'copy bandwidth|GB/s' "$logs/bench-cuda.log" | head -n 6 | note
fi

# ---- the kernel lab: each version validated, then timed by bench_cuda's harness ----------
# Exit 77 means "no usable GPU": a SKIP, not a failure. In the rehearsal the
# binary runs too (its no-GPU path is what the rehearsal can check).
if [ ! -x "$lab_bin" ]; then
  skip lab "kernel_lab was not built"
elif ! have_gpu && (( ! rehearse )); then
  skip lab "$gpu_reason"
else
  run_step lab 45 "$lab_bin" --json "$logs/kernel_lab.json"
  if (( $? == 77 )); then
    sed -i '$d' "$steps_tsv"  # replace the FAIL line by a SKIP with the reason
    sed -i '$d' "$summary"
    skip lab "kernel_lab found no usable GPU (exit 77): $(grep -m 1 -o 'no usable GPU ([^)]*)' "$logs/lab.log")"
  else
    # The final table (one row per version and shape), then the verdict.
    awk '/^kernel  /{table = ""} {table = table $0 "\n"} END {printf "%s", table}' "$logs/lab.log" \
      | grep -E '^(kernel |bn_relu_bwd/|upsample_bwd/|[0-9]+ version)' | note
  fi
fi

# ---- a real training run ---------------------------------------------------------
data=$bundle/cifar10-subset
if [ ! -x "$train_bin" ]; then
  skip train "train_cifar was not built"
elif [ ! -d "$data/train" ]; then
  skip train "no real CIFAR-10 in the bundle ($data): run scripts/get_cifar10.sh, then scripts/stage_gpu_bundle.sh"
else
  # The recipe's settings (README): 224x224, Flatten head, batch 64, SGD.
  # No ImageNet weights travel (they cannot be downloaded on our machines):
  # random initialisation, so the accuracy is that of 1 epoch from scratch.
  train_args=(--dataset folder --data-dir "$data" --image-size 224 --pool flatten --batch-size 64
              --optimizer sgd --weights none --epochs 1 --val-split 0 --output-dir "$logs/train")
  if (( rehearse )); then
    # A CPU stand-in: the same data path and the no-HDF5 training path, at
    # 32x32 on 320 images (224 is hours on 2 cores).
    run_step train-cpu 60 "$train_bin" --device cpu "${train_args[@]}" --image-size 32 --subset 320 --test-subset 100
    grep -iE 'checkpoint|^epoch|^Test' "$logs/train-cpu.log" | tail -n 4 | note
    skip train "$gpu_reason"
  elif ! have_gpu; then
    skip train "$gpu_reason"
  else
    run_step train 90 "$train_bin" --device cuda "${train_args[@]}"
    grep -iE 'checkpoint|^epoch|^Test' "$logs/train.log" | tail -n 4 | note
    grep -E '^CUDA graph:' "$logs/train.log" | note  # replayed steps, or why they ran eagerly
  fi
fi

# ---- compute-sanitizer, last: the tests of tl's own kernels --------------------------
# Not the convolution or whole-model tests: their time goes into cuDNN's
# algorithm search, whose kernels are not ours to fix.
own_kernels='CudaParity.*-CudaParity.Conv2d*'
if [ ! -x "$gpu_tests" ]; then
  skip sanitizer "tl_gpu_tests was not built"
elif ! have_gpu; then
  skip sanitizer "$gpu_reason"
elif [ -z "$sanitizer_bin" ]; then
  skip sanitizer "compute-sanitizer not found"
else
  sanitize() {
    local tool probe
    # gVisor: "Device not supported" at the first CUDA call. Probe once.
    probe=$("$sanitizer_bin" --tool memcheck "$gpu_tests" --gtest_filter='CudaParity.ReluAddRelu' 2>&1)
    if grep -q 'Device not supported' <<< "$probe"; then
      echo "SANDBOX: compute-sanitizer refuses the device here ($sandbox)"
      return 3
    fi
    for tool in memcheck racecheck synccheck; do
      echo "--- $tool"
      "$sanitizer_bin" --tool "$tool" --error-exitcode 1 "$gpu_tests" --gtest_filter="$own_kernels" \
        2>&1 | grep -E 'ERROR SUMMARY|RACECHECK SUMMARY|========= (Invalid|Race|Barrier|Program hit)|PASSED|FAILED' | head -n 20
      [ "${PIPESTATUS[0]}" -eq 0 ] || return 1
    done
  }
  export -f sanitize
  export sanitizer_bin own_kernels sandbox
  run_step sanitizer 90 bash -c sanitize
  rc=$?
  if (( rc == 3 )); then
    sed -i '$d' "$steps_tsv"  # replace the FAIL line by a SKIP with the reason
    sed -i '$d' "$summary"
    skip sanitizer "compute-sanitizer refuses the device under $sandbox"
  fi
  grep -E 'SUMMARY' "$logs/sanitizer.log" | note
fi

# ---- last, if time is left: what larger batches buy (issue 13's next lever) ---------
if [ ! -x "$e2e_bin" ]; then
  skip e2e-batch "bench_e2e was not built"
elif ! have_gpu; then
  skip e2e-batch "$gpu_reason"
else
  e2e_batch() {
    local b
    for b in 128 256; do
      "$e2e_bin" --device cuda --precision bf16 --only train224 --batch "$b" \
        --warmup 3 --iters 5 --json "$logs/e2e_bf16_b$b.json" || return 1
    done
  }
  export -f e2e_batch
  export e2e_bin logs
  run_step e2e-batch 60 bash -c e2e_batch
  grep -hE '^train' "$logs/e2e-batch.log" | note
fi

# ---- what comes back: summary.txt, results.json, logs.tar.gz ----------------------------
python3 - "$logs" "$out/results.json" "$budget_s" "$(elapsed)" "$rehearse" <<'EOF' || echo "results.json: could not be written" | note
import json, os, sys
logs, path, budget, elapsed, rehearse = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
steps = []
with open(os.path.join(logs, "steps.tsv")) as f:
    for line in f:
        name, status, seconds, note = line.rstrip("\n").split("\t")
        steps.append({"step": name, "status": status, "seconds": int(seconds), "note": note})
def load(name):
    try:
        with open(os.path.join(logs, name)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None
train = {}
for run in ("train", "train-cpu"):
    m = load(os.path.join(run if run == "train" else "train", "metrics.json"))
    if m:
        train = m
result = {"rehearsal": rehearse, "budget_s": budget, "elapsed_s": elapsed, "steps": steps,
          "e2e": {p: load(f"e2e_{p}.json")
                  for p in ("fp32", "tf32", "bf16", "bf16_no_graph", "bf16_b128", "bf16_b256")},
          "torch_compare": load("torch_compare.json"), "kernel_lab": load("kernel_lab.json"),
          "train": train}
with open(path, "w") as f:
    json.dump(result, f, indent=1)
EOF
# Logs over 4 MiB are cut to their last 4 MiB, so the archive stays far
# below the 16 MiB a returned file may have.
find "$logs" -type f -size +4M -exec sh -c 'tail -c 4M "$1" > "$1.tail" && mv "$1.tail" "$1"' _ {} \;
tar -czf "$out/logs.tar.gz" -C "$out" logs && rm -rf "$logs"

failures=$(grep -cE '^[a-z0-9-]+ +(FAIL|TIMEOUT)' "$summary" || true)
echo "total: $(elapsed)s of a ${budget_s}s budget; $failures step(s) failed or timed out" >> "$summary"
echo "files: $(cd "$out" && ls | tr '\n' ' ')" >> "$summary"
echo
echo "=================== summary ($summary) ==================="
cat "$summary"
(( failures == 0 ))
