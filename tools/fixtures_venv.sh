#!/usr/bin/env bash
# fixtures_venv.sh - create .venv-fixtures, the interpreter that regenerates
# the committed tree fixtures (tools/gen_tree_fixtures_*.py) and converts
# models for bench/trees_ort.py. It is separate from .venv because current
# PyPI releases (onnx, numpy 2, xgboost 3) would replace the Debian packages
# that .venv shares with the system. `make test` does not need it: the
# fixtures are committed.
#
# usage: tools/fixtures_venv.sh            (idempotent; AXLE_FIXTURES_VENV
#                                            overrides the location)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
VENV="${AXLE_FIXTURES_VENV:-$ROOT/.venv-fixtures}"
PINS=(scikit-learn==1.9.1 skl2onnx==1.20.0 onnxmltools==1.16.0
      xgboost-cpu==3.2.0 lightgbm==4.7.0 onnx==1.23.2 onnxruntime==1.32.0)

if [ ! -x "$VENV/bin/python" ]; then
  echo "fixtures_venv: creating $VENV"
  /usr/bin/python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --no-input --disable-pip-version-check \
  "${PINS[@]}" </dev/null
"$VENV/bin/python" -c 'import sklearn, skl2onnx, onnxmltools, xgboost, lightgbm, onnxruntime
print("fixtures_venv: ok: sklearn %s skl2onnx %s onnxmltools %s xgboost %s" % (
    sklearn.__version__, skl2onnx.__version__, onnxmltools.__version__, xgboost.__version__))'
