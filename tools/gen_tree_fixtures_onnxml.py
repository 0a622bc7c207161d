#!/usr/bin/env python3
"""tools/gen_tree_fixtures_onnxml.py [OUTDIR] - ONNX-ML tree models
(ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor / TreeEnsemble)
with ONNX Runtime's outputs, for tests/e2e/test_trees_onnxml.py.

Run with .venv-fixtures/bin/python (PyPI scikit-learn, skl2onnx, onnxmltools,
xgboost, lightgbm, onnxruntime, onnx). For every case NAME it writes

    OUTDIR/NAME/model.onnx               the model (default-domain opset <= 18,
                                         which axle's importer accepts)
    OUTDIR/NAME/input.npy                the model's one input: random rows with
                                         NaNs, plus rows sitting exactly on the
                                         model's thresholds
    OUTDIR/NAME/expected_<output>.npy    ONNX Runtime's output (string labels as
                                         a numpy 'S' array)
    OUTDIR/NAME/mask_<output>.npy        only where ONNX Runtime leaves output
                                         elements unwritten (two runs into
                                         buffers prefilled with different
                                         sentinels disagree): True = not compared
    OUTDIR/NAME/meta.json                source, outputs, versions

and OUTDIR/bad/NAME/{model.onnx, input.npy, meta.json}: models axle must
refuse (exit 2) with the message fragment in meta.json.

Cases: sklearn trees and forests converted by skl2onnx (zipmap off), XGBoost
and LightGBM converted by onnxmltools, hand-written edge cases (every split
mode with and without missing-value tracking, the binary classifier's special
cases, partly scored targets, MIN/MAX, shared subtrees, double/int inputs,
*_as_tensor attributes, TreeEnsemble-5 with set membership) and seeded random
ensembles. OUTDIR defaults to tests/fixtures/trees/onnxml; the files are
committed, so the tests need none of these packages.

Options: --only a,b  generate only these cases; --list  print the case names.
"""

import argparse
import json
import os
import shutil
import sys
import warnings

import numpy as np

warnings.filterwarnings("ignore")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "trees", "onnxml")
MAX_MODEL_BYTES = 200 * 1024
OPSET = {"": 17, "ai.onnx.ml": 3}

import onnx  # noqa: E402
from onnx import TensorProto as TP  # noqa: E402
from onnx import helper as oh  # noqa: E402

# skl2onnx's HistGradientBoosting converter hands numpy scalars to
# make_attribute, which onnx >= 1.17 refuses: convert them first.
_make_attribute = oh.make_attribute


def _plain(v):
    if isinstance(v, (bool, np.integer, np.bool_)):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


def _make_attribute_plain(key, value, *a, **k):
    if isinstance(value, (list, tuple)):
        value = [_plain(v) for v in value]
    return _make_attribute(key, _plain(value), *a, **k)


oh.make_attribute = _make_attribute_plain


# ---------------------------------------------------------------------------
# ONNX Runtime reference
# ---------------------------------------------------------------------------

def ort_session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def static_cols(vi):
    dims = vi.type.tensor_type.shape.dim
    if len(dims) == 2 and dims[1].HasField("dim_value"):
        return dims[1].dim_value
    return None


def ort_reference(model, x):
    """Outputs of ONNX Runtime and, per float output, the mask of elements it
    never writes (found by running into two differently prefilled buffers)."""
    import onnxruntime as ort
    sess = ort_session(model)
    in_name = sess.get_inputs()[0].name
    names = [o.name for o in sess.get_outputs()]
    plain = sess.run(None, {in_name: x})
    outs = dict(zip(names, plain))
    masks = {}
    runs = []
    for sentinel in (1234.5, -4321.25):
        b = sess.io_binding()
        b.bind_cpu_input(in_name, x)
        vals = {}
        for o, ref in zip(names, plain):
            if ref.dtype in (np.float32, np.float64, np.float16):
                buf = np.full(ref.shape, sentinel, dtype=ref.dtype)
                vals[o] = ort.OrtValue.ortvalue_from_numpy(buf)
                b.bind_ortvalue_output(o, vals[o])
            else:
                b.bind_output(o)
        sess.run_with_iobinding(b)
        runs.append({o: v.numpy().copy() for o, v in vals.items()})
    for o in runs[0]:
        a, c = runs[0][o], runs[1][o]
        m = ~((a == c) | (np.isnan(a) & np.isnan(c)))
        if m.any():
            masks[o] = m
            outs[o] = np.where(m, np.nan, a).astype(a.dtype)
        else:
            # the bound runs must agree with the plain run where written
            assert np.array_equal(a, outs[o], equal_nan=True), o
    return names, outs, masks


def fix_output_shapes(model, x):
    """Some converters declare wrong output shapes (skl2onnx: [N, 1] for a
    multi-output regressor; onnxmltools: [1] for labels): declare what the
    model really produces, with a symbolic batch dimension."""
    sess = ort_session(model)
    got = sess.run(None, {sess.get_inputs()[0].name: x})
    for vi, v in zip(model.graph.output, got):
        shape = vi.type.tensor_type.shape
        while len(shape.dim):
            shape.dim.pop()
        for i, n in enumerate(v.shape):
            dim = shape.dim.add()
            if i == 0:
                dim.dim_param = "N"
            else:
                dim.dim_value = n


