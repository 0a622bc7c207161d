#!/usr/bin/env python3
"""bench/models.py - whole-model latency: axle vs PyTorch 1.13 vs ONNX Runtime.

PERF.md G9 (speed-up over PyTorch tuned, batch 1) and G9b (ratio to ONNX
Runtime) for resnet18, mobilenet_v2, mlp and encoder at batch 1 and 8. Run it
through bench/models.sh (which makes the models); directly:

    .venv/bin/python bench/models.py [--models a,b] [--batches 1,8] [--rounds N]
                                     [--quick] [--out PREFIX]

Method (PERF.md §3):
  * Same .onnx files and the same weights everywhere: the PyTorch side rebuilds
    each model with tools/gen_models.build() (seeded), ORT and axle load the
    exported file. Outputs are checked against each other (1e-4 relative) and a
    point whose outputs disagree is marked "correct": false.
  * Every measurement is a fresh subprocess running one variant on one model:
      torch_tuned   OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=2, torch.set_num_threads(2)
      torch_default no thread variables,   torch.set_num_threads(2)
      ort           intra_op 2, inter_op 1, ORT_ENABLE_ALL, ORT_SEQUENTIAL
      axle          build/axle run MODEL --input ... --repeat N --threads 2
    OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are removed for every side (the
    machines export AVX2-forcing values); the OpenBLAS core actually used is
    reported.
  * Rounds alternate the variant order (A B C D, D C B A, ...): the A B B A
    interleave. Each process warms up (>= 20 calls or 1 s), then times calls
    until >= 200 calls and >= --min-seconds, or --max-seconds with >= 30 calls.
    Per variant the median over rounds of the per-process p50 is reported; a
    ratio is computed per round (same neighbours, same minute) and reported as
    median with min-max. A goal counts as met only if the whole range is.
  * A 1-s /proc/stat quiet check precedes every point (> 10 % busy: wait,
    retry 3x, else "noisy"); a 1-thread sgemm probe runs before and after the
    series (> 10 % apart: series "noisy").
  * Cold start: peak RSS (GNU time -v) and exec-to-exit wall time of
    `axle run resnet18 --repeat 1`, next to Python+torch and Python+ORT doing
    the same (import, load, one inference).

Output: one JSON line per measured point on stdout (and in PREFIX.jsonl),
then a Markdown table ready for BENCHMARKS.md (also PREFIX.md). Progress goes
to stderr. The script never fails because axle is missing or fails a model: it
records the error and still measures the baselines.
"""

import argparse
import ctypes
import datetime
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS = ["resnet18", "mobilenet_v2", "mlp", "encoder"]
VARIANTS = ["axle", "torch_tuned", "torch_default", "ort"]
# PERF.md §4 G9 (batch-1 speed-up over PyTorch tuned) and G9b (vs ORT).
G9_TARGET = {"resnet18": 1.4, "mobilenet_v2": 2.5, "mlp": 2.0, "encoder": 1.5}
G9_STRETCH = {"resnet18": 1.7, "mobilenet_v2": 4.0, "mlp": 3.0, "encoder": 2.0}
G9B_TARGET, G9B_STRETCH = 0.8, 1.2
RTOL = 1e-4
TRAP_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def log(msg):
    print("bench/models: " + msg, file=sys.stderr, flush=True)


def percentiles(samples_us):
    s = sorted(samples_us)
    n = len(s)

    def pick(q):
        return s[min(n - 1, int(q * n))]
    return {"n": n, "p50": statistics.median(s), "p90": pick(0.90), "p99": pick(0.99),
            "mean": sum(s) / n, "min": s[0], "max": s[-1]}


