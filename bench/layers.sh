#!/usr/bin/env bash
# bench/layers.sh - a CNN layer by layer, axle (`axle run --node-times`)
# against ONNX Runtime's profiler on the same model, input and threads; the
# k-th convolution of each side paired, the ratio per layer. See
# bench/layers.py.
#
#   bench/layers.sh MODEL.onnx INPUT.npy [--threads N] [--runs N] [--rounds N]
#   bench/layers.sh mobilenet_v2|resnet18 [options]   (a generated model, batch 1)
#
# AXLE_BIN overrides the binary. ~1 min for MobileNetV2 with the defaults
# (3 rounds of 200 runs a side). Run it alone: both engines use both cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || tools/deps.sh >&2
# As in bench/models.sh: the machines' AVX2-forcing OpenBLAS settings are
# not this comparison's (neither side calls OpenBLAS for these layers).
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
if [ $# -ge 1 ] && [ "${1%.onnx}" = "$1" ]; then
  name="$1"
  shift
  "$PY" tools/gen_models.py build/models --only "$name" >&2
  set -- "build/models/$name/model.onnx" "build/models/$name/b1/input_0.npy" "$@"
fi
exec "$PY" bench/layers.py --python "$PY" "$@"