def write_case(outdir, name, model, x, meta):
    x = np.ascontiguousarray(x)
    fix_output_shapes(model, x)
    d = os.path.join(outdir, name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    data = model.SerializeToString()
    if len(data) > MAX_MODEL_BYTES:
        raise SystemExit("%s: model is %d bytes (limit %d)" % (name, len(data), MAX_MODEL_BYTES))
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(data)
    np.save(os.path.join(d, "input.npy"), x)
    names, outs, masks = ort_reference(model, x)
    for o in names:
        v = outs[o]
        if v.dtype == object:
            v = np.array([s.encode() for s in v.ravel()], dtype="S").reshape(v.shape)
        np.save(os.path.join(d, "expected_%s.npy" % safe(o)), v)
    for o, m in masks.items():
        np.save(os.path.join(d, "mask_%s.npy" % safe(o)), m)
    import onnxruntime
    meta = dict(meta)
    meta.update({
        "case": name,
        "generator": "tools/gen_tree_fixtures_onnxml.py",
        "onnxruntime_version": onnxruntime.__version__,
        "onnx_version": onnx.__version__,
        "numpy_version": np.__version__,
        "input": model.graph.input[0].name,
        "outputs": names,
        "masked": sorted(masks),
        "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        "ops": sorted({n.op_type for n in model.graph.node}),
        "n_rows": int(x.shape[0]),
    })
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")


def write_bad(outdir, name, model, x, message):
    d = os.path.join(outdir, "bad", name)
    if os.path.isdir(d):
        shutil.rmtree(d)
    os.makedirs(d)
    with open(os.path.join(d, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    np.save(os.path.join(d, "input.npy"), x)
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump({"case": name, "expect_exit": 2, "message": message}, f,
                  indent=2, sort_keys=True)
        f.write("\n")


def safe(name):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------

def thresholds(model):
    vals = {}
    for n in model.graph.node:
        if not n.op_type.startswith("TreeEnsemble"):
            continue
        a = {x.name: oh.get_attribute_value(x) for x in n.attribute}
        feats = a.get("nodes_featureids", [])
        if "nodes_values" in a:
            th = list(a["nodes_values"])
        elif "nodes_values_as_tensor" in a:
            th = list(onnx.numpy_helper.to_array(a["nodes_values_as_tensor"]))
        elif "nodes_splits" in a:
            th = list(onnx.numpy_helper.to_array(a["nodes_splits"]))
        else:
            th = []
        for f, t in zip(feats, th):
            vals.setdefault(int(f), []).append(float(t))
    return vals


def make_input(rng, model, n_rows, n_feat, dtype=np.float32, nan=0.1, scale=1.0):
    x = rng.normal(size=(n_rows, n_feat)) * scale
    x[rng.random(size=x.shape) < nan] = np.nan
    th = thresholds(model)
    extra = []
    for f, ts in sorted(th.items()):
        if f >= n_feat:
            continue
        for t in ts[:12]:
            row = rng.normal(size=n_feat) * scale
            row[f] = t
            extra.append(row)
    if extra:
        x = np.vstack([x, np.array(extra)])
    if np.issubdtype(dtype, np.integer):
        x = np.nan_to_num(np.round(x * 2), nan=0.0)
    return x.astype(dtype)


# ---------------------------------------------------------------------------
# converted models
# ---------------------------------------------------------------------------

def data_cls(n_classes, n=300, f=6, seed=0):
    from sklearn.datasets import make_classification
    x, y = make_classification(n, f, n_informative=4, n_classes=n_classes,
                               n_clusters_per_class=1, random_state=seed)
    return x.astype(np.float32), y


def data_reg(n=300, f=5, targets=1, seed=0):
    from sklearn.datasets import make_regression
    x, y = make_regression(n, f, n_informative=4, n_targets=targets,
                           noise=0.1, random_state=seed)
    return x.astype(np.float32), y


def skl(mdl, x):
    from skl2onnx import to_onnx
    try:
        opts = {id(mdl): {"zipmap": False}} if hasattr(mdl, "classes_") else None
        return to_onnx(mdl, x[:1], options=opts, target_opset=OPSET)
    except Exception:
        raise


def with_nan_training(x, rng, frac=0.1):
    x = x.copy()
    x[rng.random(size=x.shape) < frac] = np.nan
    return x


def sk_case(kind):
    from sklearn import ensemble, tree
    rng = np.random.default_rng(1)
    if kind == "sk_dt_clf_bin":
        x, y = data_cls(2)
        m = tree.DecisionTreeClassifier(max_depth=4, random_state=0).fit(x, y)
    elif kind == "sk_dt_clf3":
        x, y = data_cls(3)
        m = tree.DecisionTreeClassifier(max_depth=5, random_state=0).fit(x, y)
    elif kind == "sk_dt_clf_str":
        x, y = data_cls(3)
        y = np.array(["alpha", "beta", "gamma"])[y]
        m = tree.DecisionTreeClassifier(max_depth=4, random_state=0).fit(x, y)
    elif kind == "sk_dt_clf_nan":
        # scikit-learn >= 1.3 learns a side for missing values
        x, y = data_cls(2)
        x = with_nan_training(x, rng)
        m = tree.DecisionTreeClassifier(max_depth=4, random_state=0).fit(x, y)
    elif kind == "sk_dt_reg":
        x, y = data_reg()
        m = tree.DecisionTreeRegressor(max_depth=5, random_state=0).fit(x, y)
    elif kind == "sk_dt_reg_multi":
        x, y = data_reg(targets=3)
        m = tree.DecisionTreeRegressor(max_depth=4, random_state=0).fit(x, y)
    elif kind == "sk_rf_clf3":
        x, y = data_cls(3)
        m = ensemble.RandomForestClassifier(8, max_depth=4, random_state=0).fit(x, y)
    elif kind == "sk_rf_clf_bin":
        x, y = data_cls(2)
        m = ensemble.RandomForestClassifier(6, max_depth=4, random_state=0).fit(x, y)
    elif kind == "sk_rf_reg":
        x, y = data_reg()
        m = ensemble.RandomForestRegressor(8, max_depth=5, random_state=0).fit(x, y)
    elif kind == "sk_et_reg":
        x, y = data_reg()
        m = ensemble.ExtraTreesRegressor(8, max_depth=5, random_state=0).fit(x, y)
    elif kind == "sk_gb_clf_bin":
        x, y = data_cls(2)
        m = ensemble.GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(x, y)
    elif kind == "sk_gb_clf3":
        x, y = data_cls(3)
        m = ensemble.GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0).fit(x, y)
    elif kind == "sk_gb_reg":
        x, y = data_reg()
        m = ensemble.GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(x, y)
    elif kind == "sk_hgb_clf_bin":
        x, y = data_cls(2)
        x = with_nan_training(x, rng)
        m = ensemble.HistGradientBoostingClassifier(max_iter=10, max_depth=3, random_state=0).fit(x, y)
    elif kind == "sk_hgb_clf3":
        x, y = data_cls(3)
        x = with_nan_training(x, rng)
        m = ensemble.HistGradientBoostingClassifier(max_iter=6, max_depth=3, random_state=0).fit(x, y)
    elif kind == "sk_hgb_reg":
        x, y = data_reg()
        x = with_nan_training(x, rng)
        m = ensemble.HistGradientBoostingRegressor(max_iter=10, max_depth=3, random_state=0).fit(x, y)
    else:
        raise KeyError(kind)
    model = skl(m, x)
    xin = make_input(rng, model, 120, x.shape[1])
    return model, xin, {"source": "scikit-learn %s via skl2onnx" % type(m).__name__}


def xgb_case(kind):
    import onnxmltools
    import xgboost as xgb
    from onnxmltools.convert.common.data_types import FloatTensorType
    rng = np.random.default_rng(2)
    if kind == "xgb_clf_bin":
        x, y = data_cls(2)
        m = xgb.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1, random_state=0)
    elif kind == "xgb_clf3":
        x, y = data_cls(3)
        m = xgb.XGBClassifier(n_estimators=8, max_depth=3, n_jobs=1, random_state=0)
    elif kind == "xgb_reg":
        x, y = data_reg()
        m = xgb.XGBRegressor(n_estimators=20, max_depth=3, n_jobs=1, random_state=0)
    else:
        raise KeyError(kind)
    x = with_nan_training(x, rng)
    m.fit(x, y)
    model = onnxmltools.convert_xgboost(
        m, initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
        target_opset=15)
    fix_opsets(model)
    xin = make_input(rng, model, 120, x.shape[1])
    return model, xin, {"source": "xgboost %s %s via onnxmltools" % (xgb.__version__, type(m).__name__)}


def lgb_case(kind):
    import lightgbm as lgb
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType
    rng = np.random.default_rng(3)
    p = dict(n_estimators=12, num_leaves=8, n_jobs=1, random_state=0, verbose=-1)
    if kind == "lgb_clf_bin":
        x, y = data_cls(2)
        m = lgb.LGBMClassifier(**p)
    elif kind == "lgb_clf3":
        x, y = data_cls(3)
        m = lgb.LGBMClassifier(**p)
    elif kind == "lgb_reg":
        x, y = data_reg()
        m = lgb.LGBMRegressor(**p)
    else:
        raise KeyError(kind)
    x = with_nan_training(x, rng)
    m.fit(x, y)
    model = onnxmltools.convert_lightgbm(
        m, initial_types=[("input", FloatTensorType([None, x.shape[1]]))],
        zipmap=False, target_opset=15)
    fix_opsets(model)
    xin = make_input(rng, model, 120, x.shape[1])
    return model, xin, {"source": "lightgbm %s %s via onnxmltools" % (lgb.__version__, type(m).__name__)}


def fix_opsets(model):
    """Keep the default domain within axle's importer range, and declare it
    when the converter left it out (onnxmltools' XGBoost models import only
    ai.onnx.ml; axle's importer requires a default-domain opset)."""
    has = False
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            has = True
            if o.version > 18:
                o.version = 17
    if not has:
        model.opset_import.append(oh.make_opsetid("", 15))


# ---------------------------------------------------------------------------
# hand-written models
# ---------------------------------------------------------------------------

def model_of(node, in_dtype, n_feat, outs, ml=3, extra_nodes=()):
    g = oh.make_graph([node, *extra_nodes], "g",
                      [oh.make_tensor_value_info("X", in_dtype, [None, n_feat])],
                      [oh.make_tensor_value_info(n, t, s) for n, t, s in outs])
    m = oh.make_model(g, opset_imports=[oh.make_opsetid("", 17),
                                        oh.make_opsetid("ai.onnx.ml", ml)])
    m.ir_version = 8
    return m


def regressor(attrs, n_feat, n_targets, in_dtype=TP.FLOAT):
    node = oh.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
    return model_of(node, in_dtype, n_feat, [("Y", TP.FLOAT, [None, n_targets])])


def classifier(attrs, n_feat, n_classes, strings=False, in_dtype=TP.FLOAT):
    node = oh.make_node("TreeEnsembleClassifier", ["X"], ["Y", "Z"], domain="ai.onnx.ml", **attrs)
    return model_of(node, in_dtype, n_feat,
                    [("Y", TP.STRING if strings else TP.INT64, [None]),
                     ("Z", TP.FLOAT, [None, n_classes])])


STUMP = dict(nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 0, 0],
             nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"], nodes_values=[1.0, 0.0, 0.0],
             nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0])


