#!/usr/bin/env python3
"""Writes Keras weight files with REAL Keras, for checking tl against Keras itself.

Not run by CI and not needed by the test suite: it needs TensorFlow / Keras
installed from PyPI, which the project does not depend on. It produces

  * the layer-order fixtures committed in tests/data/keras_layer_order/
    (layer names and weight names only, no weights), and
  * full-size model files (95-210 MB each, never committed) plus inputs and
    Keras's own predictions, for the format and parity checks of issue 11.

The model is the reference one: keras.applications.ResNet50(include_top=False,
weights=None) then the reference head

    Flatten | GlobalAveragePooling2D
    -> [BatchNormalization -> Dense(256, relu) -> Dropout(0.5)]
    -> [BN -> Dense(128, relu) -> Dropout(0.5)] -> [BN -> Dense(64, relu) -> Dropout(0.5)]
    -> Dense(10, softmax)

built two ways: "seq" = the recipe's Sequential holding the ResNet50 functional
model as one nested layer, and "fn" = one flat functional model (the head
applied to base.output). The Keras session is cleared before each build, so
the layers get the names a fresh Python process gives them (`dense`,
`batch_normalization`, ..., `dense_3`; `input_layer` in Keras 3, `input_1` in
tf_keras) -- the names tl uses (layers/head.cpp).

Environments (outside the repository; see the report of issue 11):

    python3 -m venv /work/keras-envs/tf221       # /usr/bin/python3, 3.11
    /work/keras-envs/tf221/bin/pip install tensorflow-cpu==2.21.0 'keras==3.15.*' tf_keras==2.21.0 h5py
    python3 -m venv /work/keras-envs/k35
    /work/keras-envs/k35/bin/pip install keras==3.5.0 'jax[cpu]==0.4.31' h5py

Usage (run the Keras 3.15 step first: it creates the shared weights):

    T=/work/keras-envs/tf221/bin/python; J=/work/keras-envs/k35/bin/python
    F=/work/keras-fixtures; D=tests/data/keras_layer_order
    # 1. model files, inputs and predictions
    $T make_real_keras_files.py --impl keras3   --files $F
    $T make_real_keras_files.py --impl tf_keras --files $F
    KERAS_BACKEND=jax $J make_real_keras_files.py --impl keras3 --files $F
    # 2. layer-order fixtures (names only)
    $T make_real_keras_files.py --impl keras3   --layer-order $D
    $T make_real_keras_files.py --impl tf_keras --layer-order $D
    KERAS_BACKEND=jax $J make_real_keras_files.py --impl keras3 --layer-order $D
    # 3. what Keras does with head layers named batch_normalization_3, dense_4, ...
    $T make_real_keras_files.py --impl keras3   --name-experiment /tmp/names
    $T make_real_keras_files.py --impl tf_keras --name-experiment /tmp/names
    # 4. float64 predictions of the same models (a reference free of float32 rounding)
    KERAS_BACKEND=jax $J make_real_keras_files.py --float64-reference $F
    # 5. print the inner layout of any Keras file (.h5, .weights.h5, .keras)
    $T make_real_keras_files.py --describe $F/k3_15_avg32_seq.keras

--impl keras3 uses `import keras` (3.x; its version names the files: k3_15_...,
k3_5_...), --impl tf_keras uses `import tf_keras` (the Keras 2 API; tfk2_21_...).

What --files writes into the folder (TAG = k3_15 | tfk2_21 | k3_5, VAR = avg32 |
flatten64, CONS = seq | fn):

    images_uint8.npy        (8, 32, 32, 3) uint8 RGB images (seeded noise with structure)
    inputs_32.npy           (8, 32, 32, 3) float32: Keras 'caffe' preprocess_input of them
                            (RGB->BGR, minus [103.939, 116.779, 123.68]); the model input
    inputs_64.npy           the same images resized 32->64 with UpSampling2D(bilinear)
                            (half-pixel centres) and then preprocessed; the flatten64 input
    weights_VAR.npz         the shared weights, "layer/weight" -> array (Keras layouts:
                            kernels HWIO / (in, out)); every file of VAR holds these values
    TAG_VAR_CONS.keras          Keras 3 model.save (zip)           [Keras 3 only]
    TAG_VAR_CONS.weights.h5     Keras 3 model.save_weights         [Keras 3 only]
    TAG_VAR_CONS.h5             model.save('x.h5'): legacy full model, weights under
                                /model_weights                     [Keras 3.6+ and tf_keras]
    tfk2_21_VAR_CONS_weights.h5 tf_keras model.save_weights('x.h5'): legacy, weights at /
    (CONS = seq files come from a compiled model, RMSprop(2e-5) + categorical_crossentropy
     (the optimiser is an assumption about the recipe), optimizer slots built but no step
     taken: they carry optimizer state like a trained user's files (about twice the size).
     CONS = fn files: weights only, like an export.)
    TAG_VAR_CONS_predictions.npy  Keras's own model.predict on inputs_S.npy, float32 (8, 10)
    float64_VAR_predictions.npy   the same in float64 (--float64-reference; JAX), float64 (8, 10)
    manifest_TAG.json       versions, and every file with its size and sha256

The weights are random but realistic: conv kernels He-normal, Dense kernels
LeCun-normal, biases, gammas (U(0.1, 0.3) for each block's _3_bn, so blocks
stay near identity as in a trained ResNet; U(0.6, 1.4) elsewhere) and betas
random, and each BatchNorm's moving statistics set, in model order, from what
its input really is on these 8 images: moving_mean = U(0.3, 0.7) x the channel
mean, moving_variance = U(0.75, 1.33) x the channel's mean square (+0.01).
So activations stay O(1) through all 16 blocks, the softmax is not saturated
(max 0.27-0.35; a wrong weight shows), and rounding errors are not amplified
much: Keras 3.15, tf_keras 2.21 and Keras 3.5 agree with each other and with
a float64 evaluation to <= 2.6e-5 of the largest probability. (He-normal
everywhere with BN set to the batch's own statistics gave a chaotic model
whose float32 evaluations differed by 1e-3.)
"""
import argparse
import hashlib
import json
import os
import pathlib
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.dont_write_bytecode = True  # no __pycache__ in the source tree when check_keras_roundtrip imports us

