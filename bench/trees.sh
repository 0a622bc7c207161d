#!/usr/bin/env bash
# trees.sh - G10 (PERF.md): tree ensembles, axle vs the libraries' own
# predictors on the same model, same rows, same machine, same threads.
#   1. XGBoost: bench/trees_bench (one process, both engines) on a 300-tree,
#      depth-6, 28-feature binary:logistic model: batch 10 000 on 1 and 2
#      threads, and batch 1 on 1 thread (XGBoost's C API,
#      XGBoosterPredictFromDense, vs axle's session run).
#   2. LightGBM: the same data as a 300-tree depth-6 LightGBM model; its
#      Booster.predict (Python, num_threads) vs `axle run --repeat`.
# Usage: bench/trees.sh [--quick]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PY:-$ROOT/.venv/bin/python}
OUT=$ROOT/build/bench/trees
mkdir -p "$OUT"
[ -f "$OUT/xgb.json" ] && [ -f "$OUT/lgb.txt" ] || "$PY" bench/trees_model.py "$OUT"
cmake --build build --target trees_bench axle >/dev/null
echo "== XGBoost model (300 trees, depth 6, 28 features), $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for spec in "10000 1" "10000 2" "1 1"; do
  set -- $spec
  build/bench/trees_bench "$OUT/xgb.json" 300 "$1" "$2"
done
if [ -f "$OUT/lgb.txt" ]; then
  echo "== LightGBM model (300 trees, depth 6, 63 leaves)"
  "$PY" bench/trees_lgb.py "$OUT/lgb.txt" "$OUT/rows.npy" "$ROOT/build/axle"
fi
