#!/usr/bin/env python3
"""tl against TensorFlow/Keras on the CPU, end to end: the same model, the
same steps, the same thread count, measured in one invocation.

The Keras model is the one the reference recipe names:
keras.applications.ResNet50(include_top=False, weights=None) + the reference
head as tl builds it (layers/classifier.h): Flatten -> 3 x
[BatchNormalization(epsilon 1e-3, momentum 0.99) -> Dense(256/128/64, relu)
-> Dropout(0.5)] -> Dense(10), Keras's default initialisers. A layer in
front of it takes the uint8 32x32 RGB batch to the model's input:
tf.image.resize (bilinear, half-pixel centres, no antialiasing: what tl's
ops::preprocess_caffe does) + keras.applications.resnet50.preprocess_input
('caffe': RGB -> BGR, minus the ImageNet means). Before anything is timed,
the Keras model's trainable-parameter count is checked against the one tl's
bench_e2e reports for each case (and again on every run).

  train32   training step, 32x32, batch 64: model.train_on_batch, i.e. resize
            + preprocess -> forward -> sparse categorical cross-entropy from
            logits -> gradients -> Adam(1e-3, epsilon 1e-7), all in ONE
            tf.function, the one model.fit runs per step. No XLA:
            jit_compile=False, which is also what compile()'s default "auto"
            resolves to on a machine without a GPU.
  infer224  inference, 224x224 (from 32x32), batch 8: model(x, training=False)
            in a tf.function (jit_compile=False), the logits read back.
  train64   training step, 64x64 (from 32x32), batch 32, as train32.

Threads: TensorFlow gets --threads intra-op threads and 1 inter-op thread
(tf.config.threading), tl --threads threads of its own pool. TensorFlow
computes with its own Eigen thread pool and oneDNN (built on that pool), not
with OpenMP or OpenBLAS, so OMP_WAIT_POLICY and OPENBLAS_CORETYPE do not
reach it (the worker reports whether libgomp was loaded). Both pools spin
briefly before they sleep. OMP_WAIT_POLICY no longer reaches tl either
(runtime/thread_pool.h), so one policy is measured by default; --policies
still runs tl once per policy beside the same Keras run (results from before
tl had its own pool, in bench/RESULTS.md, differ by policy). Runs are interleaved, each in a fresh
process: for each round, for each case, tl (bench_e2e) under the first
policy, Keras, then tl under each other policy; Keras runs once per round
and case (the policy cannot change it, and its first step, which traces and
optimises the graph, takes a minute) and stands beside each of tl's. A
figure is the median over rounds of each run's median step time (the range
over rounds in brackets in the Markdown table).

TensorFlow and Keras live in a virtual environment of this script's own
(default bench/out/keras-venv, created on first use, then reused):
TF_REQUIREMENTS below, from PyPI (about 1.6 GB installed, a minute or two).
--python uses an existing interpreter that has them instead. Nothing else in
tl needs TensorFlow (the test suite does not run this script).

  /usr/bin/python3 bench/compare_keras.py [--tl-bench build/bench/bench_e2e]
      [--venv bench/out/keras-venv | --python PATH] [--out-dir bench/out]
      [--rounds 3] [--warmup 2] [--iters 5] [--threads 2]
      [--only train32,infer224] [--policies default,passive]

Writes <out-dir>/compare_keras.json and compare_keras.md.
"""
import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time

from compare_common import (CASES, HERE, ROOT, check_tl_bench, cpu_model, json_child, now,
                            result_rows, run_interleaved, select_cases, select_policies,
                            set_openblas_coretype, tl_run, write_results)

TF_REQUIREMENTS = ["tensorflow-cpu==2.21.*", "keras==3.15.*"]
HEAD_UNITS = (256, 128, 64)
CLASSES = 10
WHO = "compare_keras"


# --- the Keras side (runs in the worker, under the virtual environment's Python) ---

