#!/usr/bin/env python3
"""tl against PyTorch on the same GPU, in the same run: the project's
performance headline (bench/RESULTS.md, "tl / PyTorch on the GPU").

The model is the one bench/compare_torch.py uses (Keras's ResNet50 v1 + the
reference head as an nn.Module, checked there against
tests/reference/ref_model.py, the model the parity tests compare tl with),
run the way a PyTorch user gets the most out of it on an H200:
channels_last (NHWC, like tl), torch.backends.cudnn.benchmark = True, the
batch and the uint8 images already on the GPU. Each step is what tl's
bench/bench_e2e.cpp times: uint8 32x32 RGB -> bilinear resize to 224 +
'caffe' preprocessing -> forward -> softmax cross-entropy -> backward -> Adam
(lr 1e-3, eps 1e-7); inference is eval mode under torch.no_grad(). Every
timed step ends with a device synchronisation on both sides.

Precisions, the same switches on both sides:
  fp32   strict FP32: TF32 off in cuDNN and cuBLAS (tl's default)
  tf32   TF32 tensor cores for convolutions and matmuls (tl: --precision tf32)
  bf16   PyTorch autocast to bfloat16 (AMP; TF32 for what stays FP32); tl:
         --precision bf16 (the backbone's activations in bfloat16, cuDNN's
         bf16 convolutions on the tensor cores, float32 head)

For each round, for each precision: tl (bench_e2e, a fresh process) then
PyTorch (this process; cuDNN's benchmark cache is warm after the first
round, as it would be in training). A figure is the median over rounds of
each run's median step time.

  python3 bench/compare_torch_gpu.py --tl-bench build/bench/bench_e2e
      [--precisions fp32,tf32,bf16] [--rounds 1] [--warmup 5] [--iters 20]
      [--json PATH] [--markdown PATH]
  python3 bench/compare_torch_gpu.py --rehearse ...   # on a CPU: the same
      code path at 32x32 (tl's train32 case), FP32 only, to check the script

Exit status: 0 when every tl and PyTorch run finished, 1 otherwise (the
table is still printed, with the failures named).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare_torch as ct  # noqa: E402  (the model and its check, shared)

# name in bench_e2e, training?, image size, batch
GPU_CASES = [("train224", True, 224, 64), ("infer224b64", False, 224, 64)]
REHEARSAL_CASES = [("train32", True, 32, 64)]
PRECISIONS = ("fp32", "tf32", "bf16")
TL_PRECISIONS = ("fp32", "tf32", "bf16")  # what bench_e2e --precision accepts


def set_precision(torch, precision):
    tf32 = precision != "fp32"
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32  # PyTorch's default is True: set it either way


def torch_case(torch, Model, case, precision, warmup, iters, device):
    F = torch.nn.functional
    name, train, size, batch = case
    set_precision(torch, precision)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    fmt = torch.channels_last
    model = Model(size).to(device=device, memory_format=fmt)
    g = torch.Generator().manual_seed(12345)
    images = torch.randint(0, 256, (batch, 32, 32, 3), dtype=torch.uint8, generator=g).to(device)
    labels = (torch.arange(batch) * 7 % 10).to(device)
    mean = torch.tensor(ct.MEAN_BGR, device=device).view(1, 3, 1, 1)
    amp = precision == "bf16"

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    def preprocess():  # uint8 NHWC RGB -> float BGR NCHW (channels_last), resized, minus the means
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
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=amp):
                logits = model(preprocess())
            loss = F.cross_entropy(logits.float(), labels)
            loss.backward()
            opt.step()
            loss_value = loss.item()  # tl reads its loss every step too
    else:
        model.eval()

        def step():
            with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=amp):
                model(preprocess()).float().sum().item()

    for _ in range(warmup):
        step()
    sync()
    seconds = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        sync()
        seconds.append(time.perf_counter() - t0)
    med = statistics.median(seconds)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"median_seconds": med, "images_per_second": batch / med, "seconds": seconds,
            "trainable_parameters": trainable, "last_loss": loss_value}


def tl_cases(args, cases, precision, device):
    """One bench_e2e process for all cases of one precision; {name: result}."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "e2e.json")
        cmd = [args.tl_bench, "--device", device, "--precision", precision,
               "--only", ",".join(c[0] for c in cases), "--warmup", str(args.warmup),
               "--iters", str(args.iters), "--json", path]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.tl_timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n"
                               f"{(proc.stdout + proc.stderr)[-2000:]}")
        with open(path) as f:
            return {c["name"]: c for c in json.load(f)["cases"]}