def edge_modes():
    """Every split mode, with and without missing-value tracking, on values
    below, at and above the threshold and NaN."""
    modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
    a = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes",
                         "nodes_values", "nodes_truenodeids", "nodes_falsenodeids",
                         "nodes_missing_value_tracks_true", "target_treeids", "target_nodeids",
                         "target_ids", "target_weights"]}
    t = 0
    for mi, mode in enumerate(modes):
        for track in (0, 1):
            a["nodes_treeids"] += [t] * 3
            a["nodes_nodeids"] += [0, 1, 2]
            a["nodes_featureids"] += [mi % 3, 0, 0]
            a["nodes_modes"] += [mode, "LEAF", "LEAF"]
            a["nodes_values"] += [0.5, 0.0, 0.0]
            a["nodes_truenodeids"] += [1, 0, 0]
            a["nodes_falsenodeids"] += [2, 0, 0]
            a["nodes_missing_value_tracks_true"] += [track, 0, 0]
            a["target_treeids"] += [t, t]
            a["target_nodeids"] += [1, 2]
            a["target_ids"] += [t, t]
            a["target_weights"] += [1.0 + t, -2.0 - t]
            t += 1
    a["n_targets"] = t
    m = regressor(a, 3, t)
    vals = np.array([0.25, 0.5, 0.75, np.nan, -np.inf, np.inf], np.float32)
    x = np.array(np.meshgrid(vals, vals, vals)).reshape(3, -1).T.astype(np.float32)
    return m, x, {"source": "hand-written: every split mode x missing tracking"}


