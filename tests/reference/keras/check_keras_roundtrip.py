#!/usr/bin/env python3
"""Loads a weights file written by tl into REAL Keras and compares predictions.

Not run by CI (it needs TensorFlow / Keras from PyPI; see
make_real_keras_files.py for the environments). It is the acceptance check of
issue 11: "a tl export loaded by plain model.load_weights in Keras 3.x and
tf_keras 2.x, predictions equal to tl's within float32 rounding".

What it does:
  1. reads the file (legacy .h5, Keras 3 .weights.h5, or .keras zip) to find
     the architecture: nested Sequential or flat functional (from the layout),
     Flatten or GlobalAveragePooling2D (from the weightless layer names, or
     config.json), head widths and classes (from the Dense kernels); the image
     size comes from the input .npy. Every guess can be overridden.
  2. builds keras.applications.ResNet50(include_top=False, weights=None) + the
     reference head exactly as make_real_keras_files.py does (the same names a
     fresh Python process gives), poisons every variable with NaN,
  3. loads the file with PLAIN model.load_weights(path) -- no by_name, no
     skip_mismatch -- and checks that no variable is still NaN (Keras 3 only
     warns about objects it could not load; this makes that an error),
  4. predicts on the input .npy and compares with tl's predictions .npy.

Tolerance: max|keras - tl| <= rtol * max|keras|, rtol = 1e-4 by default.
Why: both sides compute ResNet50 + head in float32 with different summation
orders (oneDNN / XLA vs tl's kernels), and rounding grows through ~55 layers.
Measured on the fixtures of make_real_keras_files.py (same weights, same input):
Keras 3.15 (TF, oneDNN), tf_keras 2.21 and Keras 3.5 (JAX) differ from each
other by at most 2.5e-5 of the largest probability, and from a float64 evaluation
by at most 2.6e-5. 1e-4 is ~4x that; a misplaced weight (e.g. the
projection shortcut's BN loaded into _3_bn) moves predictions by >1e-2. Use
tl's float32 path (no TF32/BF16) to produce the predictions.

Exit status: 0 within tolerance; 1 beyond it; 2 Keras could not load the file
(or left variables unloaded); 3 bad arguments / unreadable inputs.

Usage (T, J: the venv pythons of make_real_keras_files.py):

    # tl wrote model.h5 and its own predictions of inputs_32.npy to tl_pred.npy
    $T check_keras_roundtrip.py model.h5 --inputs inputs_32.npy --predictions tl_pred.npy
    $T check_keras_roundtrip.py model.h5 --impl tf_keras --inputs ... --predictions ...
    $T check_keras_roundtrip.py model.weights.h5 --inputs ... --predictions ...
    $T check_keras_roundtrip.py model.keras --load-model --inputs ... --predictions ...
    KERAS_BACKEND=jax $J check_keras_roundtrip.py model.weights.h5 ...     # Keras 3.5 reading it
    # why does Keras refuse it? (prints Keras's own error, warnings, the
    # file's weighted layers next to the model's, first divergence, unloaded vars)
    $T check_keras_roundtrip.py model.h5 --diagnose
    # a Keras file against Keras's own predictions (self-test of this script)
    $T check_keras_roundtrip.py /work/keras-fixtures/k3_15_avg32_fn.h5 \\
        --inputs /work/keras-fixtures/inputs_32.npy \\
        --predictions /work/keras-fixtures/k3_15_avg32_fn_predictions.npy

Options: --construction seq|fn, --pool avg|flatten, --head 256,128,64,
--classes 10, --size S override what is read from the file; --rtol;
--save-keras-predictions PATH writes Keras's predictions; --load-model also
loads a .keras / full-model .h5 with keras.saving.load_model (which uses the
file's own config, so it checks config.json / model_config too) and compares.

Inputs: a float32 (N, S, S, 3) array is the model input as is (already
'caffe'-preprocessed: BGR minus the ImageNet means, as inputs_32.npy); a uint8
(N, h, w, 3) RGB array is upsampled by UpSampling2D(bilinear) to --size (an
integer factor) and preprocessed with Keras's preprocess_input first.
"""
import argparse
import contextlib
import io
import json
import logging
import os
import pathlib
import re
import sys
import warnings
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

DEFAULT_RTOL = 1e-4


# ----------------------------------------------------------------------------
# What the file holds (h5py only; no Keras needed)
# ----------------------------------------------------------------------------