def load_gen_models():
    path = os.path.join(ROOT, "tools", "gen_models.py")
    spec = importlib.util.spec_from_file_location("gen_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def openblas_core():
    """Core type OpenBLAS picked in this process (after torch/numpy loaded it)."""
    try:
        lib = ctypes.CDLL("libopenblas.so.0")
        fn = lib.openblas_get_corename
        fn.restype = ctypes.c_char_p
        nth = lib.openblas_get_num_threads()
        return fn().decode(), nth
    except (OSError, AttributeError):
        return None, None


def thread_env():
    keys = TRAP_VARS + ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    return {k: os.environ.get(k) for k in keys}


# ==========================================================================
# Workers: run in their own process, print one JSON object on stdout.
# ==========================================================================

def timed_loop(call, min_seconds, max_seconds, min_calls=200, floor_calls=30):
    """Warm up, then time call() as PERF.md §3.3 asks; return latencies in µs."""
    t0 = time.perf_counter()
    n = 0
    while n < 3 or (n < 20 and time.perf_counter() - t0 < 1.0):
        call()
        n += 1
    lat = []
    start = time.perf_counter()
    clock = time.perf_counter_ns
    while True:
        a = clock()
        call()
        lat.append((clock() - a) / 1000.0)
        el = time.perf_counter() - start
        if len(lat) >= min_calls and el >= min_seconds:
            break
        if len(lat) >= floor_calls and el >= max_seconds:
            break
    return lat, n


def worker_torch(args):
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    gen = load_gen_models()
    spec = gen.build(args.model)
    m = spec["module"]
    x = [torch.from_numpy(np.load(args.input))]
    with torch.inference_mode():
        out = m(*x)
        out = out[0] if isinstance(out, (tuple, list)) else out
        if args.save_output:
            np.save(args.save_output, out.numpy())
        lat, warm = timed_loop(lambda: m(*x), args.min_seconds, args.max_seconds)
    core, blas_threads = openblas_core()
    r = percentiles(lat)
    r.update(warmup_calls=warm, torch_version=torch.__version__,
             torch_threads=torch.get_num_threads(), openblas_core=core,
             openblas_threads=blas_threads, env=thread_env())
    print(json.dumps(r))


def worker_ort(args):
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    feed = {sess.get_inputs()[0].name: np.load(args.input)}
    out = sess.run(None, feed)[0]
    if args.save_output:
        np.save(args.save_output, out)
    lat, warm = timed_loop(lambda: sess.run(None, feed), args.min_seconds, args.max_seconds)
    r = percentiles(lat)
    r.update(warmup_calls=warm, ort_version=ort.__version__, env=thread_env())
    print(json.dumps(r))


def worker_probe(args):
    """1-thread sgemm n=1024 GFLOP/s, best of 7 windows of 0.15 s (PERF.md §3.10)."""
    import numpy as np
    n = 1024
    a = np.random.RandomState(0).standard_normal((n, n)).astype(np.float32)
    b = a.T.copy()
    c = np.empty_like(a)
    np.matmul(a, b, out=c)
    best = 0.0
    for _ in range(7):
        t0 = time.perf_counter()
        k = 0
        while time.perf_counter() - t0 < 0.15:
            np.matmul(a, b, out=c)
            k += 1
        best = max(best, 2.0 * n ** 3 * k / (time.perf_counter() - t0) / 1e9)
    core, _ = openblas_core()
    print(json.dumps({"sgemm1024_gflops": round(best, 1), "openblas_core": core}))


def worker_cold(args):
    """Cold start of a Python baseline: imports, load, one inference."""
    import numpy as np
    x = np.load(args.input)
    if args.engine == "torch":
        import torch
        torch.set_num_threads(args.threads)
        gen = load_gen_models()
        m = gen.build(args.model)["module"]
        with torch.inference_mode():
            m(torch.from_numpy(x))
    else:
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.log_severity_level = 3
        s = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
        s.run(None, {s.get_inputs()[0].name: x})


# ==========================================================================
# Orchestrator
# ==========================================================================

def child_env(variant):
    env = dict(os.environ)
    for k in TRAP_VARS:
        env.pop(k, None)
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(k, None)
    if variant == "torch_tuned":
        env["OPENBLAS_NUM_THREADS"] = "1"
        env["OMP_NUM_THREADS"] = "2"
    return env


def run_json(cmd, env, timeout):
    p = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("exit %d: %s" % (p.returncode, p.stderr.strip()[-600:]))
    return json.loads(p.stdout.strip().splitlines()[-1])


LAT_RE = re.compile(r"latency_us\s+p50=([0-9.eE+-]+)\s+p90=([0-9.eE+-]+)\s+p99=([0-9.eE+-]+)")


class Axle:
    def __init__(self, path):
        self.path = path
        self.version = None
        self.error = None
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            self.error = "binary not found: %s" % path
            return
        try:
            p = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                               stdin=subprocess.DEVNULL)
            self.version = (p.stdout or p.stderr).strip().splitlines()[0] if p.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, IndexError) as e:
            self.error = "cannot run: %s" % e

    def cmd(self, onnx, input_name, input_path, repeat, threads, outdir=None):
        c = [self.path, "run", onnx, "--input", "%s=%s" % (input_name, input_path),
             "--repeat", str(repeat), "--threads", str(threads)]
        if outdir:
            c += ["--output-dir", outdir]
        return c

    def measure(self, onnx, input_name, input_path, repeat, threads, timeout, outdir=None):
        p = subprocess.run(self.cmd(onnx, input_name, input_path, repeat, threads, outdir),
                           env=child_env("axle"), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("axle exit %d: %s" % (p.returncode, p.stderr.strip()[-600:]))
        m = LAT_RE.search(p.stdout) or LAT_RE.search(p.stderr)
        if not m:
            raise RuntimeError("no 'latency_us p50=... p90=... p99=...' line in axle output: %r"
                               % p.stdout[-300:])
        return {"n": repeat, "p50": float(m.group(1)), "p90": float(m.group(2)),
                "p99": float(m.group(3))}


def quiet_check(max_busy=0.10, tries=3):
    """Fraction of CPU busy over 1 s from /proc/stat; retry while > max_busy."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + (v[4] if len(v) > 4 else 0)
        return sum(v), idle
    busy = 1.0
    for i in range(tries):
        t1, i1 = snap()
        time.sleep(1.0)
        t2, i2 = snap()
        busy = 1.0 - (i2 - i1) / max(1, t2 - t1)
        if busy <= max_busy:
            return {"quiet": True, "busy": round(busy, 3), "tries": i + 1}
        time.sleep(2.0)
    return {"quiet": False, "busy": round(busy, 3), "tries": tries}


def git_sha():
    try:
        sha = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha or "no-commit") + ("-dirty" if dirty else "")
    except OSError:
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def fmt_us(us):
    if us is None:
        return "—"
    if us >= 1000:
        return "%.2f ms" % (us / 1000)
    return "%.1f µs" % us


def fmt_ratio(r):
    if not r:
        return "—"
    return "%.2f× (%.2f–%.2f)" % (r["median"], r["min"], r["max"])


def ratio_stats(values):
    values = [v for v in values if v]
    if not values:
        return None
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def max_rel_err(a_path, b_path):
    import numpy as np
    a, b = np.load(a_path), np.load(b_path)
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a.astype(np.float64) - b).max()) / max(1.0, float(np.abs(b).max()))


def time_v(cmd, env):
    """Run under GNU time -v: (peak RSS MB, wall s, completed process)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        t0 = time.perf_counter()
        p = subprocess.run(["/usr/bin/time", "-v", "-o", tf.name] + cmd, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
        wall = time.perf_counter() - t0
        txt = tf.read()
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", txt)
    return (int(m.group(1)) / 1024.0 if m else None), wall, p


def main():
    ap = argparse.ArgumentParser(description="PERF.md G9/G9b engine benchmark")
    ap.add_argument("--worker", choices=["torch", "ort", "probe", "cold"], help=argparse.SUPPRESS)
    ap.add_argument("--engine", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--onnx", help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--save-output", help=argparse.SUPPRESS)
    ap.add_argument("--models", default=",".join(DEFAULT_MODELS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--rounds", type=int, default=5,
                    help="interleaved rounds per point (pairs for the ratios; PERF §3.1 wants >= 5)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-seconds", type=float, default=0.5,
                    help="time at least this long per process (after >= 200 calls)")
    ap.add_argument("--max-seconds", type=float, default=3.0,
                    help="stop after this long per process if >= 30 calls were timed")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 2 rounds, 0.2-1 s per process, no cold start")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold start / RSS part")
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "build", "models"))
    ap.add_argument("--axle", default=os.environ.get("AXLE_BIN") or os.path.join(ROOT, "build", "axle"))
    ap.add_argument("--out", default=None, help="PREFIX for PREFIX.jsonl and PREFIX.md "
                    "(default build/bench/models-<UTC time>)")
    args = ap.parse_args()

    if args.worker:
        {"torch": worker_torch, "ort": worker_ort, "probe": worker_probe,
         "cold": worker_cold}[args.worker](args)
        return 0
    if args.quick:
        args.rounds, args.min_seconds, args.max_seconds, args.no_cold = 2, 0.2, 1.0, True
    return orchestrate(args)


