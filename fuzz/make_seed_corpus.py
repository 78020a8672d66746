#!/usr/bin/python3
"""Writes the committed seed corpus of the fuzz targets (docs/fuzzing.md).

    /usr/bin/python3 fuzz/make_seed_corpus.py        # rewrites fuzz/corpus/<target>/seed-*

A few valid and a few broken inputs per target, small (tens of KB in all),
reproducible (fixed pixel values, PIL's encoders). Files named seed-* are
this script's; any other file in fuzz/corpus/<target>/ is a reproducer kept
from a fuzzing run (regression-*), which the script leaves alone.
"""
import io
import json
import os
import struct
import zipfile
import zlib

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def write(target, name, data):
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(folder, "seed-" + name), "wb") as f:
        f.write(data)


def clear_seeds(target):
    folder = os.path.join(CORPUS, target)
    if os.path.isdir(folder):
        for name in os.listdir(folder):
            if name.startswith("seed-"):
                os.remove(os.path.join(folder, name))


# ------------------------------------------------------------------ cifar10 --
# fuzz_cifar10.cpp: byte 0 options, [byte 1 = L and L bytes of batches.meta.txt
# when bit 2 is set], then the batch file (records of 3073 bytes).
def cifar_record(label, seed):
    pixels = bytes((seed * 7 + i * 13) & 0xFF for i in range(3072))  # planar R, G, B
    return bytes([label]) + pixels


def cifar_input(options, records, meta=None):
    out = bytes([options])
    if options & 4:
        m = meta.encode()
        assert len(m) < 256
        out += bytes([len(m)]) + m
    return out + b"".join(records)


def cifar10():
    one, two = cifar_record(3, 1), cifar_record(7, 2)
    meta = "\n".join(CLASSES) + "\n"
    write("cifar10", "test-2-records", cifar_input(0x01, [one, two]))
    write("cifar10", "train-nested-meta", cifar_input(0x02 | 0x04 | 0x08, [one], meta))
    write("cifar10", "size-from-file", cifar_input(0x10, [two]))
    write("cifar10", "bad-label", cifar_input(0x00, [cifar_record(10, 3)]))
    write("cifar10", "truncated", cifar_input(0x00, [one[:-1]]))
    write("cifar10", "meta-9-classes-crlf", cifar_input(0x04, [one], "\r\n".join(CLASSES[:9]) + "\r\n\r\n"))
    write("cifar10", "train-missing-file", cifar_input(0x08 | 0x20, [one]))
    write("cifar10", "size-not-whole-records", cifar_input(0x10, [one[:100]]))


# -------------------------------------------------------------------- image --
def pixels(w, h, mode="RGB"):
    img = Image.new(mode, (w, h))
    bands = len(mode) if mode in ("RGB", "RGBA", "CMYK") else 1
    for y in range(h):
        for x in range(w):
            v = [(x * 60 + y * 30 + c * 90) % 256 for c in range(bands)]
            img.putpixel((x, y), tuple(v) if bands > 1 else v[0])
    return img


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_adam7(img):
    """An interlaced (Adam7) 8-bit RGB PNG: PIL cannot write one."""
    w, h = img.size
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        xs, ys = range(x0, w, dx), range(y0, h, dy)
        if not xs or not ys:
            continue
        for y in ys:
            raw += b"\x00" + b"".join(bytes(img.getpixel((x, y))) for x in xs)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) +
            png_chunk(b"IEND", b""))


def png_claiming(w, h):
    """A valid PNG header that claims w x h, with a tiny IDAT (a decompression bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64)) +
            png_chunk(b"IEND", b""))


def jpeg_claiming(jpeg, w, h):
    """Patches the SOF marker's height and width."""
    data = bytearray(jpeg)
    i = 2
    while i + 4 <= len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5:i + 9] = struct.pack(">HH", h, w)
            return bytes(data)
        i += 2 + length
    raise ValueError("no SOF marker")


