"""trees_common.py - what bench/trees_lgb.py and bench/trees_ort.py share
(PERF.md G10 and section 3): timing a Python predictor, timing `axle run
--repeat` without its process start-up and model load, a quiet check, and
the result lines in trees_bench's format.

How axle is timed: `axle run MODEL --input ROWS.npy --threads T --repeat N`
loads the model, runs it once (warm-up, outputs written), then N more times
and prints `latency_us p50=... min=...` for those N runs alone; that p50 is
axle's per-call time. N is chosen so the N runs take ~WINDOW seconds.
"""
import os
import re
import subprocess
import tempfile
import time

import numpy as np

WINDOW = 0.4          # seconds of calls per measurement
MIN_CALLS = 5


def quiet_check(seconds=0.5):
    """Share of all CPUs busy over `seconds` (/proc/stat), before a case."""
    def read():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return v[3] + v[4], sum(v)
    i1, t1 = read()
    time.sleep(seconds)
    i2, t2 = read()
    return 1.0 - (i2 - i1) / max(1, t2 - t1)


def time_calls(fn, window=WINDOW, warmup=20):
    """Median seconds of fn() over >= MIN_CALLS calls filling ~window s,
    after `warmup` calls (or ~window/4 s, whichever ends first)."""
    t_end = time.perf_counter() + window / 4
    for _ in range(warmup):
        fn()
        if time.perf_counter() > t_end:
            break
    ts = []
    start = time.perf_counter()
    while len(ts) < MIN_CALLS or (time.perf_counter() - start < window
                                  and len(ts) < 200000):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def time_loop(fn, window=WINDOW, chunk=1000):
    """Seconds per call of a very short fn (batch 1 through ctypes): calls
    in chunks, timed per chunk; median chunk / chunk length."""
    for _ in range(chunk):
        fn()
    per = []
    start = time.perf_counter()
    while len(per) < MIN_CALLS or time.perf_counter() - start < window:
        t0 = time.perf_counter()
        for _ in range(chunk):
            fn()
        per.append((time.perf_counter() - t0) / chunk)
    return float(np.median(per))


_LAT = re.compile(r"latency_us p50=([0-9.]+) .*min=([0-9.]+) n=(\d+)")


class Axle:
    """`axle run` on one model file; rows are passed as .npy files."""

    def __init__(self, binary, model):
        self.binary = binary
        self.model = model
        self.est = {}          # (rows file, threads) -> seconds per run

    def _run(self, rows_npy, threads, repeat, outdir=None):
        cmd = [self.binary, "run", self.model, "--input", rows_npy,
               "--threads", str(threads), "--repeat", str(repeat)]
        if outdir:
            cmd += ["--output-dir", outdir]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                     p.stderr.strip()[-400:]))
        m = _LAT.search(p.stdout)
        if not m:
            raise RuntimeError("no latency line in axle run output:\n" + p.stdout)
        return float(m.group(1)) * 1e-6

    def outputs(self, rows_npy, threads=1):
        """Runs once, returns {output name: array}."""
        with tempfile.TemporaryDirectory() as d:
            self._run(rows_npy, threads, 1, d)
            return {f[:-4]: np.load(os.path.join(d, f))
                    for f in os.listdir(d) if f.endswith(".npy")}

    def time(self, rows_npy, threads, window=WINDOW):
        """axle's median seconds per run over ~window seconds of runs."""
        key = (rows_npy, threads)
        if key not in self.est:
            self.est[key] = self._run(rows_npy, threads, 20)
        n = int(min(100000, max(20, window / max(self.est[key], 1e-7))))
        t = self._run(rows_npy, threads, n)
        self.est[key] = t
        return t


def class1(outs):
    """Class-1 probability (binary classifier) out of axle's outputs."""
    p = outs["probabilities"]
    return p[:, 1] if p.ndim == 2 and p.shape[1] == 2 else p.reshape(-1)


def max_rel(a, b):
    a = np.asarray(a, np.float64).reshape(-1)
    b = np.asarray(b, np.float64).reshape(-1)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)))


def interleaved(rounds, engines):
    """Per round the engines' order: forward on odd rounds, reversed on even
    ones (A B, B A, ...: PERF.md section 3, rule 1)."""
    for r in range(rounds):
        yield engines if r % 2 == 0 else list(reversed(engines))


def line(name, rows, threads, t, n_trees, path=None):
    s = "%-20s rows=%d threads=%d  %10.1f us  %6.2f ns/tree-row  %12.0f rows/s" % (
        name, rows, threads, t * 1e6, t * 1e9 / (rows * n_trees), rows / t)
    if path:
        s += "  %5.2f ns/node" % (t * 1e9 / (rows * n_trees * path))
    return s


def ratio_line(a, b, rows, threads, ratios, extra=""):
    """`A is R x B's rows/s` with the median over rounds and its min-max."""
    r = sorted(ratios)
    return ("%-20s rows=%d threads=%d  %s is %.2fx %s's rows/s (rounds %d: %.2f-%.2f)%s"
            % ("ratio", rows, threads, a, float(np.median(r)), b, len(r), r[0], r[-1], extra))


def rows_file(rows_npy, n):
    """ROWS_NPY itself when it has n rows, else its first n rows written
    once beside it as <stem>_N.npy."""
    rows = np.load(rows_npy, mmap_mode="r")
    if rows.shape[0] == n:
        return rows_npy
    path = "%s_%d.npy" % (rows_npy[:-4] if rows_npy.endswith(".npy") else rows_npy, n)
    if not os.path.exists(path) or not np.array_equal(np.load(path), rows[:n], equal_nan=True):
        np.save(path, np.ascontiguousarray(rows[:n]))
    return path
