#!/usr/bin/env python3
"""Writes the small HDF5 files that tests/test_keras_h5.cpp reads.

Usage: make_h5_fixtures.py --out DIR

Each file reproduces one way Keras (through h5py) lays out weights; see
docs/keras_weights.md and formats.md section 1. The values follow a fixed
integer pattern, exactly representable in float32, so the C++ test can check
every element bit for bit without a side file:

    value(k, i) = ((k * 7919 + i * 31) % 2001 - 1000) / 64      (i: row-major index)

k identifies the array. In the legacy files built from a spec, the array of
weight w of layer l (spec order, from 0) has k = 16 * l + w + 1; the Keras 3
specs give k explicitly. The C++ test carries the same tables.

The script asserts that h5py produced the intended HDF5 types (fixed NULLPAD
vs. variable-length strings, float64 (0,) for empty lists, ...), so a fixture
that silently changed form fails here rather than weakening a test.

Run with Debian's python3 (python3-h5py, python3-numpy).
"""
import argparse
import json
import pathlib
import sys


def value_pattern(k, shape, dtype):
    import numpy as np
    n = int(np.prod(shape)) if len(shape) else 1
    i = np.arange(n, dtype=np.int64)
    v = ((k * 7919 + i * 31) % 2001 - 1000) / 64.0
    return v.reshape(shape).astype(dtype)


# The small "model" most legacy fixtures share: a weightless input, a conv
# with bias, a BN, a weightless relu, a Dense. "predictions" is the longest
# layer name: in a fixed-length list it fills the width with no NUL.
MODEL = [
    ("input_1", []),
    ("conv1_conv", [("kernel", (3, 3, 2, 4)), ("bias", (4,))]),
    ("conv1_bn", [("gamma", (4,)), ("beta", (4,)), ("moving_mean", (4,)), ("moving_variance", (4,))]),
    ("conv1_relu", []),
    ("predictions", [("kernel", (4, 3)), ("bias", (3,))]),
]

# fchollet's deep-learning-models ResNet50 names (the C++ test expects them mapped).
FCHOLLET = [
    ("input_1", []),
    ("conv1_pad", []),
    ("conv1", [("kernel", (3, 3, 3, 2)), ("bias", (2,))]),
    ("bn_conv1", [("gamma", (2,)), ("beta", (2,)), ("moving_mean", (2,)), ("moving_variance", (2,))]),
    ("activation_1", []),
    ("max_pooling2d_1", []),
    ("res2a_branch2a", [("kernel", (1, 1, 2, 2)), ("bias", (2,))]),
    ("bn2a_branch2a", [("gamma", (2,)), ("beta", (2,)), ("moving_mean", (2,)), ("moving_variance", (2,))]),
    ("res2a_branch1", [("kernel", (1, 1, 2, 4)), ("bias", (4,))]),
    ("bn2a_branch1", [("gamma", (4,)), ("beta", (4,)), ("moving_mean", (4,)), ("moving_variance", (4,))]),
    ("res3b_branch2c", [("kernel", (1, 1, 2, 4)), ("bias", (4,))]),
    ("bn3b_branch2c", [("gamma", (4,)), ("beta", (4,)), ("moving_mean", (4,)), ("moving_variance", (4,))]),
    ("res5c_branch2b", [("kernel", (3, 3, 2, 2)), ("bias", (2,))]),
    ("avg_pool", []),
    ("fc1000", [("kernel", (4, 3)), ("bias", (3,))]),
]


def string_type(attr_id):
    """(is_vlen, strpad, cset) of an attribute's string type, for the asserts."""
    import h5py
    t = attr_id.get_type()
    assert t.get_class() == h5py.h5t.STRING, t
    return bool(t.is_variable_str()), t.get_strpad(), t.get_cset()


