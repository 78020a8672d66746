"""What bench/compare_torch.py and bench/compare_keras.py share: tl against
another framework on the same CPU, end to end, in one invocation.

  * the cases (the same ones as bench/bench_e2e.cpp) and the CPU facts;
  * the environment of a child process: OpenMP thread count and wait policy,
    OpenBLAS's kernel set (both read once, when the libraries load, hence a
    fresh process per run);
  * one tl run: bench_e2e for one case, its --json parsed;
  * one run of the other framework: a worker process whose last stdout line
    is a JSON object (the same fields as bench_e2e's per-case record);
  * the interleaved rounds (for each round, for each wait policy, for each
    case: tl, then the other side; or, when the wait policy cannot reach the
    other side, one run of it per round and case between tl's runs under
    each policy; the two must report the same trainable-parameter count),
    the medians, the JSON and Markdown tables.

A figure is the median over rounds of each run's median step time, so one
slow round (a neighbour's compile) moves it little. Plain Python 3, no
packages: the framework itself is imported by the workers only.
"""
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CASES = [  # name, description, train, image size, batch: as in bench_e2e.cpp
    ("train32", "training step, 32x32, batch 64, Adam", True, 32, 64),
    ("infer224", "inference, 224x224 (from 32x32), batch 8", False, 224, 8),
    ("train64", "training step, 64x64 (from 32x32), batch 32, Adam", True, 64, 32),
]
MEAN_BGR = (103.939, 116.779, 123.68)  # Keras's 'caffe' preprocessing, subtracted after RGB -> BGR


def cpu_has_avx512f():
    try:
        with open("/proc/cpuinfo") as f:
            return any(line.startswith("flags") and " avx512f" in line for line in f)
    except OSError:
        return False


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown"


def set_openblas_coretype():
    """OPENBLAS_CORETYPE=SkylakeX on AVX-512 CPUs when unset, as apps/train_cifar does.

    Call before anything loads OpenBLAS; the children inherit it.
    """
    if not os.environ.get("OPENBLAS_CORETYPE") and cpu_has_avx512f():
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"
    return os.environ.get("OPENBLAS_CORETYPE", "")


# OpenMP waiting, for the other side (PyTorch runs on libgomp's threads),
# each run in its own process since libgomp reads it once, at start-up. tl's
# CPU loops run on its own pool (runtime/thread_pool.h: a 50 us spin, then
# sleep), which the policy does not reach; tl is run beside each policy all
# the same, so every row is a same-moment pair:
#   default  libgomp's own (OMP_WAIT_POLICY empty): a thread that finishes a
#            parallel region spins a while, then sleeps. What a plain PyTorch
#            script gets. Fastest on an idle machine; on one shared with
#            other work (compiles) spinning threads burn the time slices the
#            others need, and steps get 2-15x slower (bench/RESULTS.md).
#   passive  threads sleep at once: robust to load, but every parallel
#            region pays a wake-up (tens of microseconds in this VM).
#   active   spin without end (for experiments).
POLICIES = {"default": "", "passive": "passive", "active": "active"}


def child_env(threads, policy):
    env = dict(os.environ)
    env["OMP_WAIT_POLICY"] = POLICIES[policy]  # empty: libgomp's default (bench_e2e keeps it)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


@contextlib.contextmanager
def busy_processes(count):
    """`count` processes that each keep one core busy (a loop in Python) while
    the block runs: the machine shared with other work, reproducibly. Where
    threads that spin while they wait for each other lose their time slices
    to these, a framework's throughput collapses (bench/RESULTS.md)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
            p.wait()


def select_cases(ap, only):
    """The CASES named in --only (comma-separated; all when empty); ap.error on an unknown one."""
    if not only:
        return list(CASES)
    wanted = only.split(",")
    unknown = set(wanted) - {c[0] for c in CASES}
    if unknown:
        ap.error(f"unknown case(s) {sorted(unknown)}; known: {[c[0] for c in CASES]}")
    return [c for c in CASES if c[0] in wanted]


def select_policies(ap, policies):
    chosen = policies.split(",")
    if set(chosen) - set(POLICIES):
        ap.error(f"unknown policy in {chosen}; known: {list(POLICIES)}")
    return chosen


def check_tl_bench(ap, path):
    if not os.access(path, os.X_OK):
        ap.error(f"{path} is not an executable; build it (bench/run_cpu.sh) or pass --tl-bench")


def tl_run(who, tl_bench, cases, warmup, iters, threads, env):
    """bench_e2e for `cases` (names) in one process; returns its --json per-case records."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "e2e.json")
        cmd = [tl_bench, "--only", ",".join(cases), "--warmup", str(warmup), "--iters",
               str(iters), "--threads", str(threads), "--json", path]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{who}: {' '.join(cmd)} failed:\n{proc.stdout}{proc.stderr}")
        with open(path) as f:
            data = json.load(f)
    for r in data["cases"]:
        r["gemm_backend"] = data["gemm_backend"]
    return data["cases"]


