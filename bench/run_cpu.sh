#!/usr/bin/env bash
# bench/run_cpu.sh: the CPU benchmarks in one command, side by side with PyTorch.
#
#   ./bench/run_cpu.sh            # about 4 minutes on an idle 2-core CPU (once built)
#   ./bench/run_cpu.sh --quick    # shorter runs, noisier numbers (about 1 minute)
#
# 1. installs what is missing (scripts/install_deps.sh), configures a Release
#    build with the benchmarks in $TL_BUILD_DIR (default build/) if needed,
#    and builds bench_conv, bench_kernels and bench_e2e;
# 2. runs bench_conv's acceptance subset (the 3x3 64->64 conv at 56x56,
#    batch 32, forward and backward, and the SGEMMs) and bench_kernels, each
#    with --benchmark_out JSON into bench/out/;
# 3. runs bench/compare_torch.py (tl's bench_e2e and the same model and steps
#    in PyTorch, interleaved, 2 threads each);
# 4. prints the headline numbers, also written to bench/out/summary.md (and
#    every microbenchmark as a table to bench/out/kernels.md).
#
# Environment, only where unset:
#   OPENBLAS_CORETYPE=SkylakeX on CPUs with AVX-512, as apps/train_cifar does
#     (Debian's OpenBLAS picks its SSE3 kernels on recent Xeons, 4x slower);
#     PyTorch runs under the same.
#   OMP_NUM_THREADS=2: tl's pool (runtime/thread_pool.h) and PyTorch both
#     take their thread count from it. OpenMP's wait policy reaches PyTorch
#     only (tl's pool waits its own way); compare_torch.py measures PyTorch
#     under both libgomp's default and passive, tl beside each.
# TL_BENCH_OUT changes the output directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${TL_BUILD_DIR:-$root/build}
out=${TL_BENCH_OUT:-$root/bench/out}

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_cpu.sh: unknown argument '$arg' (try --help)" >&2; exit 1 ;;
  esac
done

"$root/scripts/install_deps.sh" >&2

# --- build (Release, with the benchmarks) ---
cache="$build/CMakeCache.txt"
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTL_BUILD_BENCH=ON >&2
else
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$cache")
  case "$type" in
    Release|RelWithDebInfo) ;;
    *) echo "run_cpu.sh: $build is a '${type:-no type}' build; timings need an optimised one." \
            "Point TL_BUILD_DIR at another directory (it is configured as Release) or reconfigure" \
            "this one with -DCMAKE_BUILD_TYPE=Release." >&2
       exit 1 ;;
  esac
  if [ "$(sed -n 's/^TL_BUILD_BENCH:BOOL=//p' "$cache")" != "ON" ]; then
    cmake -S "$root" -B "$build" -DTL_BUILD_BENCH=ON >&2
  fi
fi
cmake --build "$build" --target bench_conv bench_kernels bench_e2e >&2

# --- environment ---
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  export OPENBLAS_CORETYPE=SkylakeX
fi
threads=${OMP_NUM_THREADS:-2}
export OMP_NUM_THREADS=$threads

mkdir -p "$out"
cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
echo "== $(date -u '+%Y-%m-%d %H:%M UTC') on ${cpu:-unknown CPU}, $(nproc) cores; $threads threads;" \
     "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== load average before: $load_before"

if [ $quick -eq 1 ]; then
  gb_time=(--benchmark_min_time=0.1); compare=(--rounds 1 --warmup 1 --iters 3)
else
  gb_time=(); compare=(--rounds 3 --warmup 2 --iters 5)
fi

echo "== bench_conv (acceptance subset)"
"$build/bench/bench_conv" "${gb_time[@]}" \
  --benchmark_filter='^conv_(fwd|bwd)/r50_3x3_64to64_56_b32/|^sgemm/' \
  --benchmark_out="$out/bench_conv.json" --benchmark_out_format=json
echo "== bench_kernels"
"$build/bench/bench_kernels" "${gb_time[@]}" \
  --benchmark_out="$out/bench_kernels.json" --benchmark_out_format=json