def put_list(obj, name, values, form):
    """Writes a string-list attribute the way a given h5py/Keras wrote it.

    fixed: numpy 'S' array (h5py 2, and Keras's chunks) -> fixed NULLPAD ASCII
    vlen:  a list of bytes (h5py >= 3)                   -> vlen ASCII
    utf8:  a list of str                                  -> vlen UTF-8
    utf8-fixed: fixed-length UTF-8 NULLPAD
    An empty list is stored as h5py stores [] (float64, shape (0,)), in every form.
    """
    import h5py
    import numpy as np
    if not values:
        obj.attrs[name] = [] if form != "fixed" else np.asarray([])
        a = obj.attrs[name]
        assert a.dtype == np.float64 and a.shape == (0,), (name, a.dtype, a.shape)
        return
    if form == "fixed":
        obj.attrs[name] = np.array([v.encode("utf8") for v in values], dtype="S")
        vlen, pad, cset = string_type(obj.attrs.get_id(name))
        assert not vlen and pad == h5py.h5t.STR_NULLPAD and cset == h5py.h5t.CSET_ASCII
    elif form == "vlen":
        obj.attrs[name] = [v.encode("utf8") for v in values]
        vlen, _, cset = string_type(obj.attrs.get_id(name))
        assert vlen and cset == h5py.h5t.CSET_ASCII
    elif form == "utf8":
        obj.attrs[name] = list(values)
        vlen, _, cset = string_type(obj.attrs.get_id(name))
        assert vlen and cset == h5py.h5t.CSET_UTF8
    elif form == "utf8-fixed":
        width = max(len(v.encode("utf8")) for v in values)
        obj.attrs.create(name, np.array([v.encode("utf8") for v in values], dtype=f"S{width}"),
                         dtype=h5py.string_dtype("utf-8", width))
        vlen, pad, cset = string_type(obj.attrs.get_id(name))
        assert not vlen and pad == h5py.h5t.STR_NULLPAD and cset == h5py.h5t.CSET_UTF8
    else:
        raise ValueError(form)


def put_chunked_list(obj, name, values, chunks):
    """Keras's chunked form: np.array_split of an 'S' array into name0, name1, ..."""
    import numpy as np
    data = np.array([v.encode("utf8") for v in values], dtype="S")
    for i, part in enumerate(np.array_split(data, chunks)):
        obj.attrs[f"{name}{i}"] = part
    assert name not in obj.attrs


def write_legacy(container, spec, *, form="fixed", colon=True, order="model", dtypes=None,
                 weight_name=None, chunk_layer_names=0, chunk_weight_names=None, layer_form=None):
    """One group per layer with weight_names; datasets opened by those names.

    weight_name(layer, short) gives the stored name (default "<layer>/<short>[:0]").
    dtypes maps (layer, short) to a numpy dtype (default little-endian float32).
    """
    dtypes = dtypes or {}
    chunk_weight_names = chunk_weight_names or {}
    names = [layer for layer, _ in spec]
    if chunk_layer_names:
        put_chunked_list(container, "layer_names", names, chunk_layer_names)
    else:
        put_list(container, "layer_names", names, layer_form or form)
    ks = {}
    for li, (layer, weights) in enumerate(spec):
        for wi, (short, _) in enumerate(weights):
            ks[(layer, short)] = 16 * li + wi + 1
    # Keras 2.2.4 creates the groups in model order, v2.15 / Keras 3 in name order.
    for layer, weights in (spec if order == "model" else sorted(spec)):
        g = container.create_group(layer)
        stored = [(weight_name(layer, short) if weight_name else f"{layer}/{short}" + (":0" if colon else ""))
                  for short, _ in weights]
        if layer in chunk_weight_names:
            put_chunked_list(g, "weight_names", stored, chunk_weight_names[layer])
        else:
            put_list(g, "weight_names", stored, form)
        for (short, shape), name in zip(weights, stored):
            dtype = dtypes.get((layer, short), "<f4")
            g.create_dataset(name, data=value_pattern(ks[(layer, short)], shape, dtype))