def image():
    rgb = pixels(5, 3)
    jpg = encode(rgb, "JPEG", quality=90)
    write("image", "rgb.jpg", jpg)
    write("image", "gray.jpg", encode(pixels(3, 2, "L"), "JPEG"))
    write("image", "cmyk.jpg", encode(pixels(2, 2, "CMYK"), "JPEG"))
    write("image", "progressive.jpg", encode(pixels(9, 7), "JPEG", progressive=True, quality=80))
    write("image", "truncated.jpg", jpg[: len(jpg) // 2])
    write("image", "claims-60000x60000.jpg", jpeg_claiming(jpg, 60000, 60000))
    write("image", "rgb.png", encode(rgb, "PNG"))
    write("image", "palette.png", encode(rgb.convert("P", palette=Image.ADAPTIVE, colors=4), "PNG"))
    write("image", "gray16.png", encode(pixels(3, 2, "I;16"), "PNG"))
    write("image", "rgba.png", encode(pixels(3, 2, "RGBA"), "PNG"))
    write("image", "interlaced.png", png_adam7(pixels(9, 6)))
    write("image", "truncated.png", encode(rgb, "PNG")[:40])
    write("image", "claims-60000x60000.png", png_claiming(60000, 60000))
    write("image", "rgb.ppm", b"P6\n# tl\n3 2\n255\n" + bytes(range(18)))
    write("image", "gray-maxval15.pgm", b"P5 2\t2 15\r" + bytes([0, 5, 15, 8]))
    write("image", "truncated.ppm", b"P6\n4 4\n255\n" + bytes(10))
    write("image", "claims-60000x60000.ppm", b"P6\n60000 60000\n255\n" + bytes(30))
    write("image", "pgm-sample-above-maxval.pgm", b"P5\n2 1\n7\n" + bytes([3, 200]))
    write("image", "not-an-image.txt", "just text\n")


# --------------------------------------------------------------- run_config --
def run_config(**changes):
    """The JSON apps/run_config.cpp run_config_json writes (same keys, same order)."""
    c = {
        "format": "tl-run-config-1", "image_size": 32, "pool": "avg", "classes": 10, "dropout": 0.5,
        "bn_momentum": 0.99000001, "class_names": CLASSES, "dataset": "cifar10", "synthetic_size": 6000,
        "train_images": 45000, "train_fingerprint": "0123456789abcdef", "val_images": 5000,
        "val_fingerprint": "fedcba9876543210", "test_images": 10000, "test_fingerprint": "00112233445566ff",
        "subset": 0, "test_subset": 0, "val_split": 0.1, "seed": 0, "epochs": 10, "batch_size": 32,
        "optimizer": "sgd", "lr": 0.00999999978, "backbone_lr": 0.000999999931, "momentum": 0.899999976,
        "nesterov": False, "weight_decay": 0.000500000024, "schedule": "cosine", "warmup_epochs": 0,
        "step_epochs": 3, "step_gamma": 0.100000001, "freeze": "none", "frozen_bn": "inference",
        "augment": True, "weights": "weights-cache/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
    }
    for k, v in changes.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return json.dumps(c)


def run_config_corpus():
    write("run_config", "valid.json", run_config())
    write("run_config", "valid-folder-flatten.json",
          run_config(pool="flatten", image_size=224, classes=3, class_names=["a \"b\"", "c\\d", "\u00e9t\u00e9\u0001"],
                     dataset="folder", weights="none", weights_missing="w.h5", seed=18446744073709551615))
    write("run_config", "empty-object.json", "{}")
    write("run_config", "missing-classes.json", run_config(classes=None))
    write("run_config", "truncated.json", run_config()[:200])
    write("run_config", "nested.json", '{"a": {"b": 1}, "c": [1, 2]}')
    write("run_config", "resume-differs.json", run_config(batch_size=16, seed=3, class_names=CLASSES[::-1]))


# ------------------------------------------------------------------ history --
def epoch(n, **changes):
    e = {"epoch": n, "train_loss": 1.25 / n, "train_accuracy": 0.5 + 0.01 * n, "val_loss": 1.5 / n,
         "val_accuracy": 0.45 + 0.01 * n, "learning_rate": 0.01, "seconds": 12.5, "images_per_second": 4000}
    e.update(changes)
    return e


def partial(**changes):
    p = {"partial_epoch": 3, "batches_done": 5, "seen": 160, "correct": 80, "loss_sum": "0x1.8p+7", "seconds": 1.5}
    p.update(changes)
    return p


def history():
    dump = lambda items: json.dumps(items, separators=(",", ":"))
    write("history", "two-epochs.json", dump([epoch(1), epoch(2)]))
    write("history", "partial.json", dump([epoch(1), epoch(2), partial()]))
    write("history", "empty.json", "[]")
    write("history", "null-values.json", dump([epoch(1, val_loss=None, val_accuracy=None)]))
    write("history", "partial-not-last.json", dump([partial(), epoch(1)]))
    write("history", "partial-inconsistent.json", dump([partial(correct=999)]))
    write("history", "missing-key.json", '[{"epoch": 1, "train_loss": 0.5}]')
    write("history", "unterminated.json", '[{"epoch": 1, "train_loss": 0.5')


# ------------------------------------------------------------------ options --
def argv(*args, sep="\n"):
    return sep.join(args)


def options():
    write("options", "typical", argv("--dataset", "cifar10", "--data-dir", "data", "--epochs", "10",
                                     "--batch-size", "32", "--lr", "0.01", "--pool", "avg"))
    write("options", "quick-output", argv("--output-dir", "runs/x y", "--quick", "--seed=7"))
    write("options", "resume-auto", argv("--resume", "--epochs=3", "--stop-after-epochs", "1"))
    write("options", "resume-path-inexact", argv("--resume", "runs/it's/last.h5", "--resume-inexact",
                                                 "--batch-size=8"))
    write("options", "freeze-nul-separated", argv("--freeze", "up-to:3", "--image-size", "64", "--nesterov",
                                                  "--optimizer", "adamw", "--schedule", "step", "--step-gamma",
                                                  "0.5", sep="\0"))
    write("options", "unknown-flag", argv("--epoch", "3"))
    write("options", "bad-values", argv("--epochs", "0", "--lr", "nan"))
    write("options", "missing-value", argv("--seed"))
    write("options", "image-size-too-large", argv("--image-size", "100000"))
    write("options", "help", argv("-h"))


# --------------------------------------------------------------- keras_json --
def keras_config(size=224, pool="Flatten", units=(256, 128, 64, 10), rate=0.5):
    """A small config.json of the shape Keras 3 writes for the recipe's model
    (the nested ResNet50 left empty: tl reads only the outer layers)."""
    layers = [{"module": "keras.layers", "class_name": "InputLayer",
               "config": {"batch_shape": [None, size, size, 3], "dtype": "float32", "name": "input_layer"}},
              {"module": "keras.src.models.functional", "class_name": "Functional",
               "config": {"name": "resnet50", "layers": [], "input_layers": [], "output_layers": []}},
              {"module": "keras.layers", "class_name": pool, "config": {"name": pool.lower()}}]
    for i, u in enumerate(units):
        if i < len(units) - 1:
            layers.append({"class_name": "BatchNormalization", "config": {"epsilon": 0.001, "momentum": 0.99}})
        layers.append({"class_name": "Dense", "config": {"units": u, "activation": "relu" if i < 3 else "softmax"}})
        if i < len(units) - 1:
            layers.append({"class_name": "Dropout", "config": {"rate": rate}})
    return json.dumps({"module": "keras", "class_name": "Sequential",
                       "config": {"name": "sequential", "trainable": True, "layers": layers},
                       "build_config": {"input_shape": [None, size, size, 3]}}, separators=(",", ":"))


def keras_json():
    write("keras_json", "flatten-224.json", keras_config())
    write("keras_json", "avg-32-100-classes.json", keras_config(32, "GlobalAveragePooling2D", (256, 128, 64, 100), 0.25))
    write("keras_json", "other-head.json", keras_config(units=(512, 10)))
    write("keras_json", "no-layers.json", '{"class_name": "Sequential", "config": {"name": "s"}}')
    write("keras_json", "json-syntax.json", '[1, -0.5e+3, true, false, null, "a\\u00e9\\n", {"k": []}]')
    write("keras_json", "deep.json", "[" * 300 + "]" * 300)
    write("keras_json", "truncated.json", keras_config()[:150])


# --------------------------------------------------------------- stored_zip --
def zip_bytes(members, method=zipfile.ZIP_STORED, comment=b""):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
        z.comment = comment
    return buf.getvalue()


class Unseekable(io.RawIOBase):
    """A write-only stream: zipfile then writes data descriptors (flag bit 3)."""
    def __init__(self):
        self.data = bytearray()
    def writable(self):
        return True
    def write(self, b):
        self.data += b
        return len(b)


def stored_zip():
    keras = [("metadata.json", '{"keras_version": "3.5.0", "date_saved": "2025-01-01@00:00:00"}'),
             ("config.json", keras_config(32, "GlobalAveragePooling2D")[:300]),
             ("model.weights.h5", b"\x89HDF\r\n\x1a\n" + bytes(range(56)))]
    archive = zip_bytes(keras)
    write("stored_zip", "keras-archive.zip", archive)
    write("stored_zip", "comment.zip", zip_bytes(keras[:1], comment=b"made by hand"))
    write("stored_zip", "empty.zip", zip_bytes([]))
    write("stored_zip", "deflated.zip", zip_bytes(keras[:2], zipfile.ZIP_DEFLATED))
    write("stored_zip", "truncated.zip", archive[: len(archive) - 30])
    stream = Unseekable()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_STORED) as z:
        z.writestr(zipfile.ZipInfo("a.txt", date_time=(1980, 1, 1, 0, 0, 0)), "data descriptor follows")
    write("stored_zip", "data-descriptor.zip", bytes(stream.data))
    bad_crc = bytearray(zip_bytes(keras[:1]))
    bad_crc[30 + len("metadata.json")] ^= 1  # one bit of the member's data
    write("stored_zip", "bad-crc.zip", bytes(bad_crc))


# ------------------------------------------------------------ known findings --
# (The calls below written as write(..., "fixed-...") were findings once and
# are fixed: they are corpus seeds now, so the replay keeps guarding them.)
# Inputs that fail today, found by fuzzing, in code this folder does not own
# (docs/fuzzing.md lists each with its cause). Not replayed by CI;
# scripts/fuzz.sh --replay --findings runs them. Once fixed, move the file
# to fuzz/corpus/<target>/ so the replay keeps guarding it.
def finding(target, name, data):
    folder = os.path.join(HERE, "findings", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "known-" + name), "wb") as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def local_header(name, data):
    crc = zlib.crc32(data) & 0xFFFFFFFF
    return struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(name), 0) + name