def orchestrate(args):
    import numpy as np
    models = [m for m in args.models.split(",") if m]
    batches = [int(b) for b in args.batches.split(",") if b]
    stamp = datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ")
    prefix = args.out or os.path.join(ROOT, "build", "bench", "models-" + stamp)
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    work = tempfile.mkdtemp(prefix="axle-bench-models-")
    jsonl = open(prefix + ".jsonl", "w")
    me = [sys.executable, os.path.abspath(__file__)]

    def emit(obj):
        line = json.dumps(obj, sort_keys=False)
        print(line, flush=True)
        jsonl.write(line + "\n")
        jsonl.flush()

    axle = Axle(args.axle)
    if axle.error:
        log("axle: %s; measuring the baselines only" % axle.error)

    import onnxruntime
    env_info = {
        "kind": "env", "time_utc": stamp, "git": git_sha(), "cpu": cpu_model(),
        "n_cpus": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "onnxruntime": onnxruntime.__version__,
        "axle": axle.version, "axle_bin": args.axle, "axle_error": axle.error,
        "machine_env": {k: os.environ.get(k) for k in TRAP_VARS},
        "note": "OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE removed for every side",
        "threads": args.threads, "rounds": args.rounds,
        "min_seconds": args.min_seconds, "max_seconds": args.max_seconds,
    }
    log("probe before the series")
    probe_before = run_json(me + ["--worker", "probe"], child_env("torch_tuned"), 120)
    env_info["probe_before"] = probe_before
    emit(env_info)

    results = []
    torch_version = None
    blas_cores = set()
    for name in models:
        mdir = os.path.join(args.models_dir, name)
        with open(os.path.join(mdir, "meta.json")) as f:
            meta = json.load(f)
        onnx_path = os.path.join(mdir, "model.onnx")
        in_name = meta["inputs"][0]["name"]
        for batch in batches:
            point = "%s/b%d" % (name, batch)
            pdir = os.path.join(work, name, "b%d" % batch)
            os.makedirs(pdir, exist_ok=True)
            shape = [batch] + meta["inputs"][0]["shape"][1:]
            x_path = os.path.join(pdir, "input.npy")
            np.save(x_path, np.random.RandomState(900 + batch).standard_normal(shape).astype(np.float32))
            quiet = quiet_check()
            log("%s: %s" % (point, "quiet" if quiet["quiet"] else "NOISY (busy %.0f %%)" % (100 * quiet["busy"])))

            # axle: choose --repeat from a short calibration run, so it gets
            # the same time budget as the Python workers.
            axle_repeat, axle_err = None, axle.error
            if not axle_err:
                try:
                    cal = axle.measure(onnx_path, in_name, x_path, 5, args.threads, 600,
                                       outdir=os.path.join(pdir, "axle_out"))
                    p50 = max(cal["p50"], 1e-3)
                    axle_repeat = int(max(200, args.min_seconds * 1e6 / p50))
                    cap = int(args.max_seconds * 1e6 / p50)
                    axle_repeat = max(30, min(axle_repeat, max(cap, 30)))
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    axle_err = str(e)
                    log("%s: axle failed: %s" % (point, axle_err))

            per_round = {v: [] for v in VARIANTS}
            extra = {}
            errors = {}
            for r in range(args.rounds):
                order = VARIANTS if r % 2 == 0 else VARIANTS[::-1]
                for v in order:
                    if v in errors:
                        continue
                    try:
                        if v == "axle":
                            if axle_err:
                                errors[v] = axle_err
                                continue
                            res = axle.measure(onnx_path, in_name, x_path, axle_repeat,
                                               args.threads, 600)
                        else:
                            cmd = me + ["--worker", "torch" if v.startswith("torch") else "ort",
                                        "--model", name, "--onnx", onnx_path, "--input", x_path,
                                        "--threads", str(args.threads),
                                        "--min-seconds", str(args.min_seconds),
                                        "--max-seconds", str(args.max_seconds)]
                            if r == 0:
                                cmd += ["--save-output", os.path.join(pdir, v + "_out.npy")]
                            res = run_json(cmd, child_env(v), 900)
                            if v.startswith("torch"):
                                torch_version = res.get("torch_version")
                                blas_cores.add(res.get("openblas_core"))
                                extra.setdefault(v, {k: res.get(k) for k in (
                                    "torch_threads", "openblas_core", "openblas_threads", "env")})
                            else:
                                extra.setdefault(v, {"env": res.get("env")})
                    except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                        errors[v] = str(e)
                        log("%s: %s failed: %s" % (point, v, e))
                        continue
                    per_round[v].append(res)

            # Correctness on this very input (PERF.md §3.14).
            correct = {}
            ref = os.path.join(pdir, "torch_tuned_out.npy")
            if os.path.exists(ref):
                ax_out = os.path.join(pdir, "axle_out")
                ax_file = None
                if os.path.isdir(ax_out):
                    first = re.sub(r"[^A-Za-z0-9._-]", "_", meta["outputs"][0]["name"]) + ".npy"
                    ax_file = os.path.join(ax_out, first)
                for v, path in (("axle", ax_file), ("ort", os.path.join(pdir, "ort_out.npy"))):
                    if path and os.path.exists(path):
                        err = max_rel_err(path, ref)
                        correct[v] = {"max_rel_err": err, "ok": err <= RTOL}

            summary = {}
            for v in VARIANTS:
                runs = per_round[v]
                summary[v] = None if not runs else {
                    "p50": statistics.median(x["p50"] for x in runs),
                    "p90": statistics.median(x["p90"] for x in runs),
                    "p99": statistics.median(x["p99"] for x in runs),
                    "calls_per_run": runs[0]["n"], "runs": len(runs),
                    "p50_per_round": [round(x["p50"], 2) for x in runs],
                }
                if summary[v] is not None:
                    emit({"kind": "latency", "goal": "G9" if v.startswith("torch") else
                          ("G9b" if v == "ort" else "G9/G9b"), "model": name, "batch": batch,
                          "variant": v, "unit": "us", **summary[v],
                          "quiet": quiet, **extra.get(v, {})})

            def ratios(base):
                a, b = per_round["axle"], per_round[base]
                return ratio_stats([y["p50"] / x["p50"] for x, y in zip(a, b) if x["p50"] > 0])

            rt = {"vs_torch_tuned": ratios("torch_tuned"),
                  "vs_torch_default": ratios("torch_default"),
                  "vs_ort": ratios("ort")}
            axle_ok = correct.get("axle", {}).get("ok", False)
            g9 = g9b = None
            if batch == 1 and rt["vs_torch_tuned"] and name in G9_TARGET:
                g9 = axle_ok and rt["vs_torch_tuned"]["min"] >= G9_TARGET[name]
            if batch == 1 and rt["vs_ort"]:
                g9b = axle_ok and rt["vs_ort"]["min"] >= G9B_TARGET
            tail = None
            if summary["axle"]:
                tail = summary["axle"]["p90"] / max(summary["axle"]["p50"], 1e-9)
            row = {"kind": "ratio", "model": name, "batch": batch, "speedup": rt,
                   "axle_p90_over_p50": tail, "correct": correct, "errors": errors,
                   "g9_target": G9_TARGET.get(name) if batch == 1 else None,
                   "g9_met": g9, "g9b_target": G9B_TARGET if batch == 1 else None,
                   "g9b_met": g9b, "quiet": quiet}
            emit(row)
            results.append((name, batch, summary, row))

    log("probe after the series")
    probe_after = run_json(me + ["--worker", "probe"], child_env("torch_tuned"), 120)
    drift = abs(probe_after["sgemm1024_gflops"] - probe_before["sgemm1024_gflops"]) / \
        max(probe_before["sgemm1024_gflops"], 1e-9)
    emit({"kind": "probe", "before": probe_before, "after": probe_after,
          "drift": round(drift, 3), "series_noisy": drift > 0.10})

    cold = []
    if not args.no_cold and os.path.exists(os.path.join(args.models_dir, "resnet18", "model.onnx")):
        cold = cold_start(args, axle, me, work, emit)

    meta_line = {"torch": torch_version, "openblas_cores": sorted(c for c in blas_cores if c),
                 "ort": onnxruntime.__version__, "axle": axle.version, "git": env_info["git"],
                 "cpu": env_info["cpu"], "series_noisy": drift > 0.10,
                 "probe_gflops": (probe_before["sgemm1024_gflops"], probe_after["sgemm1024_gflops"])}
    md = render_table(results, cold, meta_line, args)
    print(md)
    with open(prefix + ".md", "w") as f:
        f.write(md + "\n")
    jsonl.close()
    shutil.rmtree(work, ignore_errors=True)
    log("wrote %s.jsonl and %s.md" % (prefix, prefix))
    return 0