def fmt_ips(v):
    return f"{v:,.0f}" if isinstance(v, (int, float)) else str(v)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tl-bench", default=os.path.join(ct.ROOT, "build", "bench", "bench_e2e"))
    ap.add_argument("--precisions", default=",".join(PRECISIONS))
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--tl-timeout", type=int, default=240, help="seconds per bench_e2e process")
    ap.add_argument("--json", default="", help="write the results here")
    ap.add_argument("--markdown", default="", help="write the table here")
    ap.add_argument("--rehearse", action="store_true",
                    help="CPU only: tl's train32 case against PyTorch at 32x32, FP32")
    args = ap.parse_args()

    import torch
    device = "cpu" if args.rehearse else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        print(f"compare_torch_gpu: PyTorch {torch.__version__} sees no GPU "
              f"(torch.cuda.is_available() is False); nothing to compare", flush=True)
        return 2
    cases = REHEARSAL_CASES if args.rehearse else GPU_CASES
    precisions = [p for p in args.precisions.split(",") if p]
    for p in precisions:
        if p not in PRECISIONS:
            ap.error(f"unknown precision {p!r}; choose from {','.join(PRECISIONS)}")
    if args.rehearse:
        precisions = ["fp32"]  # TF32 and BF16 autocast are GPU features
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))

    Model = ct.build_model_class(torch)
    check = ct.check_against_reference(torch, Model)
    gpu = torch.cuda.get_device_name(0) if device == "cuda" else ct.cpu_model()
    print(f"PyTorch {torch.__version__} (cuDNN {torch.backends.cudnn.version()}) on {gpu}; "
          f"model check against ref_model.py: "
          f"{'max |diff| %.2g' % check if check is not None else 'skipped'}", flush=True)

    runs = {}  # (precision, case) -> {"tl": [...], "torch": [...], "errors": [...]}
    failures = 0
    for rnd in range(args.rounds):
        for p in precisions:
            if p in TL_PRECISIONS:
                try:
                    t0 = time.time()
                    tl = tl_cases(args, cases, p, device)
                    print(f"round {rnd + 1} {p} tl: " + ", ".join(
                        f"{n} {tl[n]['images_per_second']:.1f} img/s" for n in tl) +
                        f" ({time.time() - t0:.0f}s)", flush=True)
                except (RuntimeError, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as e:
                    tl, failures = {}, failures + 1
                    print(f"round {rnd + 1} {p} tl FAILED: {e}", flush=True)
            else:
                tl = {}
            for case in cases:
                r = runs.setdefault((p, case[0]), {"tl": [], "torch": [], "errors": [],
                                                   "tl_params": None, "torch_params": None})
                if case[0] in tl:
                    r["tl"].append(tl[case[0]]["median_seconds"])
                    r["tl_params"] = tl[case[0]]["trainable_parameters"]
                try:
                    t0 = time.time()
                    res = torch_case(torch, Model, case, p, args.warmup, args.iters, device)
                    r["torch"].append(res["median_seconds"])
                    r["torch_params"] = res["trainable_parameters"]
                    print(f"round {rnd + 1} {p} torch {case[0]}: {res['images_per_second']:.1f} img/s "
                          f"({time.time() - t0:.0f}s)", flush=True)
                except Exception as e:  # noqa: BLE001  (an OOM or a cuDNN error: record it, go on)
                    failures += 1
                    r["errors"].append(f"torch: {type(e).__name__}: {e}")
                    print(f"round {rnd + 1} {p} torch {case[0]} FAILED: {e}", flush=True)
                if device == "cuda":
                    torch.cuda.empty_cache()

    rows = []
    for (p, name), r in runs.items():
        batch = next(c[3] for c in cases if c[0] == name)
        tl_ips = batch / statistics.median(r["tl"]) if r["tl"] else None
        th_ips = batch / statistics.median(r["torch"]) if r["torch"] else None
        ratio = tl_ips / th_ips if tl_ips and th_ips else None
        if r["tl_params"] and r["torch_params"] and r["tl_params"] != r["torch_params"]:
            failures += 1
            r["errors"].append(f"trainable parameters differ: tl {r['tl_params']}, "
                               f"PyTorch {r['torch_params']}")
        rows.append({"precision": p, "case": name, "batch": batch, "tl_images_per_second": tl_ips,
                     "torch_images_per_second": th_ips, "ratio_tl_over_torch": ratio,
                     "tl_median_seconds": r["tl"], "torch_median_seconds": r["torch"],
                     "trainable_parameters": r["tl_params"] or r["torch_params"],
                     "errors": r["errors"]})

    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"tl / PyTorch {torch.__version__} on {gpu}, {stamp}; channels_last, "
             f"cudnn.benchmark, {args.rounds} round(s) x {args.iters} steps (median)", "",
             "| precision | case | tl img/s | PyTorch img/s | tl / PyTorch |",
             "|---|---|---:|---:|---:|"]
    for row in rows:
        tl_txt = fmt_ips(row["tl_images_per_second"]) if row["tl_images_per_second"] else (
            "n/a" if row["precision"] not in TL_PRECISIONS else "failed")
        th_txt = fmt_ips(row["torch_images_per_second"]) if row["torch_images_per_second"] else "failed"
        ratio = f"**{row['ratio_tl_over_torch']:.2f}**" if row["ratio_tl_over_torch"] else "-"
        lines.append(f"| {row['precision']} | {row['case']} | {tl_txt} | {th_txt} | {ratio} |")
    for row in rows:
        for e in row["errors"]:
            lines.append(f"- {row['precision']} {row['case']}: {e}")
    table = "\n".join(lines)
    print(table, flush=True)
    result = {"tool": "compare_torch_gpu", "date": stamp, "device": gpu,
              "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
              "rehearsal": args.rehearse, "rounds": args.rounds, "warmup": args.warmup,
              "iters": args.iters, "rows": rows, "failures": failures}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