echo "== compare_torch"
/usr/bin/python3 "$root/bench/compare_torch.py" --tl-bench "$build/bench/bench_e2e" \
  --out-dir "$out" --threads "$threads" "${compare[@]}"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
echo "== load average after: $load_after"

# --- headline ---
/usr/bin/python3 - "$out" "$load_before" "$load_after" <<'EOF'
import json, os, sys
out, before, after = sys.argv[1:4]
def gb(name):
    with open(os.path.join(out, name)) as f:
        return {b["name"]: b for b in json.load(f)["benchmarks"]}
conv, kern = gb("bench_conv.json"), gb("bench_kernels.json")
with open(os.path.join(out, "compare_torch.json")) as f:
    cmp = json.load(f)
def rate(table, name, counter):
    for key, b in table.items():
        if key.split("/min_time")[0].split("/real_time")[0] == name:
            return b.get(counter, float("nan"))
    return float("nan")
m = cmp["meta"]
lines = [f"# CPU benchmark summary ({m['date']})", "",
         f"{m['cpu']}, {m['cores']} cores, {m['threads']} threads; tl GEMM: {m['tl_gemm_backend']}; "
         f"PyTorch {m['torch']}; "
         f"load average before {before}, after {after}", "",
         "| kernel | rate |", "|---|---:|"]
for label, table, name, counter, unit in [
        ("conv 3x3 64->64, 56x56, batch 32, forward", conv, "conv_fwd/r50_3x3_64to64_56_b32", "GFLOP", "GFLOP/s"),
        ("conv 3x3 64->64, 56x56, batch 32, backward", conv, "conv_bwd/r50_3x3_64to64_56_b32", "GFLOP", "GFLOP/s"),
        ("SGEMM 2048^3", conv, "sgemm/2048x2048x2048_NN", "GFLOP", "GFLOP/s"),
        ("BN+ReLU forward (train), 56x56x256, batch 32", kern, "bn_fwd_train_relu/56x56x256_b32", "GB", "GB/s"),
        ("BN+ReLU backward (train), 56x56x256, batch 32", kern, "bn_bwd_train_relu/56x56x256_b32", "GB", "GB/s"),
        ("ReLU forward, 56x56x256, batch 32", kern, "relu_fwd/56x56x256_b32", "GB", "GB/s"),
        ("Adam update, 25M parameters", kern, "adam_update/25M", "GB", "GB/s")]:
    lines.append(f"| {label} | {rate(table, name, counter) * 1.0:.1f} {unit} |")
lines += ["", "| end to end | PyTorch's OpenMP waiting | tl images/s | PyTorch images/s | tl / PyTorch |",
          "|---|---|---:|---:|---:|"]
for r in cmp["results"]:
    lines.append(f"| {r['description']} | {r['policy']} | {r['tl_images_per_second']:.2f} | "
                 f"{r['torch_images_per_second']:.2f} | {r['ratio_tl_over_torch']:.2f} |")
text = "\n".join(lines) + "\n"
with open(os.path.join(out, "summary.md"), "w") as f:
    f.write(text)
# Every microbenchmark as a markdown table (bench/RESULTS.md quotes it).
# "main thread busy": its CPU time / wall time. Near 1 when the main thread
# computed throughout; well below 1 when it waited, for the other thread or
# for a core another process held (a loaded machine: read that row with care).
rows = ["| benchmark | time | GB/s | GFLOP/s | main thread busy |", "|---|---:|---:|---:|---:|"]
for table in (conv, kern):
    for key, b in table.items():
        name = key.split("/min_time")[0].replace("/real_time", "")
        cell = lambda c: f"{b[c]:.1f}" if c in b else ""
        rows.append(f"| {name} | {b['real_time']:.3g} {b['time_unit']} | {cell('GB')} | {cell('GFLOP')} | "
                    f"{b['cpu_time'] / b['real_time']:.2f} |")
with open(os.path.join(out, "kernels.md"), "w") as f:
    f.write("\n".join(rows) + "\n")
print("\n" + text)
print(f"Results in {out}/: bench_conv.json, bench_kernels.json, kernels.md, compare_torch.json/.md, summary.md")
EOF
