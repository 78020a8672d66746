#!/usr/bin/env bash
# Installs everything tl needs from Debian's packages: the compiler and build
# tools, the optional libraries (OpenBLAS, oneDNN, HDF5, libjpeg, libpng), the test
# and benchmark frameworks, and Debian's PyTorch / NumPy / h5py, which the
# reference tests use as the outside judge (run with /usr/bin/python3).
#
# Idempotent and quick when everything is present: it only calls apt-get for
# packages that are missing. The CUDA toolkit and cuDNN are not Debian
# packages we can rely on; when nvcc and cuDNN are present the build uses
# them (TL_CUDA=AUTO), otherwise it builds the CPU backend alone.
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-dev libdnnl-dev libhdf5-dev hdf5-tools libjpeg-dev libpng-dev
  python3 python3-numpy python3-torch python3-h5py python3-pil
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install_deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install_deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install_deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install_deps: done"
