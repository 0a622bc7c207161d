"""trees_lgb.py - G10 (PERF.md) for LightGBM: the same LightGBM model text
file, the same rows, the same thread count, axle vs LightGBM's own predictor.

    python bench/trees_lgb.py LGB.txt ROWS.npy AXLE_BINARY [--quick] [--rounds N]

Cases: batch 10 000 and batch 1, each on 1 and 2 threads.
  lightgbm predict   Booster.predict(rows, num_threads=T) from Python (what a
                     user calls; at batch 1 mostly Python and argument work)
  lightgbm C fast    batch 1 only: LGBM_BoosterPredictForMatSingleRowFast,
                     LightGBM's single-row C entry point, called through
                     ctypes (~1 us of ctypes overhead per call included)
  axle               `axle run LGB.txt --threads T --repeat N`: the median of
                     the N timed runs axle reports, so process start-up and
                     model load are not in it (bench/trees_common.py)
Rounds alternate the engines' order (A B, B A, ...); each engine's figure is
the median over rounds of its per-round median, the ratio line gives the
median of the per-round ratios and their min-max. Outputs are compared
(class-1 probability): max |diff| and max relative difference.
Also printed: the mean path length (node tests per tree and row, from
pred_leaf and the dumped trees), and ns per node test.
"""
import argparse
import ctypes
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trees_common as tc  # noqa: E402

warnings.filterwarnings("ignore")
import lightgbm as lgb  # noqa: E402
from lightgbm.basic import _LIB, _c_str, _safe_call  # noqa: E402


def leaf_depths(node, depth, out):
    if "leaf_index" in node:
        out[node["leaf_index"]] = depth
    else:
        leaf_depths(node["left_child"], depth + 1, out)
        leaf_depths(node["right_child"], depth + 1, out)


def mean_path(bst, x):
    """Mean number of splits a row passes per tree."""
    leaves = bst.predict(x, pred_leaf=True, num_threads=2)
    total = 0
    for t, info in enumerate(bst.dump_model()["tree_info"]):
        d = {}
        leaf_depths(info["tree_structure"], 0, d)
        lut = np.zeros(max(d) + 1)
        for k, v in d.items():
            lut[k] = v
        total += lut[leaves[:, t]].sum()
    return total / (leaves.shape[0] * leaves.shape[1])


class FastSingleRow:
    """LightGBM's LGBM_BoosterPredictForMatSingleRowFast for one float32 row."""

    def __init__(self, bst, ncol, threads):
        self.cfg = ctypes.c_void_p()
        _safe_call(_LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
            bst._handle, ctypes.c_int(0),            # C_API_PREDICT_NORMAL
            ctypes.c_int(0), ctypes.c_int(-1),       # all iterations
            ctypes.c_int(0),                         # C_API_DTYPE_FLOAT32
            ctypes.c_int32(ncol), _c_str("num_threads=%d" % threads),
            ctypes.byref(self.cfg)))
        self.out_len = ctypes.c_int64()
        self.out = np.zeros(1, np.float64)
        self.fn = _LIB.LGBM_BoosterPredictForMatSingleRowFast
        self.args = None

    def bind(self, row):
        self.row = np.ascontiguousarray(row, np.float32).reshape(-1)
        self.args = (self.cfg, self.row.ctypes.data_as(ctypes.c_void_p),
                     ctypes.byref(self.out_len),
                     self.out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)))

    def __call__(self):
        return self.fn(*self.args)

    def close(self):
        _LIB.LGBM_FastConfigFree(self.cfg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("rows")
    ap.add_argument("axle")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=0)
    a = ap.parse_args()
    rounds = a.rounds or (2 if a.quick else 5)
    window = 0.2 if a.quick else tc.WINDOW

    bst = lgb.Booster(model_file=a.model)
    n_trees = bst.num_trees()
    x = np.load(a.rows)
    if x.dtype != np.float32:
        x = x.astype(np.float32)
    path = mean_path(bst, x)
    ax = tc.Axle(a.axle, a.model)
    print("LightGBM %s (PyPI), %d trees, %d features; mean path %.2f node tests per tree-row; "
          "%d rounds" % (lgb.__version__, n_trees, x.shape[1], path, rounds))

    for rows in (x.shape[0], 1):
        f = tc.rows_file(a.rows, rows)
        xr = np.ascontiguousarray(x[:rows])
        # Same answers first: class-1 probability.
        ref = bst.predict(xr, num_threads=1)
        got = tc.class1(ax.outputs(f))
        diff = float(np.max(np.abs(got.astype(np.float64) - ref)))
        rel = tc.max_rel(got, ref)
        for threads in (1, 2):
            busy = tc.quiet_check()
            fast = None
            engines = ["axle", "lightgbm predict"]
            if rows == 1:
                fast = FastSingleRow(bst, x.shape[1], threads)
                fast.bind(xr[0])
                fast()
                if abs(fast.out[0] - ref[0]) > 1e-12:
                    print("warning: C fast path gives %r, predict %r" % (fast.out[0], ref[0]))
                engines.append("lightgbm C fast")
            times = {e: [] for e in engines}
            for order in tc.interleaved(rounds, engines):
                for e in order:
                    if e == "axle":
                        times[e].append(ax.time(f, threads, window))
                    elif e == "lightgbm predict":
                        times[e].append(tc.time_calls(
                            lambda: bst.predict(xr, num_threads=threads), window))
                    else:
                        times[e].append(tc.time_loop(fast, window))
            if fast:
                fast.close()
            note = "" if busy <= 0.10 else "  NOISY (box %.0f%% busy before the case)" % (100 * busy)
            print("-- batch %d, %d thread%s%s" % (rows, threads, "s" if threads > 1 else "", note))
            for e in engines:
                print(tc.line(e, rows, threads, float(np.median(times[e])), n_trees, path))
            for e in engines[1:]:
                r = [b / t for b, t in zip(times[e], times["axle"])]
                print(tc.ratio_line("axle", e, rows, threads, r,
                                    "; max |diff| %.3g (rel %.3g)" % (diff, rel)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
