#!/usr/bin/env python3
"""tools/gen_tree_fixtures_lightgbm.py [OUTDIR] - LightGBM text models with
LightGBM's own predictions, for the importer's tests.

Run with .venv-fixtures/bin/python (PyPI lightgbm, numpy). For every case
NAME it trains a small model on seeded synthetic data and writes

    OUTDIR/NAME/model.txt                Booster.save_model (LightGBM's text format)
    OUTDIR/NAME/input.npy                float32 [rows, features]: random rows with
                                         NaNs, exact zeros, -0.0, tiny values, +-inf
                                         and negatives, plus rows sitting on (and one
                                         float step either side of) the model's
                                         thresholds
    OUTDIR/NAME/expected_<output>.npy    what axle must output, from LightGBM:
                                         probabilities (predict, as [1-p, p] for
                                         binary), label (argmax), predictions
    OUTDIR/NAME/expected_raw_score.npy   predict(raw_score=True), for reference
    OUTDIR/NAME/meta.json                outputs to compare, objective, versions

OUTDIR defaults to tests/fixtures/trees/lightgbm; the files are committed, so
the tests need no LightGBM. Predictions are made on the float32 array itself
(LightGBM reads float32 rows and widens them to double), so they are exactly
what LightGBM serves for those inputs. Rerunning with the same LightGBM and
numpy versions reproduces the files byte for byte (one thread, seeded).

Options: --only a,b  generate only these cases; --list  print the case names;
--seeds DIR  write the fuzz seed corpus instead (tests/fuzz/corpus/lightgbm):
tiny models of most cases (4 leaves, 2 rounds), most cut after "end of trees".
"""

import argparse
import json
import os
import sys
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "trees", "lightgbm")
N_TRAIN = 600
N_TEST = 160
MAX_MODEL_BYTES = 200 * 1024

BASE = {
    "verbose": -1,
    "num_threads": 1,
    "deterministic": True,
    "force_row_wise": True,
    "seed": 7,
    "num_leaves": 15,
    "learning_rate": 0.2,
    "min_data_in_leaf": 10,
}


def features(rng, n, f, nan=0.08, zero=0.05):
    """Normal features with NaNs, exact zeros, -0.0 and tiny values."""
    x = rng.normal(size=(n, f)) * rng.uniform(0.5, 3.0, size=f)
    r = rng.random(size=(n, f))
    x[r < zero] = 0.0
    x[(r >= zero) & (r < zero + 0.01)] = -0.0
    x[(r >= zero + 0.01) & (r < zero + 0.015)] = 1e-37
    x[(r >= zero + 0.015) & (r < zero + 0.02)] = -1e-36
    x[rng.random(size=(n, f)) < nan] = np.nan
    return x.astype(np.float32)


def cat_column(rng, n, k, nan=0.08):
    """Integer-coded categories 0..k-1 with NaNs."""
    c = rng.integers(0, k, size=n).astype(np.float64)
    c[rng.random(n) < nan] = np.nan
    return c


def reg_target(x, rng):
    z = np.nan_to_num(x.astype(np.float64))
    return 2.0 * z[:, 0] - 1.5 * z[:, 1] + np.sin(z[:, 2]) + 0.3 * rng.normal(size=len(z))


def split_thresholds(booster):
    """(feature, threshold) of every numerical split."""
    out = []

    def walk(node):
        if "split_feature" not in node:
            return
        if node.get("decision_type") == "<=":
            out.append((node["split_feature"], float(node["threshold"])))
        walk(node["left_child"])
        walk(node["right_child"])

    for t in booster.dump_model()["tree_info"]:
        walk(t["tree_structure"])
    return out