def central_entry(name, data, offset):
    crc = zlib.crc32(data) & 0xFFFFFFFF
    return struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0x21, crc, len(data), len(data),
                       len(name), 0, 0, 0, 0, 0, offset) + name


def nested_zip():
    inner_data = b"x" * 1000
    inner = local_header(b"inner", inner_data) + inner_data
    outer = local_header(b"outer", inner) + inner  # outer's data IS the inner member
    cd = central_entry(b"outer", inner, 0) + central_entry(b"inner", inner_data, len(outer) - len(inner))
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(cd), len(outer), 0)
    return outer + cd + end


def known_findings():
    for target in ("run_config", "history", "options", "stored_zip", "keras_json"):
        folder = os.path.join(HERE, "findings", target)
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.startswith("known-"):
                    os.remove(os.path.join(folder, name))
    valid = run_config()
    # apps/json.cpp: "\u" + 4 non-hex characters -> std::stoi throws std::invalid_argument.
    write("run_config", "fixed-json-u-escape-not-hex.json", '{"pool": "\\uzzzz"}')
    # apps/run_config.cpp: std::stoll / std::stof on a recorded value that is not a number or is out of range.
    write("run_config", "fixed-image-size-not-a-number.json", valid.replace('"image_size": 32', '"image_size": "x"'))
    write("run_config", "fixed-image-size-out-of-range.json",
            valid.replace('"image_size": 32', '"image_size": 99999999999999999999'))
    write("run_config", "fixed-dropout-out-of-float-range.json", valid.replace('"dropout": 0.5', '"dropout": 1e39'))
    # apps/run_config.cpp: "dropout": nan is accepted; run_config_json then writes null, which it cannot read back.
    write("run_config", "fixed-dropout-nan-not-readable-after-write.json", valid.replace('"dropout": 0.5', '"dropout": nan'))
    # apps/trainer.cpp parse_epoch: static_cast<int64_t> of a NaN / huge "epoch" (UBSan float-cast-overflow).
    write("history", "fixed-epoch-null.json", json.dumps([epoch(1, epoch=None)], separators=(",", ":")))
    write("history", "fixed-epoch-1e300.json", json.dumps([epoch(1)]).replace('"epoch": 1,', '"epoch": 1e300,'))
    write("history", "fixed-json-u-escape-not-hex.json", '[{"\\uzzzz": 1}]')
    # weights/stored_zip.cpp: members may overlap. Member "outer" stores, as its data, the whole
    # of member "inner" (local header and data): the members hold more bytes than the archive,
    # and n nested members give ~n times the file size (Fifield's overlapping-file zip bomb).
    finding("stored_zip", "nested-members.zip", nested_zip())
    # weights/stored_zip.cpp: a member with an empty name is read, but write_stored_zip refuses it.
    finding("stored_zip", "empty-member-name.zip", zip_bytes([("", "data")]))
    # weights/keras_model_file.cpp: nothing bounds what config.json claims: an input of 100000 x 100000
    # (a Flatten head of 20 billion features), 0 classes, a dropout rate of 2; and numbers too large for
    # int64_t are cast unchecked (UB): "units" (line 134) and "batch_shape" (line 72).
    finding("keras_json", "input-size-100000.json", keras_config(100000))
    finding("keras_json", "zero-classes.json", keras_config(units=(256, 128, 64, 0)))
    finding("keras_json", "dropout-rate-2.json", keras_config(rate=2.0))
    write("keras_json", "fixed-units-1e400.json", keras_config().replace('"units":10,', '"units":1e400,'))
    write("keras_json", "fixed-batch-shape-1e19.json", keras_config().replace("[null,224,224,3]", "[null,1e19,1e19,3]", 1))
    # apps/options.cpp resume_command_line: the VALUE "--resume" of another flag is dropped as if it were the flag.
    finding("options", "resume-as-flag-value", argv("--data-dir", "--resume", "--epochs", "3"))
    finding("options", "resume-eq-as-flag-value", argv("--output-dir", "--resume=x"))


def main():
    for target in ("cifar10", "image", "run_config", "history", "options", "keras_json", "stored_zip"):
        clear_seeds(target)
    cifar10()
    image()
    run_config_corpus()
    history()
    options()
    keras_json()
    stored_zip()
    known_findings()
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(CORPUS) for f in fs)
    print(f"make_seed_corpus: wrote {CORPUS} ({total / 1024:.1f} KiB in all)")


if __name__ == "__main__":
    main()
