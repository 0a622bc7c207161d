"""trees_ort.py - G10 (PERF.md) against ONNX Runtime's tree ensemble: the
XGBoost model of bench/trees_model.py converted once to ONNX-ML
(ai.onnx.ml TreeEnsembleClassifier, by onnxmltools), then on the same rows
and thread count:
  onnxruntime     InferenceSession(XGB_ONNX), CPUExecutionProvider,
                  intra_op_num_threads=T, inter_op_num_threads=1,
                  ORT_ENABLE_ALL, sequential; session.run from Python (at
                  batch 1 that includes a few us of Python and binding)
  axle onnx       `axle run XGB_ONNX --threads T --repeat N` (the same file)
  axle xgb.json   `axle run xgb.json --threads T --repeat N`
axle's figure is the median of the N timed runs axle reports: no process
start-up, no model load (bench/trees_common.py).

    python bench/trees_ort.py XGB.json ROWS.npy AXLE_BINARY [--quick] [--rounds N]

The ONNX file is XGB.json's directory/xgb_onnxml.onnx; when it is missing or
older than XGB.json it is made by running this script as

    FIXTURES_PY bench/trees_ort.py --convert XGB.json OUT.onnx

with FIXTURES_PY (default .venv-fixtures/bin/python: PyPI onnxmltools and
xgboost, tools/gen_tree_fixtures_onnxml.py's environment, made by
tools/fixtures_venv.sh). Cases: batch
10 000 and batch 1, 1 and 2 threads; rounds alternate the engines' order.
Outputs are compared (class-1 probability) against ONNX Runtime's, as
absolute differences: ONNX Runtime forms the binary probability as the
complement of class 0's in float32, so its small class-1 probabilities sit on
a 2^-24 (6e-8) grid and relative differences to exact sigmoids (XGBoost's,
axle's on xgb.json) reach 1e-2 there; axle on the .onnx reproduces ONNX
Runtime's values.
"""
import argparse
import json
import os
import subprocess
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def convert(src, dst):
    """xgb.json -> ONNX-ML with onnxmltools (run under FIXTURES_PY)."""
    import onnx
    import onnxmltools
    import xgboost as xgb
    from onnx import helper
    from onnxmltools.convert.common.data_types import FloatTensorType

    clf = xgb.XGBClassifier()
    clf.load_model(src)
    nf = int(clf.get_booster().num_features())
    model = onnxmltools.convert_xgboost(
        clf, initial_types=[("input", FloatTensorType([None, nf]))], target_opset=15)
    # onnxmltools imports only ai.onnx.ml here; axle's importer wants a
    # default-domain opset as well (and one it knows: <= 18).
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("", 15))
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx") and o.version > 18:
            o.version = 17
    model.producer_name = "onnxmltools %s, xgboost %s (bench/trees_ort.py)" % (
        onnxmltools.__version__, xgb.__version__)
    tmp = dst + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, dst)
    print("trees_ort.py: wrote %s (onnxmltools %s, xgboost %s, onnx %s)" % (
        dst, onnxmltools.__version__, xgb.__version__, onnx.__version__), file=sys.stderr)


