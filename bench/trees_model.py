"""trees_model.py - the G10 benchmark models (PERF.md): 300 trees of depth 6
over 28 features, binary:logistic, trained on a fixed synthetic set (a
HIGGS-sized feature count with a non-linear label and 1 % missing values).

    python3 bench/trees_model.py OUT_DIR      (Debian's /usr/bin/python3)

Writes OUT_DIR/xgb.json (xgboost from Debian, the library libxgboost-dev's
C API belongs to) and, when lightgbm imports, OUT_DIR/lgb.txt (300 trees,
max_depth 6, 63 leaves) plus OUT_DIR/rows.npy, the 10 000 rows timed.
"""
import os
import sys

import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
X = rng.uniform(-2, 2, size=(40000, 28)).astype(np.float32)
y = ((X[:, 0] * X[:, 1] + np.sin(3 * X[:, 2]) + X[:, 3:8].sum(1) * 0.3
      + rng.normal(0, 0.5, 40000)) > 0).astype(np.int32)
X[rng.uniform(size=X.shape) < 0.01] = np.nan
np.save(os.path.join(out, "rows.npy"), X[:10000])

try:
    import xgboost as xgb
    d = xgb.DMatrix(X, label=y)
    bst = xgb.train({"objective": "binary:logistic", "max_depth": 6, "eta": 0.1,
                     "min_child_weight": 0, "tree_method": "hist", "nthread": 2},
                    d, num_boost_round=300)
    bst.save_model(os.path.join(out, "xgb.json"))
except ImportError:
    print("trees_model.py: xgboost not importable, skipping xgb.json", file=sys.stderr)

try:
    import lightgbm as lgb
    m = lgb.train({"objective": "binary", "max_depth": 6, "num_leaves": 63,
                   "learning_rate": 0.1, "min_data_in_leaf": 1, "verbose": -1,
                   "num_threads": 2}, lgb.Dataset(X, label=y), num_boost_round=300)
    m.save_model(os.path.join(out, "lgb.txt"))
except ImportError:
    print("trees_model.py: lightgbm not importable, skipping lgb.txt", file=sys.stderr)
