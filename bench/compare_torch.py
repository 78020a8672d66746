#!/usr/bin/env python3
"""tl against PyTorch on the CPU, end to end: the same model, the same steps,
the same thread count, measured in one invocation.

The model is Keras's ResNet50 v1 + the reference head, written here as an
nn.Module (nn.Conv2d / nn.BatchNorm2d / nn.Linear, float32, NCHW: what a
PyTorch user would write) that is checked at start-up against the functional
Keras-equivalent model of tests/reference/ref_model.py, the one the parity
tests compare tl with: identical eval-mode logits in float64 on shared
random weights, and the same trainable-parameter count as tl reports. So:
conv biases everywhere, the stride on the first 1x1 conv of a downsampling
block, Keras's paddings, BN eps 1.001e-5 (backbone) and 1e-3 (head),
Flatten in NHWC order, 3 x [BN -> Dense ReLU -> Dropout 0.5] -> Dense 10.

Each step is what tl's bench/bench_e2e.cpp (and apps/trainer.cpp) does:
uint8 32x32 RGB -> bilinear resize to the model's resolution + Keras 'caffe'
preprocessing -> forward -> softmax cross-entropy -> backward -> Adam
(lr 1e-3, eps 1e-7); inference is eval mode under torch.no_grad().

  train32   training step, 32x32, batch 64
  infer224  inference, 224x224 (from 32x32), batch 8
  train64   training step, 64x64 (from 32x32), batch 32

Both sides run with the same thread count (2), each run in a fresh process.
PyTorch's threads are libgomp's, so two OpenMP wait policies are measured
for it (see POLICIES in bench/compare_common.py): libgomp's default, what a
plain PyTorch script gets (fastest on an idle machine), and passive (robust
when the machine is shared). tl's threads are its own pool, which the policy
does not reach; tl runs beside each. To cancel drift on a noisy machine the
runs are interleaved: for each round, for each policy, for each case, tl
(bench_e2e) then PyTorch. A figure is the median over rounds of each run's
median step time. --busy N keeps N cores busy meanwhile (a shared machine).

  /usr/bin/python3 bench/compare_torch.py [--tl-bench build/bench/bench_e2e]
      [--out-dir bench/out] [--rounds 3] [--warmup 2] [--iters 5] [--threads 2]
      [--only train32,infer224] [--policies default,passive] [--busy N] [--torch-channels-last]

Writes <out-dir>/compare_torch.json and compare_torch.md (the machinery is
bench/compare_common.py, shared with bench/compare_keras.py). OPENBLAS_CORETYPE
is set to SkylakeX on AVX-512 CPUs when unset (before torch is imported, so
both sides get the same BLAS kernels), as apps/train_cifar does.
"""
import argparse
import json
import os
import statistics
import sys
import time

# The cases, the environment of a run, tl's side, the interleaving and the
# tables are shared with compare_keras.py; ROOT, MEAN_BGR and cpu_model are
# also compare_torch_gpu.py's, through this module.
from compare_common import (busy_processes, CASES, HERE, MEAN_BGR, ROOT, check_tl_bench, cpu_model, json_child,
                            now, result_rows, run_interleaved, select_cases, select_policies,
                            set_openblas_coretype, tl_run, write_results)

BACKBONE_EPS, HEAD_EPS = 1.001e-5, 1e-3
STAGES = [(2, 64, 3, 1), (3, 128, 4, 2), (4, 256, 6, 2), (5, 512, 3, 2)]  # stage, filters, blocks, stride