def edge_precision():
    """1e8 + 1 - 1e8: ONNX Runtime sums float inputs in float."""
    a = dict(nodes_treeids=[0, 1, 2], nodes_nodeids=[0, 0, 0], nodes_featureids=[0, 0, 0],
             nodes_modes=["LEAF"] * 3, nodes_values=[0.0] * 3, nodes_truenodeids=[0] * 3,
             nodes_falsenodeids=[0] * 3, target_treeids=[0, 1, 2], target_nodeids=[0, 0, 0],
             target_ids=[0, 0, 0], target_weights=[1e8, 1.0, -1e8], n_targets=1,
             base_values=[0.5])
    return regressor(a, 1, 1), np.zeros((3, 1), np.float32), {"source": "hand-written: float accumulation"}


def edge_binary(ids, nodes, w, base, post, labels=None, strings=None):
    a = dict(STUMP)
    a.update(class_treeids=[0] * len(ids), class_nodeids=nodes, class_ids=ids,
             class_weights=w, post_transform=post)
    if strings:
        a["classlabels_strings"] = strings
    else:
        a["classlabels_int64s"] = labels or [0, 1]
    if base is not None:
        a["base_values"] = base
    m = classifier(a, 1, 2, strings=bool(strings))
    x = np.array([[0.0], [1.0], [2.0], [np.nan]], np.float32)
    return m, x, {"source": "hand-written: binary classifier ids=%s weights=%s base=%s %s" % (ids, w, base, post)}


BINARY_LAYOUTS = {
    "1col_pos": ([0, 0], [1, 2], [0.3, 0.8]),
    "1col_mixed": ([0, 0], [1, 2], [-0.3, 0.8]),
    "1col_cls1": ([1, 1], [1, 2], [0.3, 0.8]),
    "1col_partial": ([0], [1], [0.7]),
    "2col": ([0, 1, 0, 1], [1, 1, 2, 2], [0.7, 0.3, 0.2, 0.8]),
    "2col_partial": ([0, 1], [1, 2], [0.7, 0.8]),
}
POSTS = ["NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO", "PROBIT"]
BASES = {"nobase": None, "base1": [0.1], "base2": [0.1, 0.2]}


