#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, docs/fuzzing.md) with clang, ASan and
# UBSan in ./build-fuzz, then either fuzzes each target for a fixed time or
# replays the committed corpus once (a regression test, what CI runs).
#
#   ./scripts/fuzz.sh                     # every target, 60 s each, one at a time
#   ./scripts/fuzz.sh --seconds 600 image options
#   ./scripts/fuzz.sh --replay            # each corpus file once (CI)
#   ./scripts/fuzz.sh --replay --findings # also fuzz/findings/ (known, unfixed)
#   ./scripts/fuzz.sh --lenient ...       # tolerate non-tl::Error exceptions
#                                         # (TL_FUZZ_LENIENT=1), to look past a
#                                         # known finding; crashes stay fatal
#   ./scripts/fuzz.sh --keep-going ...    # fork mode: a crash is saved and the
#                                         # run goes on (-fork=1 -ignore_crashes=1)
#   ./scripts/fuzz.sh --no-build ...      # run the targets already built
# Targets: cifar10 image run_config history options keras_json stored_zip (default: all).
#
# Fuzzing runs on build-fuzz/corpus/<target> (kept between runs, so time
# adds up) seeded from fuzz/corpus/<target> (never written). Findings
# (crash-*, leak-*, timeout-*, oom-*) go to build-fuzz/findings/<target>/;
# the script then exits 1 naming the target and the file.
# Exit 77: no clang with libFuzzer on this machine (nothing was run).
#
# Environment: BUILD_DIR (build-fuzz), JOBS (2), CC/CXX (clang/clang++).
set -euo pipefail
cd "$(dirname "$0")/.."

ALL_TARGETS=(cifar10 image run_config history options keras_json stored_zip)
declare -A MAX_LEN=([cifar10]=6500 [image]=8192 [run_config]=4096 [history]=4096 [options]=1024
                   [keras_json]=8192 [stored_zip]=8192)

seconds=60 replay=0 findings=0 lenient=0 keep_going=0 build=1 targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --replay) replay=1; shift ;;
    --findings) findings=1; shift ;;
    --lenient) lenient=1; shift ;;
    --keep-going) keep_going=1; shift ;;
    --no-build) build=0; shift ;;
    -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *)
      if [[ ! " ${ALL_TARGETS[*]} " == *" $1 "* ]]; then
        echo "fuzz.sh: unknown target '$1'; the targets are: ${ALL_TARGETS[*]}" >&2; exit 2
      fi
      targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${ALL_TARGETS[@]}")
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "fuzz.sh: --seconds wants a positive whole number, got '$seconds'" >&2; exit 2
fi

BUILD_DIR=${BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-2}
export CC=${CC:-clang} CXX=${CXX:-clang++}

# libFuzzer comes with clang (Debian: clang + libclang-rt-dev / libfuzzer-dev).
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' > "$probe/p.cpp"
if ! command -v "$CXX" >/dev/null 2>&1 ||
   ! "$CXX" -fsanitize=fuzzer,address,undefined "$probe/p.cpp" -o "$probe/p" >/dev/null 2>&1; then
  echo "fuzz.sh: skipped: $CXX with libFuzzer (-fsanitize=fuzzer) not found; install clang (apt-get install clang)"
  exit 77
fi