def _strings(obj, name):
    import numpy as np
    if name in obj.attrs:
        vals = obj.attrs[name]
    else:
        vals, i = [], 0
        while f"{name}{i}" in obj.attrs:
            vals += list(obj.attrs[f"{name}{i}"])
            i += 1
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(vals).ravel()]


def _natural(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


class FileInfo:
    """format, construction, pool, head widths, classes, weighted layers in file order."""

    def __init__(self, path):
        import h5py
        self.path = pathlib.Path(path)
        self.config = None
        self.layers = []  # (name as stored, [shapes]) of layers with weights, file order
        self.weightless = []
        self.notes = []
        if zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as z:
                names = z.namelist()
                self.notes.append(f".keras members: {names}")
                self.config = json.loads(z.read("config.json")) if "config.json" in names else None
                if "metadata.json" in names:
                    self.notes.append(f"metadata.json: {z.read('metadata.json').decode()}")
                data = z.read("model.weights.h5")
            with h5py.File(io.BytesIO(data), "r") as f:
                self._read_v3(f)
            self.format = "keras-zip"
        else:
            with h5py.File(self.path, "r") as f:
                if "layer_names" in f.attrs or "layer_names0" in f.attrs or "model_weights" in f:
                    self._read_legacy(f)
                else:
                    self._read_v3(f)

    def _read_legacy(self, f):
        g = f if ("layer_names" in f.attrs or "layer_names0" in f.attrs) else f["model_weights"]
        self.format = "legacy-h5" + (" (full model, /model_weights)" if g is not f else "")
        if g is not f and "model_config" in f.attrs:
            mc = f.attrs["model_config"]
            self.config = json.loads(mc.decode() if isinstance(mc, bytes) else mc)
        for k in ("keras_version", "backend"):
            if k in g.attrs:
                v = g.attrs[k]
                self.notes.append(f"{k}={v.decode() if isinstance(v, bytes) else v}")
        self.layer_names = _strings(g, "layer_names")
        for name in self.layer_names:
            wn = _strings(g[name], "weight_names")
            if wn:
                self.layers.append((name, [tuple(g[name][w].shape) for w in wn]))
            else:
                self.weightless.append(name)
        self.construction = "seq" if any(len(s) > 8 for _, s in self.layers) else "fn"

    def _read_v3(self, f):
        import h5py
        self.format = self.format if hasattr(self, "format") else "keras3-weights-h5"
        found = []

        def visit(name, obj):
            if isinstance(obj, h5py.Group) and name.split("/")[-1] == "vars":
                path = name[: -len("/vars")] if name != "vars" else ""
                attr = obj.attrs.get("name")
                attr = attr.decode() if isinstance(attr, bytes) else attr
                shapes = [tuple(obj[k].shape) for k in sorted(obj.keys(), key=int)]
                found.append((path, attr, shapes))
        f.visititems(visit)
        self.has_name_attr = any(a is not None for _, a, _ in found)
        self.notes.append("vars@name attribute present (Keras >= 3.6)" if self.has_name_attr
                          else "no vars@name attribute (Keras 3.0-3.5 layout)")
        found.sort(key=lambda t: _natural(t[0]))
        self.v3_groups = {path: (attr, shapes) for path, attr, shapes in found}
        for path, attr, shapes in found:
            label = path + (f" ({attr})" if attr else "")
            if shapes:
                self.layers.append((label, shapes))
            else:
                self.weightless.append(label)
        self.construction = "seq" if any(p.startswith("layers/functional/") for p, _, _ in found) else "fn"

    # -- architecture guesses -------------------------------------------------
    def dense_kernels(self):
        """(in, out) of every Dense kernel, in model order (natural name order for .weights.h5)."""
        return [s[0] for n, s in self.layers if len(s) == 2 and len(s[0]) == 2]

    def guess_pool(self):
        if self.config:
            text = json.dumps(self.config)
            if '"Flatten"' in text:
                return "flatten", "config"
            if '"GlobalAveragePooling2D"' in text:
                return "avg", "config"
        names = " ".join(str(w) for w in self.weightless)
        if re.search(r"\bflatten", names) or "/flatten" in names:
            return "flatten", "layer names"
        if "global_average_pooling2d" in names:
            return "avg", "layer names"
        return None, "unknown"

    def guess_size(self):
        if not self.config:
            return None
        m = re.search(r'"batch_shape": \[null, (\d+), (\d+), 3\]', json.dumps(self.config))
        if not m:
            m = re.search(r'"batch_input_shape": \[null, (\d+), (\d+), 3\]', json.dumps(self.config))
        return int(m.group(1)) if m else None


# ----------------------------------------------------------------------------
# Keras side
# ----------------------------------------------------------------------------

def poison(impl, model):
    import numpy as np
    for v in model.weights:
        v.assign(np.full(tuple(v.shape), np.nan, dtype="float32"))


def unloaded(impl, model):
    import numpy as np
    out = []
    for v in model.weights:
        if np.isnan(np.asarray(v.numpy() if hasattr(v, "numpy") else v)).any():
            out.append(getattr(v, "path", v.name))
    return out


@contextlib.contextmanager
def captured():
    """Collects Python warnings and logging records (Keras 3 reports skipped objects that way)."""
    records = []

    class H(logging.Handler):
        def emit(self, r):
            records.append(f"log {r.levelname}: {r.getMessage()}")
    h = H()
    root = logging.getLogger()
    root.addHandler(h)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            yield records
        finally:
            root.removeHandler(h)
            records.extend(f"warning: {x.message}" for x in w)


NOISE = ("compiled metrics", "__array__ implementation doesn't accept a copy keyword")


def print_messages(msgs, limit=8):
    """Keras's warnings, similar ones collapsed (it repeats one per skipped container)."""
    groups = {}
    for m in msgs:
        if any(n in m for n in NOISE):
            continue
        key = re.sub(r"\d+", "N", m[:90])
        groups.setdefault(key, []).append(m)
    for i, (key, ms) in enumerate(groups.items()):
        if i == limit:
            print(f"  ... {len(groups) - limit} more kinds of message")
            break
        print(f"  Keras said{f' ({len(ms)}x, first shown)' if len(ms) > 1 else ''}: {ms[0][:600]}")


def model_weighted_layers(model):
    from make_real_keras_files import leaf_layers
    return [(l.name, [tuple(v.shape) for v in l.weights]) for l in leaf_layers(model) if l.weights]


def expected_v3_paths(model, prefix=""):
    """The group path Keras 3 gives each layer in a .weights.h5: snake_case(class) made unique
    by a counter per container, in model.layers order, nested models recursed into."""
    from keras.src.utils.naming import to_snake_case
    used, out = {}, []
    for layer in model.layers:
        base = to_snake_case(layer.__class__.__name__)
        if base in used:
            used[base] += 1
            name = f"{base}_{used[base]}"
        else:
            used[base] = 0
            name = base
        path = f"{prefix}layers/{name}"
        if layer.__class__.__name__ in ("Functional", "Sequential"):
            out += expected_v3_paths(layer, path + "/")
        elif layer.weights:
            out.append((path, layer.name, [tuple(v.shape) for v in layer.weights]))
    return out


def diagnose(info, impl, model, error):
    print("\n--- diagnosis ---")
    print(f"file: {info.path} [{info.format}]; " + "; ".join(info.notes))
    if error is not None:
        print(f"Keras's loader: {type(error).__name__}: {error}")
    if info.format.startswith("legacy"):
        _diagnose_legacy(info, model)
    elif impl.keras3:
        _diagnose_v3(info, model)
    else:
        print("tf_keras cannot read Keras 3 .weights.h5 / .keras files; use --impl keras3")


def _diagnose_legacy(info, model):
    file_layers = info.layers
    if info.construction == "seq":
        print("(nested layout: the file's 'resnet50' group holds the whole backbone)")
        mine = [(l.name, [tuple(v.shape) for v in l.weights]) for l in model.layers if l.weights]
    else:
        mine = model_weighted_layers(model)
    print(f"weighted layers: file {len(file_layers)}, model {len(mine)}")
    n = max(len(file_layers), len(mine))
    row = lambda lst, i: lst[i] if i < len(lst) else ("-", [])  # noqa: E731
    first = next((i for i in range(n) if row(file_layers, i)[0] != row(mine, i)[0]
                  or list(map(tuple, row(file_layers, i)[1])) != row(mine, i)[1]), None)
    if first is None:
        print("file order and shapes match the model's, position by position")
    else:
        print(f"first divergence at weighted layer #{first} (names or shapes):")
        for i in range(max(0, first - 2), min(first + 8, n)):
            a, b = row(file_layers, i), row(mine, i)
            print(f" {'->' if i == first else '  '} #{i:3d} file {a[0]:24s} {str(a[1])[:60]:60s} | "
                  f"model {b[0]:24s} {str(b[1])[:60]}")
    print("(Keras pairs legacy .h5 layers by POSITION among the layers with weights, in the order of "
          "the layer_names attribute; the names themselves are not compared, only the shapes)")


def _diagnose_v3(info, model):
    expected = expected_v3_paths(model)
    groups = info.v3_groups
    seen = set()
    lines = []
    problems = 0
    for path, layer, shapes in expected:
        if path not in groups:
            lines.append(f"  missing: {path} (model layer {layer}, {shapes})")
            problems += 1
            continue
        seen.add(path)
        attr, got = groups[path]
        got = [tuple(s) for s in got]
        if got != shapes:
            lines.append(f"  shape mismatch: {path} (model layer {layer}): file {got}, model {shapes}")
            problems += 1
        elif attr is not None and attr != layer:
            lines.append(f"  note: {path} is named {attr!r} in the file, {layer!r} in the model "
                         "(Keras ignores this)")
    # optimizer/vars/* hold the optimizer's slots (a compiled model's file): not layers.
    extra = [p for p, (a, s) in groups.items() if s and p not in seen and p.startswith("layers/")]
    lines += [f"  not used by the model: {p} {groups[p]}" for p in extra]
    for line in lines[:30]:
        print(line)
    if len(lines) > 30:
        print(f"  ... {len(lines) - 30} more lines")
    print(f"{len(expected)} weighted layers expected, {problems} problems, {len(extra)} unused groups with weights")
    print("(Keras 3 .weights.h5 pairs by GROUP PATH: snake_case(class) + creation order within each "
          "model, e.g. layers/conv2d_3 or layers/functional/layers/batch_normalization_3 when nested; "
          "the vars@name attribute is written by 3.6+ but not used for matching)")


def load_and_predict(args, info, impl, K):
    import numpy as np
    model, _ = impl.build(args.size, args.pool, args.construction, head=args.head_widths, classes=args.classes)
    poison(impl, model)
    err = None
    with captured() as msgs:
        try:
            model.load_weights(str(args.file))
        except Exception as e:  # noqa: BLE001 - we report what Keras says
            err = e
    print_messages(msgs)
    missing = unloaded(impl, model) if err is None else []
    if err is not None or missing:
        if missing:
            print(f"LOAD INCOMPLETE: {len(missing)} variables not loaded, e.g. {missing[:6]}")
        else:
            print(f"LOAD FAILED: {type(err).__name__}: {str(err)[:2000]}")
        if args.diagnose:
            diagnose(info, impl, model, err)
        return False, None
    print(f"loaded with plain load_weights: all {len(model.weights)} variables set")
    if args.diagnose:
        diagnose(info, impl, model, None)
    if args.inputs is None:
        return True, None
    return True, np.asarray(model.predict(args.x, verbose=0), dtype=np.float32)


def compare(label, got, want_path, rtol):
    import numpy as np
    want = np.load(want_path).astype(np.float32)
    if got.shape != want.shape:
        print(f"{label}: shape {got.shape} vs tl's {want.shape}: FAIL")
        return False
    diff = float(np.abs(got.astype(np.float64) - want).max())
    scale = float(np.abs(got).max())
    rel = diff / scale if scale > 0 else float("inf")
    agree = int((got.argmax(-1) == want.argmax(-1)).sum())
    ok = rel <= rtol and np.isfinite(want).all()
    print(f"{label}: max|keras - tl| = {diff:.3g}, largest |keras| = {scale:.4g}, ratio {rel:.3g} "
          f"(tolerance {rtol:g}); argmax agrees on {agree}/{len(got)}: {'OK' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", type=pathlib.Path, help="weights written by tl: .h5, .weights.h5 or .keras")
    ap.add_argument("--inputs", type=pathlib.Path, help="(N, S, S, 3) float32 model input or uint8 RGB images")
    ap.add_argument("--predictions", type=pathlib.Path, help="tl's predictions of those inputs, (N, classes)")
    ap.add_argument("--impl", choices=["keras3", "tf_keras"], default="keras3")
    ap.add_argument("--construction", choices=["seq", "fn"], help="default: from the file's layout")
    ap.add_argument("--pool", choices=["avg", "flatten"], help="default: from the file")
    ap.add_argument("--head", help="hidden widths, e.g. 256,128,64 (default: from the file)")
    ap.add_argument("--classes", type=int, help="default: from the file")
    ap.add_argument("--size", type=int, help="image size (default: from the inputs or the file)")
    ap.add_argument("--rtol", type=float, default=DEFAULT_RTOL)
    ap.add_argument("--diagnose", action="store_true", help="explain a failed or partial load")
    ap.add_argument("--load-model", action="store_true", help="also keras.saving.load_model (.keras, full .h5)")
    ap.add_argument("--save-keras-predictions", type=pathlib.Path)
    args = ap.parse_args()
    if not args.file.is_file():
        print(f"{args.file}: no such file")
        return 3
    if args.predictions and not args.inputs:
        print("--predictions needs --inputs")
        return 3

    info = FileInfo(args.file)
    print(f"{args.file}: {info.format}; {'; '.join(info.notes)}")
    kernels = info.dense_kernels()
    if args.construction is None:
        args.construction = info.construction
    if args.head is None:
        args.head_widths = tuple(k[1] for k in kernels[:-1]) if kernels else (256, 128, 64)
    else:
        args.head_widths = tuple(int(w) for w in args.head.split(","))
    if args.classes is None:
        args.classes = kernels[-1][1] if kernels else 10
    if args.pool is None:
        args.pool, how = info.guess_pool()
        if args.pool is None:
            args.pool, how = "avg", "default (the file does not say)"
    else:
        how = "--pool"

    import numpy as np
    args.x = None
    if args.inputs:
        x = np.load(args.inputs)
        if x.ndim != 4 or x.shape[-1] != 3:
            print(f"{args.inputs}: expected (N, S, S, 3), got {x.shape}")
            return 3
    file_size = info.guess_size()
    if args.size is None:
        args.size = file_size or (x.shape[1] if args.inputs and x.dtype != np.uint8 else None)
    if args.size is None:
        if args.inputs is None:
            args.size = 224
        else:
            args.size = x.shape[1]

    from make_real_keras_files import Impl
    impl = Impl(args.impl)
    K = impl.K
    if args.inputs:
        if x.dtype == np.uint8:
            xf = x.astype(np.float32)
            if args.size != x.shape[1]:
                f = args.size // x.shape[1]
                if f * x.shape[1] != args.size:
                    print(f"--size {args.size} is not an integer multiple of the images' {x.shape[1]}")
                    return 3
                xf = np.asarray(K.Sequential([K.layers.UpSampling2D(f, interpolation="bilinear")])
                                .predict(xf, verbose=0))
            args.x = np.asarray(K.applications.resnet50.preprocess_input(xf), dtype=np.float32)
        else:
            args.x = x.astype(np.float32)
        if args.x.shape[1] != args.size:
            print(f"inputs are {args.x.shape[1]} px but the model is {args.size} px")
            return 3

    print(f"{impl.which} {impl.versions.get('keras') or impl.versions.get('tf_keras')} "
          f"({impl.backend}); model: {args.construction}, {args.size} px, pool {args.pool} ({how}), "
          f"head {list(args.head_widths)}, {args.classes} classes")
    loaded, pred = load_and_predict(args, info, impl, K)
    if not loaded:
        return 2
    if args.inputs is None:
        return 0
    if args.save_keras_predictions:
        np.save(args.save_keras_predictions, pred)
    ok = True
    if args.predictions:
        ok = compare("load_weights + predict", pred, args.predictions, args.rtol)
    else:
        print(f"Keras's predictions: max {pred.max():.4g}, argmax {pred.argmax(-1).tolist()} (no --predictions to compare)")
    if args.load_model:
        try:
            with captured():
                loaded = (K.saving.load_model(str(args.file)) if impl.keras3
                          else K.models.load_model(str(args.file)))
            p2 = np.asarray(loaded.predict(args.x, verbose=0), dtype=np.float32)
            print(f"load_model: {loaded.__class__.__name__} '{loaded.name}', {len(loaded.layers)} top-level layers")
            if args.predictions:
                ok = compare("load_model + predict", p2, args.predictions, args.rtol) and ok
        except Exception as e:  # noqa: BLE001
            print(f"load_model FAILED: {type(e).__name__}: {str(e)[:1500]}")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
