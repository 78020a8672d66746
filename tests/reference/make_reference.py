#!/usr/bin/env python3
"""Writes the PyTorch reference tensors that tl's parity tests compare against.

Usage: make_reference.py --out DIR

Every module tests/reference/ref_*.py defines `cases()`, yielding
(case_name, {tensor_name: numpy array}). Each case becomes DIR/<case>/<name>.npy;
a value that is a function instead writes the file DIR/<case>/<name> itself.
Layouts follow tl's conventions: activations NHWC, conv weights OHWI, Dense
weights (in, out); the modules build the computation in PyTorch's own
layouts and permute at the boundary, so PyTorch's kernels are the judge.

Run with Debian's python3 (/usr/bin/python3, python3-torch). If torch is
missing the script says so and exits non-zero: the parity tests would fail
anyway, and this message says why.
"""
import argparse
import importlib
import os
import pathlib
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", default=None, help="run only ref_<name>.py")
    args = ap.parse_args()
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except ImportError as e:
        sys.exit(f"make_reference.py: {e}. Install the reference dependencies with "
                 f"scripts/install_deps.sh (Debian: python3-torch python3-numpy python3-h5py).")
    here = pathlib.Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    import numpy as np
    import torch
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    out = pathlib.Path(args.out)
    count = 0
    for script in sorted(here.glob("ref_*.py")):
        if args.only and script.stem != f"ref_{args.only}":
            continue
        module = importlib.import_module(script.stem)
        for case, tensors in module.cases():
            d = out / case
            d.mkdir(parents=True, exist_ok=True)
            for name, array in tensors.items():
                if callable(array):  # a file the module writes itself (e.g. an .h5)
                    array(d / name)
                    continue
                if isinstance(array, torch.Tensor):
                    array = array.detach().cpu().numpy()
                array = np.ascontiguousarray(array)
                if array.dtype == np.float64:
                    array = array.astype(np.float32)
                np.save(d / f"{name}.npy", array)
            count += 1
    print(f"make_reference.py: wrote {count} cases to {out}")


if __name__ == "__main__":
    main()