def boundary_rows(booster, x_like, rng, n_rows=48):
    """Rows whose features sit on thresholds: float32(t) and its neighbours
    (x <= t must be decided exactly as LightGBM does in double)."""
    th = split_thresholds(booster)
    if not th:
        return np.zeros((0, x_like.shape[1]), np.float32)
    rows = x_like[rng.integers(0, len(x_like), size=n_rows)].copy()
    for r in range(n_rows):
        for _ in range(3):
            f, t = th[rng.integers(0, len(th))]
            if not abs(t) <= float(np.finfo(np.float32).max):
                continue  # inf, or no float32 near it
            v = np.float32(t)
            step = rng.integers(0, 3)
            if step == 1:
                v = np.nextafter(v, np.float32(np.inf))
            elif step == 2:
                v = np.nextafter(v, np.float32(-np.inf))
            rows[r, f] = v
    return rows.astype(np.float32)


# --------------------------------------------------------------------------
# Cases: name -> function(rng) returning (params, X, y, extra Dataset kwargs,
# rounds, X_test builder or None)
# --------------------------------------------------------------------------

def case_binary(rng):
    x = features(rng, N_TRAIN, 6)
    z = np.nan_to_num(x.astype(np.float64))
    y = (z[:, 0] + 0.5 * z[:, 1] * z[:, 2] + 0.5 * rng.normal(size=N_TRAIN) > 0).astype(int)
    return {"objective": "binary"}, x, y, {}, 30


def case_binary_sigmoid(rng):
    p, x, y, kw, n = case_binary(rng)
    return {"objective": "binary", "sigmoid": 0.7}, x, y, kw, 20


def case_multiclass(rng):
    x = features(rng, N_TRAIN, 5)
    z = np.nan_to_num(x.astype(np.float64))
    y = np.digitize(z[:, 0] + 0.5 * z[:, 1] + 0.3 * rng.normal(size=N_TRAIN), [-0.7, 0.7])
    return {"objective": "multiclass", "num_class": 3}, x, y, {}, 15


def case_multiclassova(rng):
    p, x, y, kw, n = case_multiclass(rng)
    return {"objective": "multiclassova", "num_class": 3}, x, y, kw, 15


def regression_case(objective, **extra):
    def make(rng):
        x = features(rng, N_TRAIN, 5)
        y = reg_target(x, rng)
        if objective in ("poisson", "gamma", "tweedie"):
            y = np.exp(0.4 * np.clip(y, -4, 4)) + (0.0 if objective == "poisson" else 0.05)
            if objective == "poisson":
                y = rng.poisson(y).astype(np.float64)
        if objective == "mape":
            y = y + 10.0
        return dict({"objective": objective}, **extra), x, y, {}, 25
    return make


def case_reg_sqrt(rng):
    x = features(rng, N_TRAIN, 5)
    y = reg_target(x, rng) * 4.0
    return {"objective": "regression", "reg_sqrt": True}, x, y, {}, 25


def case_cross_entropy(rng):
    x = features(rng, N_TRAIN, 5)
    y = 1.0 / (1.0 + np.exp(-reg_target(x, rng)))
    return {"objective": "cross_entropy"}, x, y, {}, 25