HEAD_WIDTHS = (256, 128, 64)
CLASSES = 10
DROPOUT = 0.5
SEED = 20240611
N_IMAGES = 8
VARIANTS = {"avg32": ("avg", 32), "flatten64": ("flatten", 64)}
# Which (variant, construction) pairs --files writes: the recipe's nested
# Sequential for both variants, the flat functional model for avg32.
FILE_SETS = [("avg32", "seq"), ("avg32", "fn"), ("flatten64", "seq")]


# ----------------------------------------------------------------------------
# Keras access (Keras 3 or tf_keras behind one small interface)
# ----------------------------------------------------------------------------

class Impl:
    def __init__(self, which):
        self.which = which
        if which == "tf_keras":
            import tensorflow as tf
            import tf_keras as K
            self.K = K
            self.tag = "tfk" + "_".join(K.__version__.split(".")[:2])
            self.versions = {"tf_keras": K.__version__, "tensorflow": tf.__version__}
            self.backend = "tensorflow"
        else:
            import keras as K
            self.K = K
            self.tag = "k" + "_".join(K.__version__.split(".")[:2])
            self.backend = K.backend.backend()
            self.versions = {"keras": K.__version__, "backend": self.backend}
            if self.backend == "tensorflow":
                import tensorflow as tf
                self.versions["tensorflow"] = tf.__version__
            elif self.backend == "jax":
                import jax
                self.versions["jax"] = jax.__version__
        import h5py
        import numpy as np
        self.versions["h5py"] = h5py.__version__
        self.versions["numpy"] = np.__version__
        self.versions["python"] = sys.version.split()[0]
        self.versions["TF_ENABLE_ONEDNN_OPTS"] = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset)")

    @property
    def keras3(self):
        return self.which == "keras3"

    @property
    def version_tuple(self):
        v = self.versions.get("keras") or self.versions["tf_keras"]
        return tuple(int(p) for p in v.split(".")[:2])

    def clear(self):
        self.K.backend.clear_session()

    def short_name(self, var):
        # Keras 3: var.name is already "kernel"; tf_keras: "conv1_conv/kernel:0".
        return var.name.split("/")[-1].split(":")[0]

    def build(self, size, pool, construction, fresh=True, head=HEAD_WIDTHS, classes=CLASSES):
        """The reference model. fresh=True clears the session first (default names)."""
        K = self.K
        L = K.layers
        if fresh:
            self.clear()
        base = K.applications.ResNet50(include_top=False, weights=None, input_shape=(size, size, 3))
        head_layers = [L.Flatten() if pool == "flatten" else L.GlobalAveragePooling2D()]
        for w in head:
            head_layers += [L.BatchNormalization(), L.Dense(w, activation="relu"), L.Dropout(DROPOUT)]
        head_layers.append(L.Dense(classes, activation="softmax"))
        if construction == "seq":
            model = K.Sequential()
            model.add(base)
            for layer in head_layers:
                model.add(layer)
            model.build((None, size, size, 3))
        else:
            x = base.output
            for layer in head_layers:
                x = layer(x)
            model = K.Model(base.input, x)
        return model, base