def worker_env():
    """Before TensorFlow is imported: quiet logs, and the CPU only (a GPU wheel must not use one)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""


def import_tf(threads):
    worker_env()
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.set_visible_devices([], "GPU")
    import keras
    return tf, keras


def build_keras_model(tf, keras, size):
    """uint8 (B, 32, 32, 3) RGB -> logits (B, 10): resize + 'caffe', ResNet50, the reference head."""

    class ResizeCaffe(keras.layers.Layer):
        """What tl's ops::preprocess_caffe does: bilinear (half-pixel) resize, RGB -> BGR, minus the means."""

        def __init__(self, size, **kwargs):
            super().__init__(**kwargs)
            self.size = size

        def call(self, images):
            x = tf.cast(images, tf.float32)
            if self.size != 32:
                x = tf.image.resize(x, (self.size, self.size), method="bilinear")
            return keras.applications.resnet50.preprocess_input(x)

    images = keras.Input((32, 32, 3), dtype="uint8", name="images")
    x = ResizeCaffe(size, name="resize_caffe")(images)
    backbone = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(size, size, 3))
    x = backbone(x)
    x = keras.layers.Flatten()(x)
    for units in HEAD_UNITS:
        x = keras.layers.BatchNormalization(epsilon=1e-3, momentum=0.99)(x)
        x = keras.layers.Dense(units, activation="relu")(x)
        x = keras.layers.Dropout(0.5)(x)
    logits = keras.layers.Dense(CLASSES)(x)
    return keras.Model(images, logits, name=f"resnet50_head_{size}")


def trainable_count(model):
    return sum(math.prod(v.shape) for v in model.trainable_weights)


def libgomp_loaded():
    try:
        with open("/proc/self/maps") as f:
            return any("libgomp" in line for line in f)
    except OSError:
        return False


def versions(tf, keras):
    import numpy as np
    try:
        from tensorflow.python.util import _pywrap_util_port
        onednn = bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        onednn = None
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0], "onednn": onednn,
            "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(unset: on)"),
            "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
            "libgomp_loaded": libgomp_loaded()}


def keras_info(args):
    """Versions and each case's trainable-parameter count (models built, nothing run)."""
    tf, keras = import_tf(args.threads)
    counts = {}
    for name, _, _, size, _ in select_cases(None, args.only):
        counts[name] = trainable_count(build_keras_model(tf, keras, size))
        keras.backend.clear_session()
    print(json.dumps({**versions(tf, keras), "trainable_parameters": counts}))


def keras_worker(args):
    """One run of one case; prints a JSON record like bench_e2e's per-case one."""
    tf, keras = import_tf(args.threads)
    import numpy as np
    name, _, train, size, batch = next(c for c in CASES if c[0] == args.keras_worker)
    keras.utils.set_random_seed(0)
    model = build_keras_model(tf, keras, size)
    rng = np.random.default_rng(12345)
    images = tf.constant(rng.integers(0, 256, (batch, 32, 32, 3), dtype=np.uint8))
    labels = tf.constant((np.arange(batch) * 7 % 10).astype(np.int32))

    loss_value = None
    if train:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3, epsilon=1e-7),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                      jit_compile=False)

        def step():
            nonlocal loss_value
            loss_value = float(np.ravel(model.train_on_batch(images, labels))[0])  # syncs
    else:
        infer = tf.function(lambda x: model(x, training=False), jit_compile=False)

        def step():
            infer(images).numpy()

    first = None
    for i in range(args.warmup):
        t0 = time.perf_counter()
        step()
        if i == 0:
            first = time.perf_counter() - t0  # tracing + graph optimisation + a step
    seconds = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - t0)
    med = statistics.median(seconds)
    if train and not np.isfinite(loss_value):
        raise SystemExit(f"{WHO}: {name}: the Keras loss became {loss_value}")
    print(json.dumps({"seconds": seconds, "median_seconds": med, "images_per_second": batch / med,
                      "first_step_seconds": first, "trainable_parameters": trainable_count(model),
                      "last_loss": loss_value, **versions(tf, keras)}))


# --- the driver (plain Python 3) ---

