#!/usr/bin/env python3
"""Write the XGBoost fixtures of tests/e2e/test_trees_xgboost.py.

    tools/gen_tree_fixtures_xgboost.py [OUT]      cases for this interpreter's xgboost
    tools/gen_tree_fixtures_xgboost.py --all [OUT]  both generators used in the repo:
        /usr/bin/python3 (Debian's python3-xgboost 1.7.4) and
        .venv-fixtures/bin/python (PyPI xgboost 3.x); their JSON schemas differ
        (base_score "5E-1" vs "[5E-1]", per-class intercepts, size_leaf_vector,
        the sklearn attribute), so both are kept.

OUT defaults to tests/fixtures/trees/xgboost. Each case is a directory
<case>_xgb<major><minor>/ holding

    model.json | model.ubj     Booster.save_model / XGBModel.save_model
    input.npy                  float32 [rows, num_feature], with NaNs
    expected_<output>.npy      the library's answer for each axle output:
                               probabilities = XGBClassifier.predict_proba (or
                               [1 - p, p] from Booster.predict), label =
                               XGBClassifier.predict / the argmax Booster.predict
                               gives for multi:softmax, predictions = Booster.predict
    meta.json                  case, model file, outputs, generator versions, and
                               "exact": outputs that must match bit for bit (no
                               transform after the float32 sum)

Models are small (10-30 trees of depth 3-5) so the fixtures can be committed.
Training is single-threaded and seeded; the committed outputs are the reference.
"""

import json
import os
import platform
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "trees", "xgboost")
INTERPRETERS = ["/usr/bin/python3", os.path.join(ROOT, ".venv-fixtures", "bin", "python")]
N_ROWS = 64
N_FEAT = 6


def versions():
    import sklearn
    import xgboost as xgb
    return {"xgboost": xgb.__version__, "numpy": np.__version__,
            "sklearn": sklearn.__version__, "python": platform.python_version()}


def tag():
    import xgboost as xgb
    major, minor = xgb.__version__.split(".")[:2]
    return "xgb%s%s" % (major, minor)


def data(seed, n=400, nf=N_FEAT):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, nf)).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = np.nan
    return rng, x


def test_input(seed, nf=N_FEAT, nan_frac=0.1):
    rng = np.random.default_rng(seed + 1000)
    x = rng.normal(size=(N_ROWS, nf)).astype(np.float32) * 1.5
    x[rng.random(x.shape) < nan_frac] = np.nan
    x[0, :] = np.nan  # one row entirely missing
    return x


def signal(x):
    z = np.nan_to_num(x, nan=0.0).astype(np.float64)
    return z[:, 0] + 0.5 * z[:, 1] * z[:, 2] - 0.3 * z[:, 3] ** 2


