#!/usr/bin/env python3
"""Writes the small real CIFAR-10 sample that ships with tl (datasets/cifar10-sample/).

From the official binary release (cifar-10-batches-bin/: data_batch_1..5.bin,
test_batch.bin; 3,073-byte records: a label byte, then the 32x32 R, G and B
planes), it keeps the first N records of each class, in the official order:

    train.bin   --train-per-class records of each class from data_batch_1..5.bin (default 200)
    test.bin    --test-per-class records of each class from test_batch.bin (default 100)

Nothing is decoded or re-encoded: the kept records are copied byte for byte, in
the order they appear in the official files, so the sample is a pure function
of the input files and of the two counts. It also writes batches.meta.txt (the
class names) and SHA256SUMS.

    python3 scripts/make_cifar_sample.py --from data/cifar-10-batches-bin --out datasets/cifar10-sample

Plain Python 3, no packages.
"""
import argparse
import hashlib
import pathlib
import sys

RECORD = 3073
CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck"]


def records(path):
    data = path.read_bytes()
    if len(data) % RECORD:
        sys.exit(f"{path}: {len(data)} bytes is not a whole number of {RECORD}-byte records")
    for i in range(0, len(data), RECORD):
        yield data[i:i + RECORD]


def first_per_class(files, per_class):
    kept, counts = [], [0] * len(CLASSES)
    for path in files:
        for rec in records(path):
            label = rec[0]
            if label >= len(CLASSES):
                sys.exit(f"{path}: label {label} out of range")
            if counts[label] < per_class:
                counts[label] += 1
                kept.append(rec)
        if all(c == per_class for c in counts):
            break
    if any(c < per_class for c in counts):
        sys.exit(f"only {counts} records per class in {[str(f) for f in files]}, wanted {per_class}")
    return kept


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", required=True,
                        help="the folder holding data_batch_1..5.bin and test_batch.bin")
    parser.add_argument("--out", required=True, help="the folder to write (created)")
    parser.add_argument("--train-per-class", type=int, default=200)
    parser.add_argument("--test-per-class", type=int, default=100)
    args = parser.parse_args()

    source, out = pathlib.Path(args.source), pathlib.Path(args.out)
    train_files = [source / f"data_batch_{i}.bin" for i in range(1, 6)]
    test_files = [source / "test_batch.bin"]
    for f in train_files + test_files:
        if not f.is_file():
            sys.exit(f"{f} is missing: --from must name the official cifar-10-batches-bin folder "
                     f"(scripts/get_cifar10.sh downloads it)")

    out.mkdir(parents=True, exist_ok=True)
    written = {
        "train.bin": b"".join(first_per_class(train_files, args.train_per_class)),
        "test.bin": b"".join(first_per_class(test_files, args.test_per_class)),
        "batches.meta.txt": ("\n".join(CLASSES) + "\n").encode(),
    }
    sums = []
    for name, data in written.items():
        (out / name).write_bytes(data)
        sums.append(f"{hashlib.sha256(data).hexdigest()}  {name}")
    inputs = [f"{hashlib.sha256(f.read_bytes()).hexdigest()}  {f.name}" for f in test_files]
    (out / "SHA256SUMS").write_text("\n".join(sums) + "\n")
    print("\n".join(sums))
    print("from: " + "; ".join(inputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