def write_keras3(parent, root, layers, track=None):
    """Keras 3 .weights.h5: <root>/<group>/vars/<i>.

    layers: (group, name_attr or None, [(k, shape)], nested or None), nested = (root, layers).
    track=True records link creation order (h5py track_order).
    """
    base = parent.create_group(root, track_order=track)
    for group, name_attr, weights, nested in layers:
        g = base.create_group(group, track_order=track)
        v = g.create_group("vars", track_order=track)
        if name_attr is not None:
            v.attrs["name"] = name_attr  # a str: vlen UTF-8, as Keras writes it
        for i, (k, shape) in enumerate(weights):
            v.create_dataset(str(i), data=value_pattern(k, shape, "<f4"))
        if nested:
            write_keras3(g, nested[0], nested[1], track)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        import h5py
        import numpy as np
    except ImportError as e:
        sys.exit(f"make_h5_fixtures.py: {e}. Install python3-h5py and python3-numpy "
                 f"(scripts/install_deps.sh).")
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def new(name, **kw):
        return h5py.File(out / name, "w", **kw)

    def scalar_bytes(obj, **attrs):
        for k, v in attrs.items():
            obj.attrs[k] = v.encode("utf8")  # bytes scalar -> vlen ASCII (h5py 2 and 3)

    # h5py 2 style (the published ResNet files): fixed-length NULLPAD lists.
    with new("legacy_h5py2.h5") as f:
        write_legacy(f, MODEL, form="fixed")
        scalar_bytes(f, backend="tensorflow", keras_version="2.2.4")
        assert f.attrs["layer_names"].dtype == np.dtype("S11")  # "predictions" fills all 11 bytes

    # h5py 3 style: vlen lists, groups in name order, a float64 and a big-endian dataset.
    with new("legacy_h5py3.h5") as f:
        write_legacy(f, MODEL, form="vlen", order="name",
                     dtypes={("predictions", "kernel"): "<f8", ("predictions", "bias"): ">f4"})
        scalar_bytes(f, backend="tensorflow", keras_version="2.15.0")

    # Chunked layer_names0..2 and weight_names0..1.
    with new("legacy_chunked.h5") as f:
        write_legacy(f, MODEL, chunk_layer_names=3, chunk_weight_names={"conv1_bn": 2})
        scalar_bytes(f, backend="tensorflow", keras_version="2.15.0")
        assert "layer_names2" in f.attrs and "weight_names1" in f["conv1_bn"].attrs

    # Full model (model.save): weights under /model_weights; str attrs at the root are UTF-8.
    full = MODEL + [("tête", [("kernel", (2, 2))])]
    with new("full_model.h5") as f:
        f.attrs["model_config"] = json.dumps({"class_name": "Functional", "config": {"name": "model"}})
        f.attrs["training_config"] = json.dumps({"loss": "categorical_crossentropy"})
        f.attrs["keras_version"] = "2.15.0"  # str -> vlen UTF-8
        f.attrs["backend"] = "tensorflow"
        mw = f.create_group("model_weights")
        write_legacy(mw, full, form="fixed", layer_form="utf8")
        del mw["tête"].attrs["weight_names"]
        put_list(mw["tête"], "weight_names", ["tête/kernel:0"], "utf8-fixed")
        scalar_bytes(mw, backend="tensorflow", keras_version="2.15.0")
        f.create_group("optimizer_weights").create_dataset("Adam/iter:0", data=np.int64(7))
        assert string_type(f.attrs.get_id("keras_version"))[2] == h5py.h5t.CSET_UTF8

    # Keras 3's legacy writer: weight names are w.path, without ":0".
    with new("legacy_no_colon.h5") as f:
        write_legacy(f, MODEL, form="vlen", colon=False, order="name")
        scalar_bytes(f, backend="tensorflow", keras_version="3.3.3")

    # fchollet's names, h5py 2 era.
    with new("legacy_fchollet.h5") as f:
        write_legacy(f, FCHOLLET, form="fixed")
        scalar_bytes(f, backend="tensorflow", keras_version="2.1.3")

    # Keras 1 weight names: "<layer>_W:0" directly under the layer group, no keras_version.
    keras1 = [("conv1", [("W", (3, 3, 3, 2)), ("b", (2,))]),
              ("bn_conv1", [("gamma", (2,)), ("beta", (2,)), ("running_mean", (2,)), ("running_std", (2,))]),
              ("fc1000", [("W", (2, 3)), ("b", (3,))])]
    with new("legacy_keras1.h5") as f:
        write_legacy(f, keras1, form="fixed", weight_name=lambda layer, short: f"{layer}_{short}:0")
        assert "conv1_W:0" in f["conv1"]

    # A ResNet50 nested in a Sequential (tf.keras): the inner layers' weights sit
    # under the outer layer's group. "dense" holds TF1-uniquified names (dense_1/...).
    nested = [("input_2", []),
              ("resnet50", [("conv1_conv/kernel", (3, 3, 3, 2)), ("conv1_conv/bias", (2,)),
                            ("conv1_bn/gamma", (2,)), ("conv1_bn/beta", (2,)),
                            ("conv1_bn/moving_mean", (2,)), ("conv1_bn/moving_variance", (2,))]),
              ("flatten", []),
              ("dense", [("kernel", (2, 3)), ("bias", (3,))])]

    def nested_name(layer, short):
        if layer == "resnet50":
            return short + ":0"
        return f"dense_1/{short}:0" if layer == "dense" else f"{layer}/{short}:0"

    with new("legacy_nested.h5") as f:
        write_legacy(f, nested, form="vlen", weight_name=nested_name)
        scalar_bytes(f, backend="tensorflow", keras_version="2.15.0")
        assert "resnet50/conv1_conv/kernel:0" in f and "dense/dense_1/kernel:0" in f

    # Keras 3 .weights.h5 (>= 3.6: each vars group carries the layer name).
    # No creation order in the file: the reader lists groups in natural order.
    k3 = [("batch_normalization", "conv1_bn", [(1, (4,)), (2, (4,)), (3, (4,)), (4, (4,))], None),
          ("conv2d", "conv1_conv", [(5, (3, 3, 2, 4)), (6, (4,))], None),
          ("conv2d_2", None, [(7, (1, 1, 4, 4))], None),
          ("conv2d_10", None, [(8, (2,)), (9, (2,)), (10, (2,))], None),
          ("dense", "predictions", [(11, (4, 3)), (12, (3,))], None),
          ("input_layer", "input_layer", [], None),
          ("re_lu", "conv1_relu", [], None)]
    with new("keras3.weights.h5") as f:
        creation = [k3[i] for i in (5, 1, 0, 6, 3, 2, 4)]  # not the listing order
        write_keras3(f, "layers", creation)
        f.create_group("vars")
        f.create_group("optimizer").create_group("vars").create_dataset("0", data=np.int64(3))

    # Keras 2.13-2.15 "v3" format: _layer_checkpoint_dependencies, no name
    # attributes; here with creation order tracked (h5py track_order=True),
    # which the reader then follows, and a nested model.
    with new("keras2_v3.weights.h5", track_order=True) as f:
        inner = ("_layer_checkpoint_dependencies", [("inner_dense", None, [(30, (2, 3)), (31, (3,))], None)])
        write_keras3(f, "_layer_checkpoint_dependencies", [
            ("input_1", None, [], None),
            ("zeta_conv", None, [(20, (1, 1, 2, 2)), (21, (2,))], None),
            ("alpha_bn", None, [(22, (2,)), (23, (2,)), (24, (2,)), (25, (2,))], None),
            ("functional_1", None, [], inner)], track=True)
        g = f["_layer_checkpoint_dependencies"]
        assert list(g.keys()) == ["input_1", "zeta_conv", "alpha_bn", "functional_1"], list(g.keys())

    # ---- bad files -----------------------------------------------------------
    (out / "empty.h5").write_bytes(b"")
    data = (out / "legacy_h5py2.h5").read_bytes()
    assert len(data) > 2000, len(data)
    (out / "truncated.h5").write_bytes(data[:1000])
    (out / "text.h5").write_text("this is a text file, not HDF5\n" * 20)
    with new("missing_dataset.h5") as f:
        write_legacy(f, MODEL)
        del f["conv1_conv/conv1_conv/bias:0"]
    with new("string_dataset.h5") as f:
        write_legacy(f, MODEL)
        del f["conv1_conv/conv1_conv/kernel:0"]
        f["conv1_conv"].create_dataset("conv1_conv/kernel:0", data=np.array([b"not", b"floats"]))
    with new("missing_layer_group.h5") as f:
        write_legacy(f, MODEL)
        put_list(f, "layer_names", [n for n, _ in MODEL] + ["ghost"], "fixed")
    with new("int_weight_names.h5") as f:
        write_legacy(f, MODEL)
        f["conv1_conv"].attrs["weight_names"] = np.array([1, 2], dtype=np.int64)
    with new("unrecognised.h5") as f:
        f.create_dataset("images", data=np.zeros((2, 2), dtype=np.uint8))
        f.attrs["note"] = "not keras"

    write_keras_archives(out)
    print(f"make_h5_fixtures.py: wrote {len(list(out.glob('*.h5')))} files to {out}")