if [ "$build" = 1 ]; then
  generator=()
  command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
  launcher=()
  command -v ccache >/dev/null 2>&1 && launcher=(-DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    # -O1 with line tables: quick to build, readable stacks. One thread per
    # input (TL_NUM_THREADS=1 below), reproducible. Only the libraries the
    # targets need.
    cmake -S . -B "$BUILD_DIR" "${generator[@]}" "${launcher[@]}" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
      -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
      -DTL_FUZZ=ON -DTL_CUDA=OFF -DTL_BUILD_TESTS=OFF -DTL_BUILD_BENCH=OFF \
      -DCMAKE_DISABLE_FIND_PACKAGE_OpenMP=ON >/dev/null
  fi
  build_targets=()
  for t in "${targets[@]}"; do build_targets+=("fuzz_$t"); done
  echo "== fuzz.sh: building ${build_targets[*]} in $BUILD_DIR (-j $JOBS) =="
  cmake --build "$BUILD_DIR" -j "$JOBS" --target "${build_targets[@]}"
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TL_NUM_THREADS=1 OMP_NUM_THREADS=1
[ "$lenient" = 1 ] && export TL_FUZZ_LENIENT=1
common=(-rss_limit_mb=2048 -timeout=10 -print_funcs=0)
failed=()

artifacts() { find "$1" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | sort; }

if [ "$replay" = 1 ]; then
  for t in "${targets[@]}"; do
    mapfile -t files < <(find "fuzz/corpus/$t" -type f | sort)
    [ ${#files[@]} -gt 0 ] || { echo "fuzz.sh: no corpus files in fuzz/corpus/$t" >&2; failed+=("fuzz_$t: empty corpus"); continue; }
    log="$BUILD_DIR/replay-$t.log"
    start=$SECONDS
    # Given files (not folders), libFuzzer runs each one once, in order.
    if "$BUILD_DIR/fuzz/fuzz_$t" "${common[@]}" "${files[@]}" >"$log" 2>&1; then
      echo "fuzz_$t: ${#files[@]} corpus files replayed clean ($((SECONDS - start)) s)"
    else
      culprit=$(grep -o 'Running: .*' "$log" | tail -1 | cut -d' ' -f2-)
      tail -n 40 "$log"
      echo "FINDING: fuzz_$t fails on ${culprit:-?} (log: $log)"
      failed+=("fuzz_$t: ${culprit:-?}")
    fi
    # The known, unfixed findings: one process each, so that every one is named.
    if [ "$findings" = 1 ] && [ -d "fuzz/findings/$t" ]; then
      mapfile -t known < <(find "fuzz/findings/$t" -type f | sort)
      for f in "${known[@]}"; do
        if "$BUILD_DIR/fuzz/fuzz_$t" "${common[@]}" "$f" >"$log.finding" 2>&1; then
          echo "fuzz_$t: $f now passes: move it to fuzz/corpus/$t/"
        else
          why=$(grep -m1 -E 'PROPERTY VIOLATED|runtime error|ERROR: AddressSanitizer|ERROR: LeakSanitizer|ERROR: libFuzzer' "$log.finding" |
                sed 's/^==[0-9]*== *//' | cut -c1-200)
          echo "FINDING: fuzz_$t fails on $f: $why"
          failed+=("fuzz_$t: $f")
        fi
      done
    fi
  done
else
  for t in "${targets[@]}"; do
    work="$BUILD_DIR/corpus/$t" out="$BUILD_DIR/findings/$t"
    mkdir -p "$work" "$out"
    dict=()
    [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
    mode=()
    [ "$keep_going" = 1 ] && mode=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
    log="$BUILD_DIR/fuzz-$t.log"
    echo "== fuzz_$t: $seconds s (max_len ${MAX_LEN[$t]}), log $log =="
    artifacts "$out" >"$log.before"
    rc=0 start=$SECONDS
    # New inputs go to the first folder only: the committed seeds stay as they are.
    "$BUILD_DIR/fuzz/fuzz_$t" "${common[@]}" "${mode[@]}" -max_len="${MAX_LEN[$t]}" -max_total_time="$seconds" \
      -print_final_stats=1 -artifact_prefix="$out/" "${dict[@]}" "$work" "fuzz/corpus/$t" >"$log" 2>&1 || rc=$?
    # Executions: the final stats (one process) or the last fork-mode status line.
    runs=$( (grep -E '^stat::number_of_executed_units' "$log" || true) | awk '{s += $2} END {print s + 0}')
    [ "$runs" != 0 ] || runs=$( (grep -oE '^#[0-9]+' "$log" || true) | tail -1 | tr -d '#')
    echo "fuzz_$t: ${runs:-?} executions in $((SECONDS - start)) s; corpus $(find "$work" -type f | wc -l) inputs"
    mapfile -t found < <(artifacts "$out" | comm -13 "$log.before" -)
    if [ "$rc" != 0 ] || [ ${#found[@]} -gt 0 ]; then
      [ "$keep_going" = 1 ] || tail -n 40 "$log"
      [ ${#found[@]} -gt 0 ] || found=("exit status $rc")
      for f in "${found[@]}"; do
        echo "FINDING: fuzz_$t: $f (log: $log)"
        failed+=("fuzz_$t: $f")
      done
    fi
  done
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: ${#failed[@]} target(s) with findings:"
  printf '  %s\n' "${failed[@]}"
  exit 1
fi
echo "fuzz.sh: no findings (${targets[*]})"