def edge_regressor_presence(agg, post):
    """Two targets, each only named by some leaves; base values."""
    a = dict(nodes_treeids=[0, 0, 0, 1, 1, 1], nodes_nodeids=[0, 1, 2, 0, 1, 2],
             nodes_featureids=[0, 0, 0, 1, 0, 0],
             nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"] * 2,
             nodes_values=[1.0, 0, 0, -0.5, 0, 0], nodes_truenodeids=[1, 0, 0, 1, 0, 0],
             nodes_falsenodeids=[2, 0, 0, 2, 0, 0],
             target_treeids=[0, 0, 1, 1], target_nodeids=[1, 2, 1, 2], target_ids=[0, 1, 0, 2],
             target_weights=[0.1, 0.2, 0.35, -0.4], n_targets=3, base_values=[0.5, 0.25, -0.125],
             aggregate_function=agg, post_transform=post)
    m = regressor(a, 2, 3)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(40, 2)).astype(np.float32)
    x[::7, 0] = np.nan
    return m, x, {"source": "hand-written: partly scored targets, %s %s" % (agg, post)}


def edge_shared():
    """A node reached along two paths (legal for ONNX Runtime), node ids out of
    order, tree ids out of order, a leaf without weights, weights on a split
    node (ignored). ONNX Runtime wants child ids below the node count."""
    a = dict(nodes_treeids=[7, 7, 7, 7, 7, 3, 3, 3],
             nodes_nodeids=[4, 1, 3, 0, 2, 5, 7, 6],
             nodes_featureids=[0, 1, 0, 0, 0, 2, 0, 0],
             nodes_modes=["BRANCH_LT", "BRANCH_GT", "LEAF", "LEAF", "LEAF",
                          "BRANCH_GTE", "LEAF", "LEAF"],
             nodes_values=[0.0, 0.5, 0, 0, 0, 0.25, 0, 0],
             nodes_truenodeids=[1, 3, 0, 0, 0, 7, 0, 0],
             nodes_falsenodeids=[3, 0, 0, 0, 0, 6, 0, 0],
             target_treeids=[7, 7, 3, 3, 7], target_nodeids=[3, 0, 7, 6, 1],
             target_ids=[0, 0, 0, 0, 0], target_weights=[1.5, -2.0, 0.25, 4.0, 100.0],
             n_targets=1)
    m = regressor(a, 3, 1)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(40, 3)).astype(np.float32)
    x[::5, 1] = np.nan
    return m, x, {"source": "hand-written: shared node, odd ids, empty leaf"}


def edge_dtype(dt):
    npdt = {TP.DOUBLE: np.float64, TP.INT64: np.int64, TP.INT32: np.int32}[dt]
    a = dict(nodes_treeids=[0, 0, 0, 0, 0], nodes_nodeids=[0, 1, 2, 3, 4],
             nodes_featureids=[0, 1, 0, 0, 0],
             nodes_modes=["BRANCH_LEQ", "BRANCH_GT", "LEAF", "LEAF", "LEAF"],
             nodes_values=[1.0, -1.0, 0, 0, 0], nodes_truenodeids=[1, 2, 0, 0, 0],
             nodes_falsenodeids=[4, 3, 0, 0, 0],
             class_treeids=[0] * 6, class_nodeids=[2, 2, 3, 3, 4, 4], class_ids=[0, 1] * 3,
             class_weights=[0.9, 0.1, 0.4, 0.6, 0.2, 0.8], classlabels_int64s=[10, 20],
             post_transform="NONE")
    m = classifier(a, 2, 2, in_dtype=dt)
    rng = np.random.default_rng(6)
    x = np.round(rng.normal(size=(30, 2)) * 2)
    if npdt == np.float64:
        x = x / 2 + rng.normal(size=x.shape) * 1e-3
        x[::6, 0] = np.nan
    return m, x.astype(npdt), {"source": "hand-written: %s input" % np.dtype(npdt).name}


def edge_as_tensor(double):
    """nodes_values_as_tensor, target_weights_as_tensor, base_values_as_tensor.
    ONNX Runtime wants them in the threshold type: float tensors for a float
    input, double tensors for a double input."""
    t = onnx.numpy_helper.from_array
    ft = np.float64 if double else np.float32
    a = dict(nodes_treeids=[0, 0, 0], nodes_nodeids=[0, 1, 2], nodes_featureids=[0, 0, 0],
             nodes_modes=["BRANCH_LEQ", "LEAF", "LEAF"],
             nodes_values_as_tensor=t(np.array([0.1, 0, 0], ft)),
             nodes_truenodeids=[1, 0, 0], nodes_falsenodeids=[2, 0, 0],
             target_treeids=[0, 0], target_nodeids=[1, 2], target_ids=[0, 0],
             target_weights_as_tensor=t(np.array([1.0 / 3, 2.0 / 3], ft)),
             base_values_as_tensor=t(np.array([0.1], ft)), n_targets=1)
    m = regressor(a, 1, 1, in_dtype=TP.DOUBLE if double else TP.FLOAT)
    v = np.float32(0.1)
    x = np.array([[v], [np.nextafter(v, np.float32(1))], [np.nextafter(v, np.float32(-1))],
                  [0.0], [1.0], [0.1]], np.float32)
    if double:
        # the threshold itself and clear values either side; axle rounds a
        # double input to float, so doubles within half a float step of a
        # threshold (but not on it) are not compared (docs/formats)
        x = np.array([[0.1], [0.0], [1.0], [0.1 + 1e-6], [0.1 - 1e-6]], np.float64)
    return m, x, {"source": "hand-written: *_as_tensor attributes, %s input" % ("double" if double else "float")}