def ranking_case(objective):
    def make(rng):
        x = features(rng, N_TRAIN, 5)
        rel = reg_target(x, rng)
        y = np.digitize(rel, [-2.0, 0.0, 2.0])
        group = [20] * (N_TRAIN // 20)
        return {"objective": objective}, x, y, {"group": group}, 20
    return make


def case_categorical(rng):
    num = features(rng, N_TRAIN, 2)
    c1 = cat_column(rng, N_TRAIN, 12)
    c2 = cat_column(rng, N_TRAIN, 40)
    x = np.column_stack([num[:, 0], c1, num[:, 1], c2]).astype(np.float32)
    z = np.nan_to_num(x.astype(np.float64), nan=-1)
    y = np.where(np.isin(z[:, 1], [1, 4, 7, 8]), 2.0, -1.0) + 0.1 * (z[:, 3] % 5) + z[:, 0] + \
        0.2 * rng.normal(size=N_TRAIN)
    params = {"objective": "regression", "min_data_per_group": 5, "cat_smooth": 1.0,
              "max_cat_to_onehot": 4, "cat_l2": 1.0}
    return params, x, y, {"categorical_feature": [1, 3]}, 25


def categorical_test_rows(rng, x):
    """Categorical test columns also get NaN, negative, fractional, unseen
    and huge values."""
    x = x.copy()
    special = np.array([np.nan, -1.0, -0.5, 2.5, 3.99, 11.0, 39.0, 40.0, 77.0, 1e6, 3e9, 0.0],
                       np.float32)
    for col in (1, 3):
        idx = rng.integers(0, len(x), size=40)
        x[idx, col] = special[rng.integers(0, len(special), size=40)]
    return x


def missing_case(**extra):
    def make(rng):
        x = features(rng, N_TRAIN, 5, nan=0.12, zero=0.15)
        z = np.nan_to_num(x.astype(np.float64), nan=3.0)
        y = reg_target(x, rng) + np.where(z[:, 3] == 0, 2.0, 0.0) + np.where(np.isnan(x[:, 4]), -2.0, 0.0)
        return dict({"objective": "regression"}, **extra), x, y, {}, 25
    return make


def case_linear_tree(rng):
    x = features(rng, N_TRAIN, 4, nan=0.05)
    z = np.nan_to_num(x.astype(np.float64))
    y = np.where(z[:, 0] > 0, 3.0 * z[:, 1] - z[:, 2], -2.0 * z[:, 1] + 0.5 * z[:, 3]) + \
        0.1 * rng.normal(size=N_TRAIN)
    return {"objective": "regression", "linear_tree": True, "num_leaves": 6}, x, y, {}, 10


def case_rf(rng):
    x = features(rng, N_TRAIN, 5)
    y = reg_target(x, rng)
    return {"objective": "regression", "boosting": "rf", "bagging_freq": 1,
            "bagging_fraction": 0.7, "feature_fraction": 0.8}, x, y, {}, 20


def case_rf_multiclass(rng):
    p, x, y, kw, n = case_multiclass(rng)
    return {"objective": "multiclass", "num_class": 3, "boosting": "rf", "bagging_freq": 1,
            "bagging_fraction": 0.7}, x, y, kw, 10


def case_deep(rng):
    """Trees deeper than the perfect layout takes (general evaluator)."""
    x = features(rng, N_TRAIN, 4)
    y = reg_target(x, rng)
    return {"objective": "regression", "num_leaves": 60, "min_data_in_leaf": 2,
            "max_depth": -1}, x, y, {}, 4


CASES = {
    "binary": case_binary,
    "binary_sigmoid": case_binary_sigmoid,
    "multiclass": case_multiclass,
    "multiclassova": case_multiclassova,
    "regression": regression_case("regression"),
    "regression_l1": regression_case("regression_l1"),
    "huber": regression_case("huber"),
    "fair": regression_case("fair"),
    "quantile": regression_case("quantile", alpha=0.8),
    "mape": regression_case("mape"),
    "poisson": regression_case("poisson"),
    "gamma": regression_case("gamma"),
    "tweedie": regression_case("tweedie"),
    "reg_sqrt": case_reg_sqrt,
    "cross_entropy": case_cross_entropy,
    "lambdarank": ranking_case("lambdarank"),
    "rank_xendcg": ranking_case("rank_xendcg"),
    "categorical": case_categorical,
    "missing_nan": missing_case(),
    "missing_zero": missing_case(zero_as_missing=True),
    "missing_none": missing_case(use_missing=False),
    "linear_tree": case_linear_tree,
    "rf": case_rf,
    "rf_multiclass": case_rf_multiclass,
    "deep": case_deep,
}

CLASSIFY = ("binary", "multiclass", "multiclassova")


def generate(name, out_root):
    import lightgbm as lgb

    rng = np.random.default_rng(zlib.crc32(name.encode()))
    params, x, y, ds_kw, rounds = CASES[name](rng)
    params = dict(BASE, **params)
    booster = lgb.train(params, lgb.Dataset(x, label=y, **ds_kw), num_boost_round=rounds)

    x_test = features(rng, N_TEST, x.shape[1])
    if name == "categorical":
        x_test = x[:N_TEST].copy()
        x_test[:, 0] = features(rng, N_TEST, 1)[:, 0]
        x_test = categorical_test_rows(rng, x_test)
    inf = rng.random(size=x_test.shape) < 0.01
    x_test[inf] = np.where(rng.random(size=x_test.shape) < 0.5, np.inf, -np.inf)[inf]
    x_test = np.concatenate([x_test, boundary_rows(booster, x_test, rng)]).astype(np.float32)
    if name == "categorical":
        x_test = categorical_test_rows(rng, x_test)

    objective = params["objective"]
    raw = booster.predict(x_test, raw_score=True)
    pred = booster.predict(x_test)
    outputs = {}
    if objective in CLASSIFY:
        proba = np.column_stack([1.0 - pred, pred]) if objective == "binary" else pred
        outputs["probabilities"] = proba
        outputs["label"] = np.argmax(proba, axis=1).astype(np.int64)
    else:
        outputs["predictions"] = pred

    d = os.path.join(out_root, name)
    os.makedirs(d, exist_ok=True)
    model_path = os.path.join(d, "model.txt")
    booster.save_model(model_path)
    size = os.path.getsize(model_path)
    if size > MAX_MODEL_BYTES:
        sys.exit("%s: model.txt is %d bytes (limit %d)" % (name, size, MAX_MODEL_BYTES))
    np.save(os.path.join(d, "input.npy"), x_test)
    for k, v in outputs.items():
        np.save(os.path.join(d, "expected_%s.npy" % k), v)
    np.save(os.path.join(d, "expected_raw_score.npy"), raw)
    meta = {
        "case": name,
        "objective": objective,
        "params": {k: v for k, v in params.items() if k not in BASE or k == "num_leaves"},
        "outputs": list(outputs),
        "n_features": int(x.shape[1]),
        "n_rows": int(x_test.shape[0]),
        "num_trees": int(booster.num_trees()),
        "lightgbm_version": lgb.__version__,
        "numpy_version": np.__version__,
        "generator": "tools/gen_tree_fixtures_lightgbm.py",
    }
    with open(os.path.join(d, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
        f.write("\n")
    return size


SEED_CASES = ["binary", "multiclass", "multiclassova", "regression", "reg_sqrt", "poisson",
              "cross_entropy", "lambdarank", "categorical", "missing_zero", "missing_none",
              "linear_tree", "rf", "rf_multiclass"]


def write_seeds(out):
    import lightgbm as lgb

    os.makedirs(out, exist_ok=True)
    for i, name in enumerate(SEED_CASES):
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        params, x, y, ds_kw, rounds = CASES[name](rng)
        params = dict(BASE, **params)
        params["num_leaves"] = 4
        booster = lgb.train(params, lgb.Dataset(x, label=y, **ds_kw), num_boost_round=2)
        text = booster.model_to_string()
        if i % 4 != 0:  # most seeds without the parameters tail
            text = text[: text.index("end of trees") + len("end of trees\n")]
        with open(os.path.join(out, "seed-%s.txt" % name), "w") as f:
            f.write(text)
    print("%d seeds in %s" % (len(SEED_CASES), out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir", nargs="?", default=DEFAULT_OUT)
    ap.add_argument("--only", default="")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--seeds", metavar="DIR")
    a = ap.parse_args()
    if a.seeds:
        write_seeds(a.seeds)
        return
    if a.list:
        print("\n".join(CASES))
        return
    names = [n for n in a.only.split(",") if n] or list(CASES)
    for n in names:
        if n not in CASES:
            sys.exit("unknown case %r (--list shows them)" % n)
    for n in names:
        size = generate(n, a.outdir)
        print("%-16s %7d bytes" % (n, size))


if __name__ == "__main__":
    main()
