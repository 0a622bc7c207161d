#!/usr/bin/env python3
"""gen_example_xgboost.py - the XGBoost example model served by `make demo`:
examples/models/iris_xgboost/1/model.json, a multi:softprob classifier
(30 rounds x 3 classes, depth 3) trained on scikit-learn's iris data, plus
examples/models/iris_xgboost/input.npy (the first and last iris rows) and
expected_probabilities.npy (XGBoost's predict_proba on them), which
tests/e2e/test_demo_models.py checks axle against.

Run with an interpreter that has xgboost and scikit-learn, e.g. Debian's:
    /usr/bin/python3 tools/gen_example_xgboost.py
"""
import os

import numpy as np
import xgboost as xgb
from sklearn.datasets import load_iris

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "examples", "models", "iris_xgboost")


def main():
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    clf = xgb.XGBClassifier(n_estimators=30, max_depth=3, learning_rate=0.3,
                            objective="multi:softprob", tree_method="hist",
                            random_state=0)
    clf.fit(X, y)
    os.makedirs(os.path.join(OUT, "1"), exist_ok=True)
    clf.get_booster().save_model(os.path.join(OUT, "1", "model.json"))
    rows = X[[0, 149]]
    np.save(os.path.join(OUT, "input.npy"), rows)
    np.save(os.path.join(OUT, "expected_probabilities.npy"),
            clf.predict_proba(rows).astype(np.float32))
    print("wrote", OUT, "xgboost", xgb.__version__)


if __name__ == "__main__":
    main()