def json_child(who, what, cmd, env):
    """Runs a worker; returns the JSON object on the last line of its stdout."""
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{who}: {what} failed:\n{proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_interleaved(who, label, rounds, policies, cases, threads, tl_one, other_one,
                    other_reads_policy=True):
    """The measurement, `rounds` times over.

    tl_one(case, env) and other_one(case, env) return one run's record (with
    median_seconds, images_per_second, trainable_parameters). Each round:
      other_reads_policy (the other side uses libgomp too): for each policy,
        for each case, tl then the other side, both under that policy;
      else (the policy cannot change the other side): for each case, tl under
        the first policy, the other side once, then tl under each remaining
        policy; the other side's run stands beside every policy's tl run.
    Returns (runs, load average before, load average after), runs[(policy,
    case name)] = {"tl": [records], "other": [records]}.
    """
    load_before = os.getloadavg()
    runs = {(pol, c[0]): {"tl": [], "other": []} for pol in policies for c in cases}

    def record(rnd, pol, case, t, o):
        if t["trainable_parameters"] != o["trainable_parameters"]:
            raise SystemExit(f"{who}: {case[0]}: tl has {t['trainable_parameters']} "
                             f"trainable parameters, {label} {o['trainable_parameters']}")
        runs[(pol, case[0])]["tl"].append(t)
        runs[(pol, case[0])]["other"].append(o)
        print(f"round {rnd + 1}/{rounds} {pol:8s} {case[0]:9s} tl "
              f"{t['images_per_second']:8.2f} img/s   {label} {o['images_per_second']:8.2f} "
              f"img/s   load {os.getloadavg()[0]:.2f}", flush=True)

    for rnd in range(rounds):
        if other_reads_policy:
            for pol in policies:
                env = child_env(threads, pol)
                for case in cases:
                    t = tl_one(case, env)
                    record(rnd, pol, case, t, other_one(case, env))
        else:
            for case in cases:
                first = tl_one(case, child_env(threads, policies[0]))
                o = other_one(case, child_env(threads, policies[0]))
                record(rnd, policies[0], case, first, o)
                for pol in policies[1:]:
                    record(rnd, pol, case, tl_one(case, child_env(threads, pol)), o)
    return runs, load_before, os.getloadavg()


def result_rows(runs, policies, cases, key):
    """One row per (policy, case): medians over rounds and the ratio tl / other (> 1: tl faster).

    `key` names the other side in the fields ("torch": torch_images_per_second,
    ratio_tl_over_torch, torch_runs).
    """
    rows = []
    for pol in policies:
        for name, description, train, size, batch in cases:
            r = runs[(pol, name)]
            tl_s = statistics.median(x["median_seconds"] for x in r["tl"])
            other_s = statistics.median(x["median_seconds"] for x in r["other"])
            rows.append({"policy": pol, "case": name, "description": description, "train": train,
                         "image_size": size, "batch": batch, "tl_images_per_second": batch / tl_s,
                         f"{key}_images_per_second": batch / other_s,
                         f"ratio_tl_over_{key}": other_s / tl_s,
                         "trainable_parameters": r["tl"][0]["trainable_parameters"],
                         "tl_runs": r["tl"], f"{key}_runs": r["other"]})
    return rows


def _rate_range(row, side):
    """' (lo-hi)': the range over rounds of images/s (each round's median step)."""
    rates = [row["batch"] / x["median_seconds"] for x in row[f"{side}_runs"]]
    if len(rates) < 2:
        return ""
    fmt = (lambda v: f"{v:.0f}") if min(rates) >= 100 else (lambda v: f"{v:.1f}")
    return f" ({fmt(min(rates))}-{fmt(max(rates))})"


def write_results(out_dir, stem, meta, rows, key, label, title, policy_header="OpenMP waiting",
                  ranges=False):
    """Writes <out_dir>/<stem>.json ({"meta", "results"}) and <stem>.md; returns the table.

    `title` is the first line of the Markdown; with `ranges`, each images/s
    cell gets the range over rounds beside the median.
    """
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, stem + ".json"), "w") as f:
        json.dump({"meta": meta, "results": rows}, f, indent=1)
    lines = [title, "",
             f"| case | what | {policy_header} | tl images/s | {label} images/s | tl / {label} |",
             "|---|---|---|---:|---:|---:|"]
    for r in rows:
        tl_cell = f"{r['tl_images_per_second']:.2f}" + (_rate_range(r, "tl") if ranges else "")
        other_cell = f"{r[f'{key}_images_per_second']:.2f}" + (_rate_range(r, key) if ranges else "")
        lines.append(f"| {r['case']} | {r['description']} | {r['policy']} | {tl_cell} | "
                     f"{other_cell} | {r[f'ratio_tl_over_{key}']:.2f} |")
    table = "\n".join(lines)
    with open(os.path.join(out_dir, stem + ".md"), "w") as f:
        f.write(table + "\n")
    return table


def now():
    return time.strftime("%Y-%m-%d %H:%M:%S %Z")