def ensemble5(attrs, in_dtype, n_feat, n_targets):
    node = oh.make_node("TreeEnsemble", ["X"], ["Y"], domain="ai.onnx.ml", **attrs)
    return model_of(node, in_dtype, n_feat, [("Y", in_dtype, [None, n_targets])], ml=5)


def edge_ensemble5(which):
    t = onnx.numpy_helper.from_array
    if which == "single_tree":  # ONNX's own backend case, double
        a = dict(n_targets=2, aggregate_function=1, post_transform=0, tree_roots=[0],
                 nodes_modes=t(np.array([0, 0, 0], np.uint8)), nodes_featureids=[0, 0, 0],
                 nodes_splits=t(np.array([3.14, 1.2, 4.2], np.float64)),
                 nodes_truenodeids=[1, 0, 1], nodes_trueleafs=[0, 1, 1],
                 nodes_falsenodeids=[2, 2, 3], nodes_falseleafs=[0, 1, 1],
                 leaf_targetids=[0, 1, 0, 1],
                 leaf_weights=t(np.array([5.23, 12.12, -12.23, 7.21], np.float64)))
        m = ensemble5(a, TP.DOUBLE, 2, 2)
        x = np.array([1.2, 3.4, -0.12, 1.66, 4.14, 1.77, np.nan, 0, 3.14, 3.14], np.float64).reshape(-1, 2)
        return m, x, {"source": "ONNX backend test_ai_onnx_ml_tree_ensemble_single_tree (+ rows)"}
    if which == "set_membership":  # ONNX's own backend case, float
        a = dict(n_targets=4, aggregate_function=1, post_transform=0, tree_roots=[0],
                 membership_values=t(np.array([1.2, 3.7, 8, 9, np.nan, 12, 7, np.nan], np.float32)),
                 nodes_modes=t(np.array([0, 6, 6], np.uint8)), nodes_featureids=[0, 0, 0],
                 nodes_splits=t(np.array([11, 232344.0, np.nan], np.float32)),
                 nodes_trueleafs=[0, 1, 1], nodes_truenodeids=[1, 0, 1],
                 nodes_falseleafs=[1, 0, 1], nodes_falsenodeids=[2, 2, 3],
                 leaf_targetids=[0, 1, 2, 3],
                 leaf_weights=t(np.array([1, 10, 1000, 100], np.float32)))
        m = ensemble5(a, TP.FLOAT, 1, 4)
        x = np.array([1.2, 3.4, -0.12, np.nan, 12, 7, 3.7, 8, 9, 11, 11.5], np.float32).reshape(-1, 1)
        return m, x, {"source": "ONNX backend test_ai_onnx_ml_tree_ensemble_set_membership (+ rows)"}
    if which.startswith("member_track"):  # members, tracking, two trees, post_transform N
        post = int(which[-1])
        a = dict(n_targets=2, aggregate_function=post % 4, post_transform=post, tree_roots=[0, 3],
                 membership_values=t(np.array([0, 2, 5, np.nan, 1, np.nan], np.float32)),
                 nodes_modes=t(np.array([6, 0, 1, 6], np.uint8)), nodes_featureids=[0, 1, 1, 0],
                 nodes_splits=t(np.array([0, 0.5, -0.5, 0], np.float32)),
                 nodes_missing_value_tracks_true=[1, 0, 1, 0],
                 nodes_truenodeids=[1, 0, 2, 3], nodes_trueleafs=[0, 1, 1, 1],
                 nodes_falsenodeids=[2, 1, 3, 4], nodes_falseleafs=[0, 1, 1, 1],
                 leaf_targetids=[0, 1, 0, 1, 0],
                 leaf_weights=t(np.array([1.5, -0.5, 2.0, 0.25, -1.0], np.float32)))
        m = ensemble5(a, TP.FLOAT, 2, 2)
        rng = np.random.default_rng(7)
        x = np.c_[rng.integers(-1, 7, 60), rng.normal(size=60)].astype(np.float32)
        x[::6, 0] = np.nan
        x[::5, 1] = np.nan
        return m, x, {"source": "hand-written: TreeEnsemble-5 members with tracking, "
                                "aggregate_function %d, post_transform %d" % (post % 4, post)}
    raise KeyError(which)


# ---------------------------------------------------------------------------
# random ensembles: ONNX Runtime's finishing rules, exercised broadly
# ---------------------------------------------------------------------------

