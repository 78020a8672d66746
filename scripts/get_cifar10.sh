#!/usr/bin/env bash
# Downloads the CIFAR-10 binary release (Krizhevsky, 2009), checks its md5
# and extracts it:   scripts/get_cifar10.sh [DIR]     (default: the repo's data/)
#
# Result: DIR/cifar-10-batches-bin/{data_batch_1..5.bin,test_batch.bin,
# batches.meta.txt,readme.html} (git ignores data/cifar-10-batches-bin/);
# pass DIR, or that folder, to the apps. The archive is 170,052,171 bytes, its
# md5 is the one on the official page (https://www.cs.toronto.edu/~kriz/cifar.html);
# it is deleted once extracted. Running the script again does nothing when the
# data is already complete.
set -euo pipefail

URL="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5="c32a1d4ab5d03f1284b67883e8d87530"
FILE_BYTES=30730000   # each batch file: 10,000 records of 3073 bytes

dir="${1:-$(cd "$(dirname "$0")/.." && pwd)/data}"
out="$dir/cifar-10-batches-bin"
archive="$dir/cifar-10-binary.tar.gz.part"

complete() {
  local f
  for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin \
           data_batch_5.bin test_batch.bin; do
    [ -f "$out/$f" ] || return 1
    [ "$(wc -c < "$out/$f" | tr -d ' ')" -eq "$FILE_BYTES" ] || return 1
  done
}

md5_of() {   # GNU coreutils' md5sum, or macOS's md5
  if command -v md5sum >/dev/null; then md5sum "$1" | cut -d' ' -f1; else md5 -q "$1"; fi
}

if complete; then
  echo "get_cifar10: $out is already complete"
  exit 0
fi

mkdir -p "$dir"
echo "get_cifar10: downloading $URL (170 MB) into $dir"
# The archive keeps a .part name until its md5 matches, so an interrupted
# download never passes for a good one.
if command -v curl >/dev/null; then
  curl -fL --retry 3 -o "$archive" "$URL"
elif command -v wget >/dev/null; then
  wget -O "$archive" "$URL"
else
  echo "get_cifar10: need curl or wget to download $URL" >&2
  exit 1
fi
got="$(md5_of "$archive")"
if [ "$got" != "$MD5" ]; then
  echo "get_cifar10: md5 mismatch for $URL: expected $MD5, got $got;" \
       "the download is corrupt, run the script again" >&2
  rm -f "$archive"
  exit 1
fi

echo "get_cifar10: md5 ok, extracting"
tar -xzf "$archive" -C "$dir"
rm -f "$archive"
if ! complete; then
  echo "get_cifar10: $out is incomplete after extracting the archive" >&2
  exit 1
fi
echo "get_cifar10: done: $out (50,000 train + 10,000 test images)"