# A .keras archive as Keras 3 writes it (model.save('m.keras')): a zip of
# metadata.json, config.json and model.weights.h5, every member ZIP_STORED.
# Its config.json follows Keras 3.15's for the nested-Sequential recipe
# (tests/data/keras_layer_order/README.md), with 100 classes; the weights are
# only the last Dense (a tiny file), in the 3.0-3.5 layout (no vars@name).
KERAS_CONFIG = {
    "module": "keras", "class_name": "Sequential", "registered_name": None,
    "config": {"name": "sequential", "trainable": True, "dtype": "float32", "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
         "config": {"batch_shape": [None, 48, 48, 3], "dtype": "float32", "sparse": False, "name": "input_layer"}},
        {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
         "config": {"name": "resnet50", "trainable": True, "layers": [
             {"class_name": "InputLayer", "config": {"batch_shape": [None, 48, 48, 3], "name": "input_layer_1"}},
             {"class_name": "Conv2D", "config": {"name": "conv1_conv", "filters": 64}}]}},
        {"module": "keras.layers", "class_name": "GlobalAveragePooling2D", "registered_name": None,
         "config": {"name": "global_average_pooling2d", "data_format": "channels_last", "keepdims": False}},
    ] + [layer for i, w in enumerate([256, 128, 64]) for layer in (
        {"module": "keras.layers", "class_name": "BatchNormalization", "registered_name": None,
         "config": {"name": "batch_normalization" + (f"_{i}" if i else ""), "momentum": 0.99, "epsilon": 0.001}},
        {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
         "config": {"name": "dense" + (f"_{i}" if i else ""), "units": w, "activation": "relu"}},
        {"module": "keras.layers", "class_name": "Dropout", "registered_name": None,
         "config": {"name": "dropout" + (f"_{i}" if i else ""), "rate": 0.3}})] + [
        {"module": "keras.layers", "class_name": "Dense", "registered_name": None,
         "config": {"name": "dense_3", "units": 100, "activation": "softmax"}}]}}