def cold_start(args, axle, me, work, emit, reps=3):
    """Peak RSS and exec-to-exit time: axle vs Python+torch vs Python+ORT (resnet18, batch 1)."""
    import numpy as np
    mdir = os.path.join(args.models_dir, "resnet18")
    onnx_path = os.path.join(mdir, "model.onnx")
    x_path = os.path.join(work, "cold_input.npy")
    np.save(x_path, np.load(os.path.join(mdir, "b1", "input_0.npy")))
    with open(os.path.join(mdir, "meta.json")) as f:
        in_name = json.load(f)["inputs"][0]["name"]
    sides = []
    if not axle.error:
        sides.append(("axle", axle.cmd(onnx_path, in_name, x_path, 1, args.threads), child_env("axle")))
    sides.append(("torch_tuned", me + ["--worker", "cold", "--engine", "torch", "--model", "resnet18",
                                       "--input", x_path, "--threads", str(args.threads)],
                  child_env("torch_tuned")))
    sides.append(("ort", me + ["--worker", "cold", "--engine", "ort", "--onnx", onnx_path,
                               "--input", x_path, "--threads", str(args.threads)], child_env("ort")))
    out = []
    for name, cmd, env in sides:
        rss, walls, load = [], [], []
        err = None
        for _ in range(reps):
            try:
                mb, wall, p = time_v(cmd, env)
            except (OSError, subprocess.TimeoutExpired) as e:
                err = str(e)
                break
            if p.returncode != 0:
                err = "exit %d: %s" % (p.returncode, p.stderr.strip()[-300:])
                break
            rss.append(mb)
            walls.append(wall)
            # If axle reports its own load time (load_us=... / load_ms=...), keep it.
            m = re.search(r"load_(us|ms)=([0-9.]+)", p.stdout + p.stderr)
            if m:
                load.append(float(m.group(2)) * (1000.0 if m.group(1) == "ms" else 1.0))
        row = {"kind": "cold_start", "goal": "G13", "model": "resnet18", "side": name,
               "peak_rss_mb": statistics.median(rss) if rss else None,
               "exec_to_exit_ms": statistics.median(walls) * 1000 if walls else None,
               "load_us": statistics.median(load) if load else None, "reps": len(walls),
               "error": err}
        emit(row)
        out.append(row)
    return out


