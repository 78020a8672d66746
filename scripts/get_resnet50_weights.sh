#!/usr/bin/env bash
# Downloads Keras's ImageNet ResNet50 weights (for users with a network) and
# checks their MD5 against the values Keras itself uses
# (keras/applications/resnet.py, WEIGHTS_HASHES).
#
#   ./scripts/get_resnet50_weights.sh [DEST_DIR] [notop|top]
#
# Default: the no-top file (the backbone the recipe fine-tunes) into
# ./weights-cache/, which is where apps/train_cifar looks by default.
set -euo pipefail

dest=${1:-weights-cache}
kind=${2:-notop}
base="https://storage.googleapis.com/tensorflow/keras-applications/resnet"
case "$kind" in
  notop) file="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"; md5="4d473c1dd8becc155b73f8504c6f6626" ;;
  top)   file="resnet50_weights_tf_dim_ordering_tf_kernels.h5";       md5="2cb95161c43110f7111970584f804107" ;;
  *) echo "get_resnet50_weights: kind must be notop or top, got '$kind'" >&2; exit 2 ;;
esac

mkdir -p "$dest"
target="$dest/$file"
if [ -f "$target" ] && [ "$(md5sum "$target" | cut -d' ' -f1)" = "$md5" ]; then
  echo "get_resnet50_weights: $target already present (md5 ok)"
  exit 0
fi
echo "get_resnet50_weights: downloading $file"
if command -v curl >/dev/null; then
  curl -fL --retry 3 -o "$target.part" "$base/$file"
else
  wget -O "$target.part" "$base/$file"
fi
got=$(md5sum "$target.part" | cut -d' ' -f1)
if [ "$got" != "$md5" ]; then
  rm -f "$target.part"
  echo "get_resnet50_weights: md5 mismatch for $file: got $got, expected $md5" >&2
  exit 1
fi
mv "$target.part" "$target"
echo "get_resnet50_weights: $target (md5 ok)"