def ensure_venv(path):
    """The virtual environment's Python, with TF_REQUIREMENTS installed (created on first use)."""
    python = os.path.join(path, "bin", "python")
    probe = [python, "-c", "import tensorflow, keras"]
    if os.path.exists(python) and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    if not os.path.exists(python):
        print(f"{WHO}: creating a virtual environment in {path}", flush=True)
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
    print(f"{WHO}: installing {' '.join(TF_REQUIREMENTS)} into it from PyPI (about 1.6 GB)", flush=True)
    subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check", *TF_REQUIREMENTS],
                   check=True)
    if subprocess.run(probe).returncode != 0:
        raise SystemExit(f"{WHO}: {python} still cannot import tensorflow and keras")
    return python


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tl-bench", default=os.path.join(ROOT, "build", "bench", "bench_e2e"))
    ap.add_argument("--out-dir", default=os.path.join(HERE, "out"))
    ap.add_argument("--venv", default=os.path.join(HERE, "out", "keras-venv"),
                    help="virtual environment for TensorFlow + Keras (created and filled when missing)")
    ap.add_argument("--python", help="an interpreter that already has tensorflow and keras (skips --venv)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--policies", default="default",
                    help="OMP_WAIT_POLICY values for tl's runs, each beside the same Keras run "
                         "(default, passive, active); it no longer changes tl, whose pool is its own")
    ap.add_argument("--keras-worker", help=argparse.SUPPRESS)  # internal: one Keras run
    ap.add_argument("--keras-info", action="store_true", help=argparse.SUPPRESS)  # internal
    args = ap.parse_args()
    if args.keras_worker:
        return keras_worker(args)
    if args.keras_info:
        return keras_info(args)
    cases = select_cases(ap, args.only)
    policies = select_policies(ap, args.policies)
    check_tl_bench(ap, args.tl_bench)
    if args.warmup < 1:
        ap.error("--warmup must be >= 1: Keras's first step traces and optimises the graph")

    set_openblas_coretype()  # for tl; TensorFlow does not use OpenBLAS
    python = args.python or ensure_venv(args.venv)
    me = os.path.abspath(__file__)
    names = ",".join(c[0] for c in cases)

    # Start-up check: the same trainable-parameter count on both sides, per case.
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    info = json_child(WHO, "the Keras start-up check",
                      [python, me, "--keras-info", "--only", names, "--threads", str(args.threads)], env)
    tl_counts = {r["name"]: r["trainable_parameters"]
                 for r in tl_run(WHO, args.tl_bench, [c[0] for c in cases], 0, 1, args.threads, env)}
    for name in tl_counts:
        if tl_counts[name] != info["trainable_parameters"][name]:
            raise SystemExit(f"{WHO}: {name}: tl has {tl_counts[name]} trainable parameters, "
                             f"Keras {info['trainable_parameters'][name]}: not the same model")
    print(f"TensorFlow {info['tensorflow']}, Keras {info['keras']} ({python}); {info['intra_op_threads']} "
          f"intra-op + {info['inter_op_threads']} inter-op threads; oneDNN {info['onednn']}; libgomp loaded: "
          f"{info['libgomp_loaded']}. tl: {args.threads} threads, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE') or '(unset)'}. Trainable parameters, equal on both sides: "
          + ", ".join(f"{n} {tl_counts[n]:,}" for n in tl_counts), flush=True)

    def tl_one(case, env):
        return tl_run(WHO, args.tl_bench, [case[0]], args.warmup, args.iters, args.threads, env)[0]

    def keras_one(case, env):
        cmd = [python, me, "--keras-worker", case[0], "--warmup", str(args.warmup), "--iters",
               str(args.iters), "--threads", str(args.threads)]
        return json_child(WHO, f"the Keras run of {case[0]}", cmd, env)

    runs, load_before, load_after = run_interleaved(WHO, "Keras", args.rounds, policies, cases,
                                                    args.threads, tl_one, keras_one,
                                                    other_reads_policy=False)
    rows = result_rows(runs, policies, cases, "keras")

    meta = {"date": now(), "cpu": cpu_model(), "cores": os.cpu_count(), "threads": args.threads,
            "tensorflow": info["tensorflow"], "keras": info["keras"], "numpy": info["numpy"],
            "keras_python": python, "onednn": info["onednn"],
            "TF_ENABLE_ONEDNN_OPTS": info["TF_ENABLE_ONEDNN_OPTS"],
            "keras_intra_op_threads": info["intra_op_threads"],
            "keras_inter_op_threads": info["inter_op_threads"],
            "keras_libgomp_loaded": info["libgomp_loaded"],
            "keras_training_step": "model.train_on_batch, jit_compile=False (one tf.function per step)",
            "keras_inference": "tf.function(model(x, training=False)), jit_compile=False",
            "tl_gemm_backend": rows[0]["tl_runs"][0]["gemm_backend"],
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", ""), "policies": policies,
            "rounds": args.rounds, "warmup": args.warmup, "iterations": args.iters,
            "load_average_before": load_before, "load_average_after": load_after}
    title = (f"tl vs Keras {info['keras']} on TensorFlow {info['tensorflow']}, CPU ({meta['cpu']}, "
             f"{args.threads} threads), {meta['date']}; median of {args.rounds} interleaved runs x "
             f"{args.iters} steps (range over runs in brackets); load average {load_before[0]:.2f} "
             f"before, {load_after[0]:.2f} after")
    table = write_results(args.out_dir, "compare_keras", meta, rows, "keras", "Keras", title,
                          policy_header="OpenMP waiting (tl's)", ranges=True)
    print("\n" + table)
    print(f"\nwrote {os.path.join(args.out_dir, 'compare_keras.json')} and compare_keras.md")


if __name__ == "__main__":
    main()