def render_table(results, cold, meta, args):
    L = []
    L.append("### Whole-model latency (PERF.md G9 / G9b)")
    L.append("")
    L.append("%s, git %s; PyTorch %s (OpenBLAS core %s), ONNX Runtime %s; %s; %d threads; "
             "%d interleaved rounds, median of per-process p50s; sgemm probe %.0f → %.0f GFLOP/s%s."
             % (meta["axle"] or "axle (not built)", meta["git"], meta["torch"],
                "/".join(meta["openblas_cores"]) or "?", meta["ort"], meta["cpu"], args.threads,
                args.rounds, meta["probe_gflops"][0], meta["probe_gflops"][1],
                " (**noisy series**)" if meta["series_noisy"] else ""))
    L.append("")
    L.append("| model | batch | axle p50 | PyTorch tuned p50 | PyTorch default p50 | ORT p50 "
             "| axle vs PT tuned (min–max) | G9 target | axle vs ORT (min–max) | G9b target "
             "| axle p90/p50 | correct |")
    L.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, batch, s, row in results:
        def p50(v):
            return fmt_us(s[v]["p50"]) if s[v] else ("error" if v in row["errors"] else "—")
        mark = {True: "✅", False: "❌", None: "(no result)"}
        g9 = "≥ %.1f× %s" % (row["g9_target"], mark[row["g9_met"]]) if row["g9_target"] else "—"
        g9b = "≥ %.1f× %s" % (row["g9b_target"], mark[row["g9b_met"]]) if row["g9b_target"] else "—"
        c = row["correct"].get("axle")
        corr = "—" if c is None else ("yes (%.1e)" % c["max_rel_err"] if c["ok"] else
                                      "**NO** (%.1e)" % c["max_rel_err"])
        tail = "%.2f" % row["axle_p90_over_p50"] if row["axle_p90_over_p50"] else "—"
        noisy = "" if row["quiet"]["quiet"] else " (noisy)"
        L.append("| %s%s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, noisy, batch, p50("axle"), p50("torch_tuned"), p50("torch_default"), p50("ort"),
            fmt_ratio(row["speedup"]["vs_torch_tuned"]), g9,
            fmt_ratio(row["speedup"]["vs_ort"]), g9b, tail, corr))
    if cold:
        L.append("")
        L.append("Cold start, resnet18 batch 1 (exec → one inference → exit; GNU time -v, median of 3):")
        L.append("")
        L.append("| side | peak RSS | exec to exit | load (self-reported) |")
        L.append("|---|---|---|---|")
        for c in cold:
            if c["error"]:
                L.append("| %s | error: %s | | |" % (c["side"], c["error"][:80].replace("|", "/")))
                continue
            L.append("| %s | %.0f MB | %.0f ms | %s |" % (
                c["side"], c["peak_rss_mb"] or 0, c["exec_to_exit_ms"] or 0,
                fmt_us(c["load_us"]) if c["load_us"] else "—"))
    L.append("")
    L.append("Speed-up = baseline p50 ÷ axle p50 per round (same minute); targets apply to batch 1 "
             "and count only when the whole min–max range meets them and outputs match (1e-4).")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