def build_model_class(torch):
    nn, F = torch.nn, torch.nn.functional

    class KerasResNet50Head(nn.Module):
        """Keras ResNet50 v1 + the reference head; modules named as Keras's layers."""

        def __init__(self, image_size, classes=10, dropout=0.5):
            super().__init__()
            L = {}

            def conv(name, cin, cout, k, stride=1, pad=0):
                L[name] = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=True)

            def bn(name, c):  # Keras momentum 0.99 keeps 99%: PyTorch's 0.01
                L[name] = nn.BatchNorm2d(c, eps=BACKBONE_EPS, momentum=0.01)

            conv("conv1_conv", 3, 64, 7, stride=2, pad=3)  # ZeroPadding2D(3) + 'valid' conv
            bn("conv1_bn", 64)
            cin = 64
            for stage, f, blocks, stride in STAGES:
                for b in range(1, blocks + 1):
                    p, s = f"conv{stage}_block{b}_", (stride if b == 1 else 1)
                    if b == 1:
                        conv(p + "0_conv", cin, 4 * f, 1, stride=s)
                        bn(p + "0_bn", 4 * f)
                    conv(p + "1_conv", cin, f, 1, stride=s)  # Keras: the stride is on the first 1x1
                    bn(p + "1_bn", f)
                    conv(p + "2_conv", f, f, 3, pad=1)
                    bn(p + "2_bn", f)
                    conv(p + "3_conv", f, 4 * f, 1)
                    bn(p + "3_bn", 4 * f)
                    cin = 4 * f
            side = -(-image_size // 32)  # the backbone's output side
            width = side * side * 2048  # Flatten
            for i, h in enumerate([256, 128, 64]):
                sfx = "" if i == 0 else f"_{i}"
                L["batch_normalization" + sfx] = nn.BatchNorm1d(width, eps=HEAD_EPS, momentum=0.01)
                L["dense" + sfx] = nn.Linear(width, h)
                width = h
            L["dense_3"] = nn.Linear(width, classes)
            self.layers = nn.ModuleDict(L)
            self.dropout = dropout
            for m in self.modules():  # Keras defaults: glorot-uniform kernels, zero biases
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.zeros_(m.bias)

        def forward(self, x):  # x: NCHW, 'caffe'-preprocessed
            L = self.layers
            x = F.relu(L["conv1_bn"](L["conv1_conv"](x)), inplace=True)
            x = F.max_pool2d(x, 3, 2, padding=1)  # = Keras's zero pad (input >= 0) + 'valid' pool
            for stage, _, blocks, _ in STAGES:
                for b in range(1, blocks + 1):
                    p = f"conv{stage}_block{b}_"
                    shortcut = L[p + "0_bn"](L[p + "0_conv"](x)) if b == 1 else x
                    h = F.relu(L[p + "1_bn"](L[p + "1_conv"](x)), inplace=True)
                    h = F.relu(L[p + "2_bn"](L[p + "2_conv"](h)), inplace=True)
                    h = L[p + "3_bn"](L[p + "3_conv"](h))
                    x = F.relu(h + shortcut, inplace=True)
            h = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # Keras Flatten: NHWC order
            for i in range(3):
                sfx = "" if i == 0 else f"_{i}"
                h = F.relu(L["dense" + sfx](L["batch_normalization" + sfx](h)), inplace=True)
                h = F.dropout(h, self.dropout, self.training)
            return L["dense_3"](h)

    return KerasResNet50Head


def check_against_reference(torch, Model):
    """Same architecture as tests/reference/ref_model.py: equal eval logits (float64)."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
    try:
        import numpy as np
        import ref_model as R  # needs h5py too
    except ImportError as e:  # e.g. a GPU machine without h5py: the parameter-count check remains
        print(f"compare_torch: skipping the check against ref_model.py ({e})", flush=True)
        return None

    size, batch = 64, 2
    rng = np.random.default_rng(7)
    layers = R.backbone_layers() + R.head_layers((size // 32) ** 2 * 2048)
    weights = R.random_weights(layers, rng)
    ref = R.KerasResNet50Head(weights)
    model = Model(size).double().eval()
    names = {n for n, _, _ in layers}
    if names != set(model.layers.keys()):
        raise SystemExit(f"compare_torch: layer names differ from ref_model.py: "
                         f"{sorted(names ^ set(model.layers.keys()))[:5]}")
    with torch.no_grad():
        for name, kind, _ in layers:
            m, w = model.layers[name], weights[name]
            if kind == "conv":
                m.weight.copy_(torch.from_numpy(w["kernel"]).permute(3, 2, 0, 1))  # HWIO -> OIHW
                m.bias.copy_(torch.from_numpy(w["bias"]))
            elif kind == "dense":
                m.weight.copy_(torch.from_numpy(w["kernel"]).t())  # (in, out) -> (out, in)
                m.bias.copy_(torch.from_numpy(w["bias"]))
            else:
                m.weight.copy_(torch.from_numpy(w["gamma"]))
                m.bias.copy_(torch.from_numpy(w["beta"]))
                m.running_mean.copy_(torch.from_numpy(w["moving_mean"]))
                m.running_var.copy_(torch.from_numpy(w["moving_variance"]))
        x = torch.tensor(rng.normal(0, 50, (batch, size, size, 3)), dtype=torch.float64)
        expected = ref.forward(x, training=False)
        actual = model(x.permute(0, 3, 1, 2).contiguous())
    err = (actual - expected).abs().max().item()
    scale = expected.abs().max().item()
    if not err <= 1e-9 * max(1.0, scale):  # float64, the same operations: rounding only
        raise SystemExit(f"compare_torch: the nn.Module differs from ref_model.py: max |diff| {err:.3g}")
    return err


def torch_run(torch, Model, case, warmup, iters, channels_last=False):
    F = torch.nn.functional
    name, _, train, size, batch = case
    torch.manual_seed(0)
    model = Model(size)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    g = torch.Generator().manual_seed(12345)
    images = torch.randint(0, 256, (batch, 32, 32, 3), dtype=torch.uint8, generator=g)
    labels = torch.arange(batch) * 7 % 10
    mean = torch.tensor(MEAN_BGR).view(1, 3, 1, 1)

    def preprocess():  # uint8 NHWC RGB -> float NCHW BGR, resized, minus the means
        x = images.permute(0, 3, 1, 2).flip(1).float()
        if size != 32:
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        return (x - mean).contiguous(memory_format=fmt)

    loss_value = None
    if train:
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)

        def step():
            nonlocal loss_value
            opt.zero_grad(set_to_none=True)  # as tl's zero_grad: drop the gradients
            loss = F.cross_entropy(model(preprocess()), labels)
            loss_value = loss.item()
            loss.backward()
            opt.step()
    else:
        model.eval()

        def step():
            with torch.no_grad():
                model(preprocess()).sum().item()

    for _ in range(warmup):
        step()
    seconds = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        seconds.append(time.perf_counter() - t0)
    med = statistics.median(seconds)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"seconds": seconds, "median_seconds": med, "images_per_second": batch / med,
            "trainable_parameters": trainable, "last_loss": loss_value}


def torch_child(args, case, env):
    """The PyTorch side of one run, in a fresh process (this script, --torch-worker)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--torch-worker", case[0], "--warmup",
           str(args.warmup), "--iters", str(args.iters), "--threads", str(args.threads)]
    if args.torch_channels_last:
        cmd.append("--torch-channels-last")
    return json_child("compare_torch", f"the PyTorch run of {case[0]}", cmd, env)