def leaf_layers(model):
    """Layers in model order, nested models expanded in place."""
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.__class__.__name__ in ("Functional", "Model", "Sequential"):
            yield from leaf_layers(layer)
        else:
            yield layer


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ----------------------------------------------------------------------------
# Weights shared by every file of a variant
# ----------------------------------------------------------------------------

def _rng(*keys):
    import zlib
    import numpy as np
    return np.random.default_rng([SEED] + [zlib.crc32(str(k).encode()) for k in keys])


def random_weights(impl, model):
    """Random values for every weight; moving statistics 0 / 1 (calibrated later)."""
    import numpy as np
    weights = {}
    for layer in leaf_layers(model):
        for var in layer.weights:
            short = impl.short_name(var)
            shape = tuple(var.shape)
            r = _rng(layer.name, short)
            if short == "kernel":
                fan_in = int(np.prod(shape[:-1]))
                gain = 2.0 if len(shape) == 4 else 1.0  # He for convs; Dense: LeCun (less chaotic)
                v = r.standard_normal(shape) * np.sqrt(gain / fan_in)
            elif short == "bias":
                v = r.normal(0.0, 0.1, shape)
            elif short == "gamma" and layer.name.endswith("_3_bn"):
                v = r.uniform(0.1, 0.3, shape)  # residual branch: blocks stay near identity
            elif short == "gamma":
                v = r.uniform(0.6, 1.4, shape)
            elif short == "beta":
                v = r.normal(0.0, 0.2, shape)
            elif short == "moving_mean":
                v = np.zeros(shape)
            elif short == "moving_variance":
                v = np.ones(shape)
            else:
                raise SystemExit(f"unexpected weight {layer.name}/{short}")
            weights[f"{layer.name}/{short}"] = v.astype(np.float32)
    return weights


def assign_weights(impl, model, weights):
    for layer in leaf_layers(model):
        if layer.weights:
            layer.set_weights([weights[f"{layer.name}/{impl.short_name(v)}"] for v in layer.weights])


def calibrate_batchnorms(impl, model, weights, inputs):
    """Sets each BN's moving statistics from the batch statistics of its input, in model order."""
    import numpy as np
    K = impl.K
    bns = [l for l in leaf_layers(model) if l.__class__.__name__ == "BatchNormalization"]
    probe = K.Model(model.inputs, [bn.input for bn in bns])
    for i, bn in enumerate(bns):
        assign_weights(impl, model, weights)
        x = probe.predict(inputs, verbose=0)[i]
        x = x.reshape(-1, x.shape[-1]).astype(np.float64)
        mean, second = x.mean(axis=0), (x * x).mean(axis=0)
        r = _rng(bn.name, "calibration")
        # Subtract only part of the mean and divide by the root mean square, not the
        # standard deviation: the output stays O(1) without amplifying the input's
        # rounding error (dividing a nearly constant channel by its tiny spread would
        # make the model chaotic, and Keras versions would disagree far beyond rounding).
        weights[f"{bn.name}/moving_mean"] = (mean * r.uniform(0.3, 0.7, mean.shape)).astype(np.float32)
        weights[f"{bn.name}/moving_variance"] = (second * r.uniform(0.75, 1.33, second.shape) + 1e-2).astype(np.float32)
    assign_weights(impl, model, weights)