class Case:
    def __init__(self, out, name):
        self.dir = os.path.join(out, "%s_%s" % (name, tag()))
        self.name = os.path.basename(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        self.meta = {"case": self.name, "generator": versions(), "outputs": {}, "exact": []}

    def save_model(self, model, ubj=False):
        fname = "model.ubj" if ubj else "model.json"
        model.save_model(os.path.join(self.dir, fname))
        self.meta["model"] = fname

    def save_input(self, x):
        np.save(os.path.join(self.dir, "input.npy"), np.ascontiguousarray(x, np.float32))

    def expect(self, output, value, exact=False, dtype=np.float32):
        fname = "expected_%s.npy" % output
        np.save(os.path.join(self.dir, fname), np.ascontiguousarray(value, dtype))
        self.meta["outputs"][output] = fname
        if exact:
            self.meta["exact"].append(output)

    def finish(self, **extra):
        self.meta.update(extra)
        with open(os.path.join(self.dir, "meta.json"), "w") as f:
            json.dump(self.meta, f, indent=1, sort_keys=True)
            f.write("\n")
        size = sum(os.path.getsize(os.path.join(self.dir, p)) for p in os.listdir(self.dir))
        assert size < 200_000, "%s is %d bytes" % (self.name, size)
        print("wrote %s (%d bytes)" % (self.name, size))


def booster_case(out, name, params, label_fn, rounds=15, ubj=False, group=None, kind="predictions",
                 feature_types=None, seed=0, input_fn=None):
    """A Booster trained with xgb.train; expected = Booster.predict."""
    import xgboost as xgb
    rng, x = data(seed)
    y = label_fn(rng, x)
    kw = {}
    if feature_types is not None:
        kw = {"feature_types": feature_types, "enable_categorical": True}
    dtrain = xgb.DMatrix(x, label=y, **kw)
    if group is not None:
        dtrain.set_group(group)
    p = {"max_depth": 4, "eta": 0.3, "nthread": 1, "seed": 1}
    p.update(params)
    if p.get("booster") == "gblinear":
        del p["max_depth"]
    b = xgb.train(p, dtrain, rounds)
    c = Case(out, name)
    c.save_model(b, ubj)
    xt = input_fn(seed) if input_fn else test_input(seed)
    c.save_input(xt)
    pred = b.predict(xgb.DMatrix(xt, **kw))
    obj = p["objective"]
    if kind == "binary":
        c.expect("probabilities", np.stack([1 - pred, pred], axis=1))
        c.expect("label", (pred > 0.5).astype(np.int64), dtype=np.int64)
    elif kind == "multi":
        c.expect("probabilities", pred)
        c.expect("label", np.argmax(pred, axis=1).astype(np.int64), dtype=np.int64)
    elif kind == "argmax":
        c.expect("label", pred.astype(np.int64), dtype=np.int64)
    else:
        identity = obj in ("reg:squarederror", "binary:logitraw", "rank:pairwise",
                           "reg:absoluteerror", "reg:pseudohubererror")
        c.expect("predictions", pred, exact=identity)
    c.finish(objective=obj, booster=p.get("booster", "gbtree"))


def sklearn_classifier(out, name, n_classes, ubj=False, seed=3, **params):
    import xgboost as xgb
    rng, x = data(seed)
    s = signal(x)
    if n_classes == 2:
        y = (s + rng.normal(scale=0.5, size=len(s)) > 0).astype(int)
    else:
        y = np.digitize(s + rng.normal(scale=0.3, size=len(s)), [-0.5, 0.5])
    kw = dict(n_estimators=12, max_depth=4, learning_rate=0.3, n_jobs=1, random_state=1)
    kw.update(params)
    m = xgb.XGBClassifier(**kw).fit(x, y)
    c = Case(out, name)
    c.save_model(m, ubj)
    xt = test_input(seed)
    c.save_input(xt)
    c.expect("probabilities", m.predict_proba(xt))
    c.expect("label", m.predict(xt).astype(np.int64), dtype=np.int64)
    config = json.loads(m.get_booster().save_config())
    c.finish(objective=config["learner"]["objective"]["name"], booster="gbtree", api="sklearn")


def sklearn_missing(out, name, missing=0.0, seed=4):
    """XGBRegressor(missing=0.0): zeros are missing values, NaN too."""
    import xgboost as xgb
    rng, x = data(seed)
    x[rng.random(x.shape) < 0.15] = missing
    y = signal(x)
    m = xgb.XGBRegressor(n_estimators=15, max_depth=4, learning_rate=0.3, n_jobs=1,
                         random_state=1, missing=missing).fit(x, y)
    c = Case(out, name)
    c.save_model(m)
    xt = test_input(seed)
    xt[np.random.default_rng(9).random(xt.shape) < 0.2] = missing
    c.save_input(xt)
    c.expect("predictions", m.predict(xt), exact=True)
    c.finish(objective="reg:squarederror", booster="gbtree", api="sklearn", missing=missing)


def cat_input(seed):
    rng = np.random.default_rng(seed + 1000)
    x = rng.normal(size=(N_ROWS, 4)).astype(np.float32)
    x[:, 0] = rng.integers(0, 8, N_ROWS)
    x[:, 2] = rng.integers(0, 40, N_ROWS)
    # the categorical decision rules: NaN (default direction), non-integer
    # (truncated), <= -1 and >= 2^24 (invalid: left), beyond the set's bitset
    edge = np.array([np.nan, 2.5, 3.99, -1.0, -2.0, 16777216.0, 1e9, 100.0, 31.0, 32.0,
                     33.0, -0.0], np.float32)
    x[1:1 + len(edge), 0] = edge
    x[1:1 + len(edge), 2] = edge[::-1]
    x[rng.random(x.shape) < 0.08] = np.nan
    return x


def cat_negative_fraction_input(seed):
    x = cat_input(seed)[:16]
    x[:, 0] = np.array([-0.5, -0.25, -0.9, -0.0, 0.0, 0.5, 1, 2, 3, 4, 5, 6, 7, -0.5, -0.75, np.nan],
                       np.float32)
    x[:, 2] = np.float32(-0.5)
    return x


def cat_labels(rng, x):
    z = np.nan_to_num(x, nan=0.0)
    return (np.isin(z[:, 0], [0, 2, 5]) * 2.0 + np.isin(z[:, 2] % 7, [1, 3]) * 1.5
            + z[:, 1] + rng.normal(scale=0.1, size=len(z)))


def cat_data_labels(rng, x):
    x[:, 0] = np.where(np.isnan(x[:, 0]), np.nan, rng.integers(0, 8, len(x)))
    x[:, 2] = np.where(np.isnan(x[:, 2]), np.nan, rng.integers(0, 40, len(x)))
    return cat_labels(rng, x)


def categorical(out, name, ubj=False, onehot=1, input_fn=cat_input):
    import xgboost as xgb
    rng = np.random.default_rng(7)
    x = rng.normal(size=(600, 4)).astype(np.float32)
    y = cat_data_labels(rng, x)
    ft = ["c", "q", "c", "q"]
    d = xgb.DMatrix(x, label=y, feature_types=ft, enable_categorical=True)
    b = xgb.train({"tree_method": "hist", "max_depth": 4, "eta": 0.3, "nthread": 1, "seed": 1,
                   "max_cat_to_onehot": onehot, "objective": "reg:squarederror"}, d, 15)
    c = Case(out, name)
    c.save_model(b, ubj)
    xt = input_fn(7)
    c.save_input(xt)
    c.expect("predictions", b.predict(xgb.DMatrix(xt, feature_types=ft, enable_categorical=True)),
             exact=True)
    c.finish(objective="reg:squarederror", booster="gbtree", categorical=True)


def binary_labels(rng, x):
    s = signal(x)
    return (s + rng.normal(scale=0.5, size=len(s)) > 0).astype(np.float32)


def multi_labels(rng, x):
    s = signal(x)
    return np.digitize(s + rng.normal(scale=0.3, size=len(s)), [-0.5, 0.5]).astype(np.float32)


def generate(out):
    import xgboost as xgb
    major = int(xgb.__version__.split(".")[0])
    os.makedirs(out, exist_ok=True)
    reg = lambda rng, x: signal(x) + rng.normal(scale=0.1, size=len(x))  # noqa: E731
    pos = lambda rng, x: np.exp(0.4 * signal(x)).clip(0.05, 50)  # noqa: E731

    sklearn_classifier(out, "binary_logistic", 2)
    sklearn_classifier(out, "multi_softprob", 3)
    sklearn_classifier(out, "binary_logistic_ubj", 2, ubj=True)
    booster_case(out, "multi_softmax", {"objective": "multi:softmax", "num_class": 3},
                 multi_labels, kind="argmax")
    booster_case(out, "reg_squarederror", {"objective": "reg:squarederror"}, reg)
    booster_case(out, "reg_squarederror_ubj", {"objective": "reg:squarederror"}, reg, ubj=True)
    booster_case(out, "count_poisson", {"objective": "count:poisson", "max_delta_step": 0.7},
                 lambda rng, x: rng.poisson(np.exp(0.4 * signal(x)).clip(0, 30)).astype(float))
    booster_case(out, "reg_gamma", {"objective": "reg:gamma"}, pos)
    booster_case(out, "reg_tweedie", {"objective": "reg:tweedie", "tweedie_variance_power": 1.3},
                 pos)
    booster_case(out, "binary_hinge", {"objective": "binary:hinge"}, binary_labels)
    booster_case(out, "binary_logitraw", {"objective": "binary:logitraw"}, binary_labels)
    booster_case(out, "reg_logistic", {"objective": "reg:logistic"},
                 lambda rng, x: 1 / (1 + np.exp(-signal(x))))
    booster_case(out, "binary_logistic_base03", {"objective": "binary:logistic",
                                                 "base_score": 0.3}, binary_labels, kind="binary")
    booster_case(out, "rank_pairwise", {"objective": "rank:pairwise"},
                 lambda rng, x: np.digitize(signal(x), [-0.5, 0.5]).astype(float),
                 group=[20] * 20)
    booster_case(out, "dart", {"booster": "dart", "objective": "reg:squarederror",
                               "rate_drop": 0.3, "skip_drop": 0.0, "max_depth": 3}, reg,
                 rounds=20)
    booster_case(out, "dart_multi", {"booster": "dart", "objective": "multi:softprob",
                                     "num_class": 3, "rate_drop": 0.25, "max_depth": 3},
                 multi_labels, rounds=10, kind="multi")
    booster_case(out, "gblinear", {"booster": "gblinear", "objective": "reg:squarederror",
                                   "eta": 0.5}, reg, rounds=20)
    booster_case(out, "gblinear_multi", {"booster": "gblinear", "objective": "multi:softprob",
                                         "num_class": 3, "eta": 0.5}, multi_labels, rounds=20,
                 kind="multi")
    categorical(out, "categorical")
    categorical(out, "categorical_onehot", onehot=64)
    categorical(out, "categorical_ubj", ubj=True)
    categorical(out, "categorical_negative_fraction", input_fn=cat_negative_fraction_input)
    if major < 2:
        # The 1.x sklearn wrapper records `missing` in the model; 3.x does not.
        sklearn_missing(out, "sklearn_missing0")
        sklearn_missing(out, "sklearn_missing_neg1", missing=-1.0)
    if major >= 2:
        booster_case(out, "multi_target", {"objective": "reg:squarederror", "max_depth": 3},
                     lambda rng, x: np.stack([signal(x), np.nan_to_num(x[:, 0]),
                                              np.nan_to_num(x[:, 1]) * 2], axis=1))


def main(argv):
    args = [a for a in argv if a != "--all"]
    out = os.path.abspath(args[0]) if args else DEFAULT_OUT
    if "--all" in argv:
        for py in INTERPRETERS:
            subprocess.run([py, os.path.abspath(__file__), out], check=True)
        return 0
    generate(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