def torch_worker(args):
    import torch
    torch.set_num_threads(args.threads)
    case = next(c for c in CASES if c[0] == args.torch_worker)
    r = torch_run(torch, build_model_class(torch), case, args.warmup, args.iters,
                  args.torch_channels_last)
    print(json.dumps(r))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tl-bench", default=os.path.join(ROOT, "build", "bench", "bench_e2e"))
    ap.add_argument("--out-dir", default=os.path.join(HERE, "out"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--policies", default="default,passive",
                    help="OpenMP wait policies to measure, each for both sides: default, passive, active")
    ap.add_argument("--busy", type=int, default=0,
                    help="run this many busy processes (one core each) beside the measurement")
    ap.add_argument("--torch-channels-last", action="store_true",
                    help="run PyTorch in channels_last (NHWC) memory format instead of its default NCHW")
    ap.add_argument("--torch-worker", help=argparse.SUPPRESS)  # internal: one PyTorch run
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args)
    cases = select_cases(ap, args.only)
    policies = select_policies(ap, args.policies)
    check_tl_bench(ap, args.tl_bench)

    # Before torch is imported (here and in the workers): OpenBLAS reads it once, at load.
    set_openblas_coretype()
    import torch
    torch.set_num_threads(args.threads)
    err = check_against_reference(torch, build_model_class(torch))
    check = "not checked" if err is None else f"eval logits, float64: max |diff| {err:.2g}"
    print(f"PyTorch {torch.__version__}, {args.threads} threads, OPENBLAS_CORETYPE="
          f"{os.environ.get('OPENBLAS_CORETYPE') or '(unset)'}; nn.Module == ref_model.py "
          f"({check})", flush=True)

    def tl_one(case, env):
        return tl_run("compare_torch", args.tl_bench, [case[0]], args.warmup, args.iters,
                      args.threads, env)[0]

    with busy_processes(args.busy):
        runs, load_before, load_after = run_interleaved(
            "compare_torch", "PyTorch", args.rounds, policies, cases, args.threads, tl_one,
            lambda case, env: torch_child(args, case, env))
    rows = result_rows(runs, policies, cases, "torch")

    meta = {"date": now(), "cpu": cpu_model(),
            "cores": os.cpu_count(), "threads": args.threads, "torch": torch.__version__,
            "tl_gemm_backend": rows[0]["tl_runs"][0]["gemm_backend"],
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE", ""), "policies": policies,
            "torch_memory_format": "channels_last" if args.torch_channels_last else "NCHW (default)",
            "rounds": args.rounds, "warmup": args.warmup, "iterations": args.iters,
            "busy_processes": args.busy,
            "load_average_before": load_before, "load_average_after": load_after}
    title = (f"tl vs PyTorch {torch.__version__} ({meta['torch_memory_format']}), CPU ({meta['cpu']}, "
             f"{args.threads} threads), {meta['date']}; median of {args.rounds} interleaved runs x "
             f"{args.iters} steps; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
             + (f"; {args.busy} busy process(es) beside" if args.busy else ""))
    table = write_results(args.out_dir, "compare_torch", meta, rows, "torch", "PyTorch", title)
    print("\n" + table)
    print(f"\nwrote {os.path.join(args.out_dir, 'compare_torch.json')} and compare_torch.md")

if __name__ == "__main__":
    main()