def random_trees(rng, n_feat, n_out, classifier_like):
    grid = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32)
    modes = ["BRANCH_LEQ", "BRANCH_LT", "BRANCH_GTE", "BRANCH_GT", "BRANCH_EQ", "BRANCH_NEQ"]
    a = {k: [] for k in ["nodes_treeids", "nodes_nodeids", "nodes_featureids", "nodes_modes",
                         "nodes_values", "nodes_truenodeids", "nodes_falsenodeids",
                         "nodes_missing_value_tracks_true", "w_tree", "w_node", "w_id", "w_val"]}
    all_pos = classifier_like and rng.random() < 0.5
    one_col = rng.random() < 0.3
    col = int(rng.integers(0, n_out))
    n_trees = int(rng.integers(1, 5))
    for tr in range(n_trees):
        tid = int(tr * 3 + 1)
        ids = iter(range(1000))
        first = len(a["nodes_nodeids"])
        first_w = len(a["w_node"])
        def grow(depth):
            nid = int(next(ids))
            rec = len(a["nodes_nodeids"])
            a["nodes_treeids"].append(tid)
            a["nodes_nodeids"].append(nid)
            if depth == 0 or rng.random() < 0.25:
                a["nodes_featureids"].append(0)
                a["nodes_modes"].append("LEAF")
                a["nodes_values"].append(0.0)
                a["nodes_truenodeids"].append(0)
                a["nodes_falsenodeids"].append(0)
                a["nodes_missing_value_tracks_true"].append(0)
                if rng.random() < 0.9:
                    k = 1 if one_col else int(rng.integers(1, n_out + 1))
                    cols = [col] if one_col else rng.choice(n_out, size=k, replace=False)
                    for c in cols:
                        w = float(rng.uniform(0, 1) if all_pos else rng.normal())
                        a["w_tree"].append(tid)
                        a["w_node"].append(nid)
                        a["w_id"].append(int(c))
                        a["w_val"].append(round(w, 3))
                return nid
            a["nodes_featureids"].append(int(rng.integers(0, n_feat)))
            a["nodes_modes"].append(str(rng.choice(modes, p=[.5, .1, .1, .1, .1, .1])))
            a["nodes_values"].append(float(rng.choice(grid)))
            a["nodes_truenodeids"].append(0)
            a["nodes_falsenodeids"].append(0)
            a["nodes_missing_value_tracks_true"].append(int(rng.random() < 0.4))
            t = grow(depth - 1)
            f = grow(depth - 1)
            a["nodes_truenodeids"][rec] = t
            a["nodes_falsenodeids"][rec] = f
            return nid
        grow(int(rng.integers(1, 4)))
        # node ids in a random order (ONNX Runtime wants them < node count)
        cnt = len(a["nodes_nodeids"]) - first
        perm = [int(v) for v in rng.permutation(cnt)]
        for key in ["nodes_nodeids", "nodes_truenodeids", "nodes_falsenodeids"]:
            for i in range(first, first + cnt):
                if key == "nodes_nodeids" or a["nodes_modes"][i] != "LEAF":
                    a[key][i] = perm[a[key][i]]
        for i in range(first_w, len(a["w_node"])):
            a["w_node"][i] = perm[a["w_node"][i]]
    return a


def random_case(seed):
    rng = np.random.default_rng(1000 + seed)
    n_feat = 3
    clf = seed % 3 != 2
    n_out = int(rng.choice([2, 2, 3, 4])) if clf else int(rng.choice([1, 2, 3]))
    a = random_trees(rng, n_feat, n_out, clf)
    while not a["w_id"]:  # an empty list has no attribute type
        a = random_trees(rng, n_feat, n_out, clf)
    pre = "class" if clf else "target"
    attrs = {k: v for k, v in a.items() if not k.startswith("w_")}
    attrs.update({pre + "_treeids": a["w_tree"], pre + "_nodeids": a["w_node"],
                  pre + "_ids": a["w_id"], pre + "_weights": a["w_val"]})
    attrs["post_transform"] = str(rng.choice(POSTS))
    nb = [0, n_out] if not (clf and n_out == 2) else [0, 1, 2]
    nb = int(rng.choice(nb))
    if nb:
        attrs["base_values"] = [round(float(v), 3) for v in rng.normal(size=nb)]
    if clf:
        if rng.random() < 0.3:
            attrs["classlabels_strings"] = ["c%d" % i for i in range(n_out)]
        else:
            attrs["classlabels_int64s"] = [int(v) for v in rng.choice(50, n_out, replace=False)]
        m = classifier(attrs, n_feat, n_out, strings="classlabels_strings" in attrs)
    else:
        attrs["n_targets"] = n_out
        attrs["aggregate_function"] = str(rng.choice(["SUM", "AVERAGE", "MIN", "MAX"]))
        m = regressor(attrs, n_feat, n_out)
    grid = np.array([-1.0, -0.5, 0.0, 0.5, 1.0, np.nan, 0.25, -2.0], np.float32)
    x = rng.choice(grid, size=(48, n_feat)).astype(np.float32)
    return m, x, {"source": "random ensemble seed %d" % seed}


# ---------------------------------------------------------------------------
# bad models
# ---------------------------------------------------------------------------