def make_images():
    import numpy as np
    r = _rng("images")
    yy, xx = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    images = []
    for n in range(N_IMAGES):
        base = r.uniform(0, 255, 3)
        fy, fx = r.uniform(0.05, 0.5, 2)
        wave = 60 * np.sin(fy * yy + n)[..., None] + 60 * np.cos(fx * xx)[..., None] * r.uniform(-1, 1, 3)
        noise = r.normal(0, 25, (32, 32, 3))
        images.append(np.clip(base + wave + noise, 0, 255))
    return np.round(np.stack(images)).astype(np.uint8)


def model_inputs(impl, images, size):
    """caffe preprocessing (Keras's own), after a bilinear UpSampling2D when size > 32."""
    import numpy as np
    K = impl.K
    x = images.astype(np.float32)
    if size != 32:
        assert size % 32 == 0
        up = K.Sequential([K.layers.UpSampling2D(size // 32, interpolation="bilinear")])
        x = np.asarray(up.predict(x, verbose=0), dtype=np.float32)
    return np.asarray(K.applications.resnet50.preprocess_input(x), dtype=np.float32)


def compile_like_a_user(impl, model):
    """compile() as the recipe does and create the optimizer's slots without taking a step
    (weights and BN statistics stay as set), so the saved files carry the optimizer state a
    trained user's files carry: Keras 3 `optimizer/vars` groups, legacy `optimizer_weights`
    and `training_config`."""
    K = impl.K
    model.compile(optimizer=K.optimizers.RMSprop(learning_rate=2e-5),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    model.optimizer.build(model.trainable_variables)


def make_files(impl, out):
    import numpy as np
    out.mkdir(parents=True, exist_ok=True)
    manifest = {"versions": impl.versions, "seed": SEED, "files": {}}

    def record(path):
        manifest["files"][path.name] = {"bytes": path.stat().st_size, "sha256": sha256(path)}
        print(f"  {path.name}: {path.stat().st_size} bytes", flush=True)

    img_path = out / "images_uint8.npy"
    if img_path.exists():
        images = np.load(img_path)
    else:
        images = make_images()
        np.save(img_path, images)
    record(img_path)

    for variant, construction in FILE_SETS:
        pool, size = VARIANTS[variant]
        in_path = out / f"inputs_{size}.npy"
        if not in_path.exists():
            np.save(in_path, model_inputs(impl, images, size))
        inputs = np.load(in_path)
        record(in_path)

        w_path = out / f"weights_{variant}.npz"
        if w_path.exists():
            weights = dict(np.load(w_path))
        else:
            print(f"calibrating the shared weights for {variant} ...", flush=True)
            model, _ = impl.build(size, pool, "fn")
            weights = random_weights(impl, model)
            calibrate_batchnorms(impl, model, weights, inputs)
            np.savez(w_path, **weights)
        record(w_path)

        model, _ = impl.build(size, pool, construction)
        assign_weights(impl, model, weights)
        if construction == "seq":
            compile_like_a_user(impl, model)
        stem = f"{impl.tag}_{variant}_{construction}"
        pred = np.asarray(model.predict(inputs, verbose=0), dtype=np.float32)
        np.save(out / f"{stem}_predictions.npy", pred)
        record(out / f"{stem}_predictions.npy")
        print(f"{stem}: predictions max {pred.max():.4f} min {pred.min():.2e} argmax {pred.argmax(1).tolist()}")
        if impl.keras3:
            model.save(out / f"{stem}.keras")
            record(out / f"{stem}.keras")
            model.save_weights(out / f"{stem}.weights.h5")
            record(out / f"{stem}.weights.h5")
            if impl.version_tuple >= (3, 6):  # older Keras 3 cannot save legacy h5 (not needed)
                model.save(out / f"{stem}.h5")
                record(out / f"{stem}.h5")
        else:
            model.save(out / f"{stem}.h5")
            record(out / f"{stem}.h5")
            model.save_weights(out / f"{stem}_weights.h5")
            record(out / f"{stem}_weights.h5")

    man = out / f"manifest_{impl.tag}.json"
    man.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    print(f"wrote {man}")


def float64_reference(impl, out):
    """Keras 3 on JAX in float64: the same models and inputs, as a reference without float32 rounding."""
    import numpy as np
    if impl.backend != "jax":
        raise SystemExit("--float64-reference needs KERAS_BACKEND=jax (and jax installed)")
    impl.K.config.set_floatx("float64")
    for variant in dict.fromkeys(v for v, _ in FILE_SETS):
        pool, size = VARIANTS[variant]
        weights = {k: v.astype(np.float64) for k, v in np.load(out / f"weights_{variant}.npz").items()}
        model, _ = impl.build(size, pool, "fn")
        assign_weights(impl, model, weights)
        pred = np.asarray(model.predict(np.load(out / f"inputs_{size}.npy").astype(np.float64), verbose=0))
        path = out / f"float64_{variant}_predictions.npy"
        np.save(path, pred)
        print(f"wrote {path}")
        for other in sorted(out.glob(f"*_{variant}_*_predictions.npy")):
            q = np.load(other)
            print(f"  {other.name}: max|float32 - float64| / max = {np.abs(q - pred).max() / np.abs(pred).max():.3g}")


# ----------------------------------------------------------------------------
# Layer-order fixtures
# ----------------------------------------------------------------------------

def _attr_strings(obj, name):
    """A Keras string-list attribute, chunked or not, as str."""
    import numpy as np
    if name in obj.attrs:
        vals = obj.attrs[name]
    else:
        vals, i = [], 0
        while f"{name}{i}" in obj.attrs:
            vals += list(obj.attrs[f"{name}{i}"])
            i += 1
    return [v.decode() if isinstance(v, bytes) else str(v) for v in np.asarray(vals).ravel()]


def _interesting(layer_name):
    import re
    return bool(re.fullmatch(r"conv1_(conv|bn)|conv2_block1_\d_(conv|bn)|resnet50", layer_name)) or \
        not re.match(r"(conv\d|pool1|input)", layer_name)


def legacy_layout(impl, model, tmp):
    """layer_names and weight_names as the legacy .h5 writer stores them."""
    import h5py
    path = tmp / "order.h5"
    result = {}
    if impl.keras3:
        if impl.version_tuple < (3, 6):
            return None
        model.save(path)
        where = "/model_weights (model.save('x.h5'); Keras 3 save_weights refuses a plain .h5 name)"
    else:
        model.save_weights(path)
        where = "/ (save_weights('x.h5'))"
    with h5py.File(path, "r") as f:
        g = f if "layer_names" in f.attrs else f["model_weights"]
        names = _attr_strings(g, "layer_names")
        result["location"] = where
        result["layer_names"] = names
        result["groups_not_in_layer_names"] = sorted(set(g.keys()) - set(names))
        result["weight_names"] = {n: _attr_strings(g[n], "weight_names") for n in names
                                  if _interesting(n) and _attr_strings(g[n], "weight_names")}
        for k in result["groups_not_in_layer_names"]:
            result["weight_names"][k] = _attr_strings(g[k], "weight_names")
        result["root_attrs"] = {k: (v.decode() if isinstance(v, bytes) else str(v))
                                for k, v in g.attrs.items() if not k.startswith("layer_names")}
    if not impl.keras3:
        # model.save('x.h5') stores the same list under /model_weights: check it.
        model.save(tmp / "full.h5")
        with h5py.File(tmp / "full.h5", "r") as f:
            assert _attr_strings(f["model_weights"], "layer_names") == names
        result["same_in_model_save_h5"] = True
    return result


def weights_h5_layout(impl, model, tmp):
    """Keras 3 .weights.h5: each weighted layer's group path, found by value (works
    without the vars@name attribute of Keras >= 3.6)."""
    import h5py
    import numpy as np
    leaves = [l for l in leaf_layers(model) if l.weights]
    for i, layer in enumerate(leaves):
        layer.set_weights([np.full(tuple(v.shape), float(i + 1), np.float32) for v in layer.weights])
    path = tmp / "order.weights.h5"
    model.save_weights(path)
    found = {}
    all_groups = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Group) and name.split("/")[-1] == "vars":
                attr = obj.attrs.get("name")
                attr = attr.decode() if isinstance(attr, bytes) else attr
                all_groups.append(name)
                if len(obj):
                    idx = int(round(float(np.asarray(obj["0"]).ravel()[0])))
                    layer = leaves[idx - 1]
                    entry = [name[:-len("/vars")] if name != "vars" else "", layer.name, len(obj)]
                    if attr is not None:
                        assert attr == layer.name, (name, attr, layer.name)
                    found[layer.name] = entry
        f.visititems(visit)
        root_attrs = {k: str(v) for k, v in f.attrs.items()}
        has_name_attr = any("name" in f[g].attrs for g in all_groups)
    ordered = [found[l.name] for l in leaves if l.name in found]
    return {
        "groups": ordered,
        "groups_note": "[group path, layer name, number of vars] for every layer with weights, in model "
                       "order; vars/0..n-1 are the weights in layer.weights order (kernel, bias | gamma, "
                       "beta, moving_mean, moving_variance)",
        "vars_groups_total": len(all_groups),
        "vars_has_name_attribute": bool(has_name_attr),
        "root_attrs": root_attrs,
    }


def layer_order(impl, out):
    import tempfile
    out.mkdir(parents=True, exist_ok=True)
    prefix = {"tf_keras": "tf_keras", "keras3": "keras"}[impl.which]
    ver = "_".join(str(p) for p in impl.version_tuple)
    for pool in ("flatten", "avg"):
        for construction in ("seq", "fn"):
            model, base = impl.build(32, pool, construction)
            doc = {
                "generator": "tests/reference/keras/make_real_keras_files.py --layer-order",
                "versions": {k: v for k, v in impl.versions.items() if k != "TF_ENABLE_ONEDNN_OPTS"},
                "construction": {"seq": "Sequential([ResNet50 (nested functional model), head...])",
                                 "fn": "Model(base.input, head(base.output)) (flat functional)"}[construction],
                "pool": pool,
                "input_size": 32,
                "model_layers": [l.name for l in model.layers],
            }
            if construction == "seq":
                doc["nested_layers"] = {base.name: [l.name for l in base.layers]}
            with tempfile.TemporaryDirectory() as td:
                td = pathlib.Path(td)
                legacy = legacy_layout(impl, model, td)
                if legacy is not None:
                    doc["legacy_h5"] = legacy
                if impl.keras3:
                    doc["weights_h5"] = weights_h5_layout(impl, model, td)
            name = f"{prefix}{ver}_{pool}_{construction}.json"
            (out / name).write_text(json.dumps(doc, indent=1) + "\n")
            print(f"wrote {out / name} ({(out / name).stat().st_size} bytes)")


# ----------------------------------------------------------------------------
# Issue 11 item 6: head layers named batch_normalization_3, dense_4, ...
# ----------------------------------------------------------------------------

def name_experiment(impl, out):
    import numpy as np
    out.mkdir(parents=True, exist_ok=True)
    size, pool = 32, "avg"
    r = np.random.default_rng(7)
    x = r.normal(0, 50, (4, size, size, 3)).astype(np.float32)
    report = {"versions": impl.versions, "cases": []}
    for construction in ("seq", "fn"):
        # Build the model twice in one session: the second copy's head is renamed.
        impl.build(size, pool, construction, fresh=True)
        renamed, _ = impl.build(size, pool, construction, fresh=False)
        leaves = [l for l in leaf_layers(renamed) if l.weights]
        for layer in leaves:
            layer.set_weights([r.normal(0, 0.05, tuple(v.shape)).astype(np.float32) + (1.0 if impl.short_name(v) in ("gamma", "moving_variance") else 0.0)
                               for v in layer.weights])
        head_names = [l.name for l in renamed.layers if not l.name.startswith(("conv", "pool", "input", "resnet"))]
        expect = np.asarray(renamed.predict(x, verbose=0))
        stem = f"{impl.tag}_{construction}_renamed"
        files = []
        if impl.keras3:
            for suffix, how in ((".weights.h5", "save_weights"), (".keras", "save"), (".h5", "save")):
                if suffix == ".h5" and impl.version_tuple < (3, 6):
                    continue
                p = out / (stem + suffix)
                getattr(renamed, how)(p)
                files.append((p, f"model.{how}('{p.name}')"))
        else:
            p = out / (stem + "_weights.h5")
            renamed.save_weights(p)
            files.append((p, "model.save_weights"))
            p = out / (stem + ".h5")
            renamed.save(p)
            files.append((p, "model.save"))
        fresh, _ = impl.build(size, pool, construction, fresh=True)
        fresh_names = [l.name for l in fresh.layers if not l.name.startswith(("conv", "pool", "input", "resnet"))]
        for p, how in files:
            for kwargs in ({}, {"by_name": True}):
                if kwargs and (p.suffix == ".keras" or p.name.endswith(".weights.h5")):
                    continue
                case = {"construction": construction, "file": p.name, "written_by": how,
                        "file_head_names": head_names, "model_head_names": fresh_names,
                        "load": f"load_weights(path{', by_name=True' if kwargs else ''})"}
                for layer in leaf_layers(fresh):  # poison, so an unloaded weight shows
                    if layer.weights:
                        layer.set_weights([np.full(tuple(v.shape), 0.5, np.float32) for v in layer.weights])
                try:
                    fresh.load_weights(p, **kwargs)
                    got = np.asarray(fresh.predict(x, verbose=0))
                    case["result"] = "loaded"
                    case["max_abs_diff_vs_saved_model"] = float(np.abs(got - expect).max())
                except Exception as e:  # noqa: BLE001 - we record whatever Keras raises
                    case["result"] = f"{type(e).__name__}: {str(e)[:600]}"
                print(json.dumps(case), flush=True)
                report["cases"].append(case)

    # A head of a different structure (two hidden layers instead of three).
    small, _ = impl.build(size, pool, "fn", fresh=True, head=(256, 128))
    big, _ = impl.build(size, pool, "fn", fresh=True)
    files = []
    if impl.keras3:
        files.append(out / f"{impl.tag}_fn_2hidden.weights.h5")
        small.save_weights(files[-1])
        if impl.version_tuple >= (3, 6):
            files.append(out / f"{impl.tag}_fn_2hidden.h5")
            small.save(files[-1])
    else:
        files.append(out / f"{impl.tag}_fn_2hidden_weights.h5")
        small.save_weights(files[-1])
    for p in files:
        case = {"construction": "fn", "file": p.name, "file_head": "2 hidden blocks",
                "model_head": "3 hidden blocks", "load": "load_weights(path)"}
        try:
            big.load_weights(p)
            case["result"] = "loaded (!)"
        except Exception as e:  # noqa: BLE001
            case["result"] = f"{type(e).__name__}: {str(e)[:600]}"
        print(json.dumps(case), flush=True)
        report["cases"].append(case)
    path = out / f"name_experiment_{impl.tag}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {path}")


# ----------------------------------------------------------------------------
# --describe: the inner layout of a Keras file
# ----------------------------------------------------------------------------

def _describe_h5(f, indent="  ", limit=40):
    import h5py
    import numpy as np

    def fmt_attr(v):
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, str):
            return repr(v if len(v) < 80 else v[:77] + "...")
        a = np.asarray(v)
        if a.dtype.kind in "SOU":
            items = [x.decode() if isinstance(x, bytes) else str(x) for x in a.ravel()]
            return f"[{len(items)} strings: {', '.join(items[:6])}{', ...' if len(items) > 6 else ''}]"
        return f"{a.dtype}{a.shape}"

    def attr_types(obj):
        out = []
        for k in obj.attrs:
            t = obj.attrs.get_id(k).dtype
            s = h5py.check_string_dtype(t)
            out.append(f"{k}: {'vlen' if s and s.length is None else 'fixed' if s else t} "
                       f"{s.encoding if s else ''}".rstrip())
        return out

    print(f"{indent}/ attrs: " + "; ".join(f"{k}={fmt_attr(v)}" for k, v in f.attrs.items()))
    if len(f.attrs):
        print(f"{indent}  attr types: {attr_types(f)}")
    lines = []

    def visit(name, obj):
        kind = f"dataset {obj.dtype}{obj.shape}" if isinstance(obj, h5py.Dataset) else "group"
        attrs = "; ".join(f"{k}={fmt_attr(v)}" for k, v in obj.attrs.items())
        lines.append(f"{indent}/{name}  [{kind}]" + (f"  attrs: {attrs}" if attrs else ""))
    f.visititems(visit)
    for line in lines[:limit]:
        print(line)
    if len(lines) > limit:
        print(f"{indent}... {len(lines) - limit} more objects ({len(lines)} in all)")


def describe(paths):
    import io
    import h5py
    for p in paths:
        p = pathlib.Path(p)
        print(f"== {p} ({p.stat().st_size} bytes)")
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as z:
                for info in z.infolist():
                    print(f"  member {info.filename}: {info.file_size} bytes, "
                          f"compress_type={info.compress_type}, date={info.date_time}")
                meta = json.loads(z.read("metadata.json"))
                print(f"  metadata.json: {json.dumps(meta)}")
                cfg = json.loads(z.read("config.json"))
                print(f"  config.json: class_name={cfg.get('class_name')} module={cfg.get('module')} "
                      f"name={cfg['config'].get('name')} build_config={cfg.get('build_config')}")
                for layer in cfg["config"]["layers"]:
                    c = layer["config"]
                    keep = {k: c[k] for k in ("name", "units", "activation", "rate", "epsilon", "momentum",
                                              "batch_shape", "data_format", "trainable") if k in c}
                    print(f"    layer {layer['class_name']}: {keep}"
                          + (f" build_config={layer.get('build_config')}" if "build_config" in layer else ""))
                with h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
                    print("  model.weights.h5:")
                    _describe_h5(f, indent="    ")
        else:
            with h5py.File(p, "r") as f:
                _describe_h5(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--impl", choices=["keras3", "tf_keras"], default="keras3")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--files", type=pathlib.Path, metavar="DIR", help="write model files, inputs, predictions")
    g.add_argument("--layer-order", type=pathlib.Path, metavar="DIR", help="write the layer-order JSON fixtures")
    g.add_argument("--name-experiment", type=pathlib.Path, metavar="DIR", help="issue 11 item 6")
    g.add_argument("--describe", nargs="+", metavar="FILE", help="print a Keras file's inner layout")
    g.add_argument("--float64-reference", type=pathlib.Path, metavar="DIR",
                   help="after --files: float64 predictions of the same models (KERAS_BACKEND=jax)")
    args = ap.parse_args()
    if args.describe:
        describe(args.describe)
        return
    if args.float64_reference:
        import jax
        jax.config.update("jax_enable_x64", True)
    impl = Impl(args.impl)
    print(f"{impl.which}: {impl.versions}", flush=True)
    if args.files:
        make_files(impl, args.files)
    elif args.layer_order:
        layer_order(impl, args.layer_order)
    elif args.float64_reference:
        float64_reference(impl, args.float64_reference)
    else:
        name_experiment(impl, args.name_experiment)


if __name__ == "__main__":
    main()