def write_keras_archives(out):
    import io
    import zipfile

    import h5py
    import numpy as np
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("vars")
        v = f.create_group("layers/dense_3/vars")
        v["0"] = np.arange(64 * 100, dtype=np.float32).reshape(64, 100) / 1000
        v["1"] = np.zeros(100, dtype=np.float32)
        f.create_group("optimizer/vars")["0"] = np.int64(7)  # a compiled model's: not a layer
    members = {"metadata.json": json.dumps({"keras_version": "3.5.0", "date_saved": "2026-01-01@00:00:00"}),
               "config.json": json.dumps(KERAS_CONFIG), "model.weights.h5": buf.getvalue()}
    for name, compression in (("keras_archive.keras", zipfile.ZIP_STORED),
                              ("keras_archive_deflated.keras", zipfile.ZIP_DEFLATED)):
        with zipfile.ZipFile(out / name, "w", compression=compression) as z:
            for member, data in members.items():
                z.writestr(member, data)
    data = (out / "keras_archive.keras").read_bytes()
    (out / "keras_archive_truncated.keras").write_bytes(data[: len(data) // 2])
    damaged = bytearray(data)
    damaged[data.index(b'"Sequential"') + 2] ^= 1  # one flipped bit inside config.json: a CRC-32 mismatch
    (out / "keras_archive_bad_crc.keras").write_bytes(bytes(damaged))


if __name__ == "__main__":
    main()
