#!/usr/bin/env bash
# The test command: installs what is missing, configures (CUDA targets too
# when nvcc and cuDNN are found), builds, and runs the whole CTest suite.
# GPU tests report SKIPPED on machines without a GPU.
#
#   ./scripts/test.sh            # build in ./build
#   BUILD_DIR=b ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/install_deps.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTL_CUDA="${TL_CUDA:-AUTO}"
cmake --build "$BUILD_DIR" -j "$JOBS"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" "$@"
