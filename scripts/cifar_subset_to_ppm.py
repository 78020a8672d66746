#!/usr/bin/env python3
"""Writes a class-balanced subset of CIFAR-10 (the official binary release)
as an image folder of binary PPM files, which tl reads without libjpeg or
libpng (data/pnm.h):

  OUT/train/<class>/<NNNNN>.ppm   the first --train-per-class images of each
                                  class, in the order of data_batch_1..5.bin
  OUT/test/<class>/<NNNNN>.ppm    the first --test-per-class of test_batch.bin

NNNNN is the image's index in the official order, so the subset is the
same on every run and traceable to its source. Pure Python (no numpy,
no Pillow): it runs with any python3.

  python3 scripts/cifar_subset_to_ppm.py CIFAR_DIR OUT [--train-per-class 600]
          [--test-per-class 200]

CIFAR_DIR holds data_batch_1..5.bin and test_batch.bin (or their folder
cifar-10-batches-bin/), e.g. what scripts/get_cifar10.sh downloads.
"""
import argparse
import os
import sys

RECORD = 1 + 32 * 32 * 3  # label byte + planar R, G, B planes
PLANE = 32 * 32
DEFAULT_NAMES = ["airplane", "automobile", "bird", "cat", "deer",
                 "dog", "frog", "horse", "ship", "truck"]


def batch_folder(path):
    nested = os.path.join(path, "cifar-10-batches-bin")
    return nested if os.path.isfile(os.path.join(nested, "test_batch.bin")) else path


def class_names(folder):
    meta = os.path.join(folder, "batches.meta.txt")
    if not os.path.isfile(meta):
        return DEFAULT_NAMES
    with open(meta) as f:
        names = [line.strip() for line in f if line.strip()]
    if len(names) != 10:
        sys.exit(f"cifar_subset_to_ppm: {meta} names {len(names)} classes, expected 10")
    return names


def records(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) % RECORD:
        sys.exit(f"cifar_subset_to_ppm: {path}: {len(data)} bytes is not a whole number of "
                 f"{RECORD}-byte records (truncated download?)")
    for i in range(len(data) // RECORD):
        yield data[i * RECORD:(i + 1) * RECORD]


def write_ppm(path, record):
    r, g, b = record[1:1 + PLANE], record[1 + PLANE:1 + 2 * PLANE], record[1 + 2 * PLANE:]
    pixels = bytearray(3 * PLANE)
    pixels[0::3], pixels[1::3], pixels[2::3] = r, g, b  # planar -> interleaved RGB
    with open(path, "wb") as f:
        f.write(b"P6\n32 32\n255\n" + bytes(pixels))


def write_split(files, out, names, per_class):
    counts = [0] * 10
    index = 0
    for path in files:
        if not os.path.isfile(path):
            sys.exit(f"cifar_subset_to_ppm: {path} is missing (get CIFAR-10 with scripts/get_cifar10.sh)")
        for rec in records(path):
            label = rec[0]
            if label > 9:
                sys.exit(f"cifar_subset_to_ppm: {path}: record {index} has label {label} (expected 0..9)")
            if counts[label] < per_class:
                folder = os.path.join(out, names[label])
                os.makedirs(folder, exist_ok=True)
                write_ppm(os.path.join(folder, f"{index:05d}.ppm"), rec)
                counts[label] += 1
            index += 1
            if min(counts) >= per_class:
                return counts
    if min(counts) < per_class:
        sys.exit(f"cifar_subset_to_ppm: only {min(counts)} images of some class in {files}, "
                 f"asked for {per_class} per class")
    return counts


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cifar_dir")
    ap.add_argument("out")
    ap.add_argument("--train-per-class", type=int, default=600)
    ap.add_argument("--test-per-class", type=int, default=200)
    a = ap.parse_args()
    folder = batch_folder(a.cifar_dir)
    names = class_names(folder)
    train = [os.path.join(folder, f"data_batch_{i}.bin") for i in range(1, 6)]
    test = [os.path.join(folder, "test_batch.bin")]
    n_train = sum(write_split(train, os.path.join(a.out, "train"), names, a.train_per_class))
    n_test = sum(write_split(test, os.path.join(a.out, "test"), names, a.test_per_class))
    print(f"cifar_subset_to_ppm: wrote {n_train} training and {n_test} test images "
          f"({a.train_per_class} and {a.test_per_class} per class) to {a.out}")


if __name__ == "__main__":
    main()
