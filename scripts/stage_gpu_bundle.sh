#!/usr/bin/env bash
# Stages what bench/gpu_check.sh needs on the GPU machine, which has no
# network and none of Debian's -dev packages, into ONE git-ignored folder
# that travels there beside the working tree (README: "Checking on a GPU
# machine"):
#
#   gpu-bundle/googletest/       GoogleTest's source (from Debian's googletest
#                                package, /usr/src/googletest), built there
#                                by CMake (tests/CMakeLists.txt, TL_GTEST_SOURCE_DIR)
#   gpu-bundle/cifar10-subset/   real CIFAR-10 for the training run:
#                                train/<class>/*.ppm and test/<class>/*.ppm,
#                                class-balanced, from the official binary
#                                release (scripts/cifar_subset_to_ppm.py); PPM
#                                because tl reads it with no image library
#   gpu-bundle/MANIFEST.txt      what is here, where it came from, sizes
#
# Not staged, on purpose: HDF5, OpenBLAS, libjpeg and libpng as unpacked
# .debs. Debian's binaries are built against this machine's glibc and may
# not load on the GPU machine's image; tl builds without each of them
# (train_cifar then trains with checkpoints off and says so; the CPU
# reference uses its own GEMM), which is what the GPU check needs.
#
#   scripts/stage_gpu_bundle.sh [--cifar DIR] [--train-per-class N]
#                               [--test-per-class N] [--out DIR]
#
# --cifar: the CIFAR-10 binary folder (default: data/, as
# scripts/get_cifar10.sh leaves it). Without CIFAR-10 the bundle holds
# GoogleTest only and the GPU check's training step says it was skipped.
# Checks that the working tree plus the bundle fit the 64 MiB that may
# travel. Running it again rebuilds the bundle.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

out=$root/gpu-bundle
cifar=$root/data
train_per_class=600
test_per_class=200
while [ $# -gt 0 ]; do
  case $1 in
    --cifar) cifar=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --train-per-class) train_per_class=$2; shift 2 ;;
    --test-per-class) test_per_class=$2; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "stage_gpu_bundle: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
limit_mib=64

python=python3
command -v "$python" > /dev/null || { echo "stage_gpu_bundle: python3 is needed" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out"
manifest=$out/MANIFEST.txt
echo "tl GPU bundle, staged $(date -u '+%Y-%m-%d %H:%M UTC') from commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" > "$manifest"

# ---- GoogleTest source -------------------------------------------------------
gtest_src=${TL_GTEST_SOURCE:-/usr/src/googletest/googletest}
if [ ! -f "$gtest_src/CMakeLists.txt" ]; then
  echo "stage_gpu_bundle: no GoogleTest source at $gtest_src. Install it with" \
       "'apt-get install googletest' (scripts/install_deps.sh does), or set TL_GTEST_SOURCE." >&2
  exit 1
fi
mkdir -p "$out/googletest"
# The library and its CMake files only: no docs, samples or its own tests.
cp -r "$gtest_src/CMakeLists.txt" "$gtest_src/cmake" "$gtest_src/include" "$gtest_src/src" "$out/googletest/"
gtest_version=$(dpkg-query -W -f='${Version}' googletest 2>/dev/null || echo unknown)
echo "googletest/: GoogleTest $gtest_version source from $gtest_src ($(du -sh "$out/googletest" | cut -f1))" >> "$manifest"

# ---- a real CIFAR-10 subset -------------------------------------------------------
folder=$cifar
[ -d "$cifar/cifar-10-batches-bin" ] && folder=$cifar/cifar-10-batches-bin
if [ -f "$folder/test_batch.bin" ] && [ -f "$folder/data_batch_5.bin" ]; then
  "$python" scripts/cifar_subset_to_ppm.py "$folder" "$out/cifar10-subset" \
    --train-per-class "$train_per_class" --test-per-class "$test_per_class"
  md5=$(md5sum "$folder/test_batch.bin" | cut -d' ' -f1)
  echo "cifar10-subset/: CIFAR-10 (Krizhevsky 2009), $((10 * train_per_class)) train + $((10 * test_per_class)) test images as PPM," \
       "the first $train_per_class / $test_per_class of each class in the official order, from $folder" \
       "(md5 of its test_batch.bin: $md5) ($(du -sh "$out/cifar10-subset" | cut -f1))" >> "$manifest"
else
  echo "stage_gpu_bundle: no CIFAR-10 binary files in $cifar: the GPU check's training step will be" \
       "skipped. Get them with scripts/get_cifar10.sh, or pass --cifar DIR." >&2
  echo "cifar10-subset/: not staged (no CIFAR-10 found in $cifar)" >> "$manifest"
fi

# ---- does it fit? ---------------------------------------------------------------------
# What travels: tracked files and untracked files git does not ignore, plus
# the carried bundle.
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null \
             | awk '{s += $1} END {print s + 0}')
bundle_bytes=$(du -sb "$out" | cut -f1)
total_mib=$(( (tree_bytes + bundle_bytes + (1 << 20) - 1) >> 20 ))
echo "size: working tree $((tree_bytes >> 10)) KiB + bundle $((bundle_bytes >> 10)) KiB = ${total_mib} MiB of the ${limit_mib} MiB that may travel" | tee -a "$manifest"
if (( total_mib > limit_mib )); then
  echo "stage_gpu_bundle: too large to travel; stage fewer images (--train-per-class)" >&2
  exit 1
fi
echo "staged $out; on the GPU machine run: bench/gpu_check.sh   (carry: gpu-bundle)"
