#!/usr/bin/env bash
# trees.sh - G10 (PERF.md): tree ensembles, axle vs the libraries' own
# predictors on the same model, same rows, same machine, same threads.
#   1. XGBoost: bench/trees_bench (one process, both engines) on a 300-tree,
#      depth-6, 28-feature binary:logistic model: batch 10 000 on 1 and 2
#      threads, and batch 1 on 1 thread (XGBoost's C API,
#      XGBoosterPredictFromDense, vs axle's session run).
#   2. LightGBM: the same data as a 300-tree depth-6 LightGBM model; its
#      Booster.predict (Python, num_threads) and, at batch 1, its single-row
#      C API vs `axle run --repeat` (bench/trees_lgb.py).
#   3. ONNX Runtime: the XGBoost model converted once to ONNX-ML
#      (TreeEnsembleClassifier, onnxmltools) and run by onnxruntime vs axle
#      on the same .onnx and on the xgb.json (bench/trees_ort.py).
#   4. With --http: the serving clause, tree endpoint vs the iris endpoint
#      over HTTP (bench/trees_http.sh, ~1 min with --quick, ~5 min without).
# axle's figures in 2 and 3 are the per-run times `axle run --repeat` reports
# (no process start-up, no model load).
# Usage: bench/trees.sh [--quick] [--no-build] [--http]
#   --quick     fewer rounds, shorter windows (trees_lgb.py, trees_ort.py,
#               trees_http.sh)
#   --no-build  use build/axle and build/bench/trees_bench as they are
#               (default: cmake --build them first)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PY:-$ROOT/.venv/bin/python}
OUT=$ROOT/build/bench/trees
QUICK=() BUILD=1 HTTP=0
for a in "$@"; do
  case "$a" in
    --quick) QUICK=(--quick) ;;
    --no-build) BUILD=0 ;;
    --http) HTTP=1 ;;
    *) echo "usage: bench/trees.sh [--quick] [--no-build] [--http]" >&2; exit 2 ;;
  esac
done
mkdir -p "$OUT"
[ -f "$OUT/xgb.json" ] && [ -f "$OUT/lgb.txt" ] || "$PY" bench/trees_model.py "$OUT"
if [ "$BUILD" = 1 ]; then
  cmake --build build --target trees_bench axle >/dev/null
fi
DIRTY=""; [ -n "$(git status --porcelain -uno 2>/dev/null)" ] && DIRTY=" (dirty tree)"
echo "== $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); git $(git rev-parse --short HEAD)$DIRTY"
echo "== XGBoost model (300 trees, depth 6, 28 features)"
if [ -x build/bench/trees_bench ]; then
  for spec in "10000 1" "10000 2" "1 1"; do
    set -- $spec
    build/bench/trees_bench "$OUT/xgb.json" 300 "$1" "$2"
  done
else
  echo "build/bench/trees_bench missing (needs libxgboost-dev): XGBoost comparison skipped"
fi
if [ -f "$OUT/lgb.txt" ]; then
  echo "== LightGBM model (300 trees, depth 6, 63 leaves)"
  "$PY" bench/trees_lgb.py "$OUT/lgb.txt" "$OUT/rows.npy" "$ROOT/build/axle" "${QUICK[@]}"
fi
echo "== ONNX Runtime, the XGBoost model as ONNX-ML"
"$PY" bench/trees_ort.py "$OUT/xgb.json" "$OUT/rows.npy" "$ROOT/build/axle" "${QUICK[@]}"
if [ "$HTTP" = 1 ]; then
  echo "== HTTP: tree endpoint vs iris endpoint"
  bench/trees_http.sh "${QUICK[@]}"
fi