def mean_path(xgb_json, x):
    """Mean number of splits a row passes per tree (XGBoost's pred_leaf and
    the JSON model's child arrays)."""
    import xgboost as xgb
    bst = xgb.Booster(model_file=xgb_json)
    bst.set_param("nthread", 2)
    leaves = bst.predict(xgb.DMatrix(x, missing=np.nan), pred_leaf=True).astype(np.int64)
    with open(xgb_json) as f:
        trees = json.load(f)["learner"]["gradient_booster"]["model"]["trees"]
    total = 0
    for t, tree in enumerate(trees):
        left, right = tree["left_children"], tree["right_children"]
        depth = np.zeros(len(left))
        stack = [0]
        while stack:
            n = stack.pop()
            if left[n] >= 0:
                depth[left[n]] = depth[right[n]] = depth[n] + 1
                stack += [left[n], right[n]]
        total += depth[leaves[:, t]].sum()
    return total / (leaves.shape[0] * leaves.shape[1]), len(trees)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--convert":
        convert(sys.argv[2], sys.argv[3])
        return 0
    sys.path.insert(0, HERE)
    import onnxruntime as ort
    import trees_common as tc

    ap = argparse.ArgumentParser()
    ap.add_argument("model", help="the XGBoost JSON model")
    ap.add_argument("rows")
    ap.add_argument("axle")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=0)
    a = ap.parse_args()
    rounds = a.rounds or (2 if a.quick else 5)
    window = 0.2 if a.quick else tc.WINDOW

    onnx_path = os.path.join(os.path.dirname(os.path.abspath(a.model)), "xgb_onnxml.onnx")
    if not os.path.exists(onnx_path) or os.path.getmtime(onnx_path) < os.path.getmtime(a.model):
        fpy = os.environ.get("FIXTURES_PY", os.path.join(ROOT, ".venv-fixtures", "bin", "python"))
        if not os.access(fpy, os.X_OK):
            print("trees_ort.py: %s missing: it needs PyPI onnxmltools and xgboost to convert "
                  "%s (set FIXTURES_PY); ONNX Runtime comparison skipped" % (fpy, a.model))
            return 0
        subprocess.run([fpy, os.path.abspath(__file__), "--convert", a.model, onnx_path],
                       check=True)

    x = np.load(a.rows).astype(np.float32, copy=False)
    path, n_trees = mean_path(a.model, x)
    ax_onnx = tc.Axle(a.axle, onnx_path)
    ax_json = tc.Axle(a.axle, a.model)

    def session(threads):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])

    s1 = session(1)
    in_name = s1.get_inputs()[0].name
    outs = [o.name for o in s1.get_outputs()]
    print("ONNX Runtime %s (PyPI) on %s (%s); %d trees, %d features; mean path %.2f node "
          "tests per tree-row; %d rounds" % (ort.__version__, os.path.relpath(onnx_path, ROOT),
                                             ", ".join(n.op_type for n in _nodes(onnx_path)),
                                             n_trees, x.shape[1], path, rounds))

    engines = ["axle onnx", "axle xgb.json", "onnxruntime"]
    for rows in (x.shape[0], 1):
        f = tc.rows_file(a.rows, rows)
        xr = np.ascontiguousarray(x[:rows])
        res = dict(zip(outs, s1.run(None, {in_name: xr})))
        ref = tc.class1(res)
        checks = []
        for name, ax in (("onnx", ax_onnx), ("xgb.json", ax_json)):
            got = tc.class1(ax.outputs(f))
            checks.append("axle %s %.3g" % (
                name, float(np.max(np.abs(got.astype(np.float64) - ref)))))
        for threads in (1, 2):
            sess = s1 if threads == 1 else session(threads)
            feed = {in_name: xr}
            busy = tc.quiet_check()
            times = {e: [] for e in engines}
            for order in tc.interleaved(rounds, engines):
                for e in order:
                    if e == "axle onnx":
                        times[e].append(ax_onnx.time(f, threads, window))
                    elif e == "axle xgb.json":
                        times[e].append(ax_json.time(f, threads, window))
                    else:
                        times[e].append(tc.time_calls(lambda: sess.run(None, feed), window))
            note = "" if busy <= 0.10 else "  NOISY (box %.0f%% busy before the case)" % (100 * busy)
            print("-- batch %d, %d thread%s%s" % (rows, threads, "s" if threads > 1 else "", note))
            for e in engines:
                print(tc.line(e, rows, threads, float(np.median(times[e])), n_trees, path))
            for e in engines[:2]:
                r = [o / t for o, t in zip(times["onnxruntime"], times[e])]
                print(tc.ratio_line(e, "onnxruntime", rows, threads, r))
            print("%-20s rows=%d threads=%d  max |diff| vs onnxruntime: %s" % (
                "check", rows, threads, "; ".join(checks)))
    return 0


def _nodes(path):
    import onnx
    return onnx.load(path).graph.node


if __name__ == "__main__":
    sys.exit(main())
