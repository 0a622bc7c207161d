#!/usr/bin/env bash
# bench/dw_layers.sh - MobileNetV2's depthwise layers as one-layer models,
# axle against ONNX Runtime (see bench/dw_layers.py). AXLE_BIN overrides the
# binary (run it with two builds to compare kernel changes); AXLE_ISA=avx2
# caps axle's ISA. ~1 min with the defaults. Run it alone.
#
#   bench/dw_layers.sh [--threads N] [--runs N] [--rounds N] [--quick]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || tools/deps.sh >&2
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
exec "$PY" bench/dw_layers.py --python "$PY" "$@"