def bad_cases():
    out = []
    a = dict(STUMP, target_treeids=[0, 0], target_nodeids=[1, 2], target_ids=[0, 0],
             target_weights=[1.0, 2.0], n_targets=1)
    x = np.zeros((2, 1), np.float32)
    b = dict(a, nodes_truenodeids=[7, 0, 0])
    out.append(("missing_child", regressor(b, 1, 1), x, "true child 7 is not a node of tree 0"))
    b = dict(a, nodes_falsenodeids=[0, 0, 0])
    out.append(("cycle", regressor(b, 1, 1), x, "cycle"))
    b = dict(a, target_ids=[0, 3])
    out.append(("target_out_of_range", regressor(b, 1, 1), x, "out of range"))
    b = dict(a, target_nodeids=[1, 9])
    out.append(("weight_on_missing_node", regressor(b, 1, 1), x, "does not exist"))
    b = dict(a, nodes_nodeids=[0, 1, 1])
    out.append(("duplicate_node", regressor(b, 1, 1), x, "defined twice"))
    b = dict(a, nodes_modes=["BRANCH_WHAT", "LEAF", "LEAF"])
    out.append(("unknown_mode", regressor(b, 1, 1), x, "unknown mode"))
    b = dict(a, nodes_featureids=[4, 0, 0])
    node = oh.make_node("TreeEnsembleRegressor", ["X"], ["Y"], domain="ai.onnx.ml", **b)
    m = model_of(node, TP.FLOAT, None, [("Y", TP.FLOAT, [None, 1])])
    out.append(("feature_beyond_input", m, np.zeros((3, 2), np.float32),
                "reads feature 4 but the input has 2 features"))
    b = dict(a, nodes_values=[1.0, 0.0])
    out.append(("length_mismatch", regressor(b, 1, 1), x, "disagree in length"))
    return out


# ---------------------------------------------------------------------------

def cases():
    c = {}
    for k in ["sk_dt_clf_bin", "sk_dt_clf3", "sk_dt_clf_str", "sk_dt_clf_nan", "sk_dt_reg",
              "sk_dt_reg_multi", "sk_rf_clf3", "sk_rf_clf_bin", "sk_rf_reg", "sk_et_reg",
              "sk_gb_clf_bin", "sk_gb_clf3", "sk_gb_reg", "sk_hgb_clf_bin", "sk_hgb_clf3",
              "sk_hgb_reg"]:
        c[k] = (lambda k=k: sk_case(k))
    for k in ["xgb_clf_bin", "xgb_clf3", "xgb_reg"]:
        c[k] = (lambda k=k: xgb_case(k))
    for k in ["lgb_clf_bin", "lgb_clf3", "lgb_reg"]:
        c[k] = (lambda k=k: lgb_case(k))
    c["edge_modes"] = edge_modes
    c["edge_precision"] = edge_precision
    for lay, (ids, nodes, w) in BINARY_LAYOUTS.items():
        for bn, base in BASES.items():
            for post in POSTS:
                c["bin_%s_%s_%s" % (lay, bn, post.lower())] = (
                    lambda ids=ids, nodes=nodes, w=w, base=base, post=post:
                    edge_binary(ids, nodes, w, base, post))
    c["bin_labels57"] = lambda: edge_binary([0, 1, 0, 1], [1, 1, 2, 2], [0.7, 0.3, 0.2, -0.8],
                                            None, "NONE", labels=[5, 7])
    c["bin_strings_mixed"] = lambda: edge_binary([0, 0], [1, 2], [-0.3, 0.8], [0.2], "LOGISTIC",
                                                 strings=["neg", "pos"])
    for agg in ["SUM", "AVERAGE", "MIN", "MAX"]:
        for post in ["NONE", "SOFTMAX", "LOGISTIC", "SOFTMAX_ZERO", "PROBIT"]:
            c["reg_presence_%s_%s" % (agg.lower(), post.lower())] = (
                lambda agg=agg, post=post: edge_regressor_presence(agg, post))
    c["edge_shared"] = edge_shared
    c["edge_double"] = lambda: edge_dtype(TP.DOUBLE)
    c["edge_int64"] = lambda: edge_dtype(TP.INT64)
    c["edge_int32"] = lambda: edge_dtype(TP.INT32)
    c["edge_as_tensor"] = lambda: edge_as_tensor(False)
    c["edge_as_tensor_double"] = lambda: edge_as_tensor(True)
    for w in ["single_tree", "set_membership"] + ["member_track%d" % p for p in range(5)]:
        c["te5_" + w] = (lambda w=w: edge_ensemble5(w))
    for s in range(60):
        c["rand_%02d" % s] = (lambda s=s: random_case(s))
    return c


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir", nargs="?", default=DEFAULT_OUT)
    ap.add_argument("--only")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()
    cs = cases()
    if args.list:
        print("\n".join(sorted(cs)))
        return
    only = set(args.only.split(",")) if args.only else None
    os.makedirs(args.outdir, exist_ok=True)
    for name, fn in sorted(cs.items()):
        if only and name not in only:
            continue
        model, x, meta = fn()
        try:
            write_case(args.outdir, name, model, x, meta)
        except Exception as e:  # ONNX Runtime refuses the model or a row
            if name.startswith("rand_"):
                print("skip %s: %s" % (name, str(e).splitlines()[0][:160]), file=sys.stderr)
                shutil.rmtree(os.path.join(args.outdir, name), ignore_errors=True)
                continue
            raise
        print("wrote", name)
    if not only or any(n.startswith("bad") for n in only):
        for name, model, x, msg in bad_cases():
            write_bad(args.outdir, name, model, x, msg)
            print("wrote bad/" + name)


if __name__ == "__main__":
    main()
