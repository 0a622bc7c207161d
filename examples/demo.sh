#!/usr/bin/env bash
# examples/demo.sh - what `make demo` shows: the example models in
# examples/models (REPO/MODEL/VERSION/model.onnx, the layout `axle serve`
# will read) described by `axle inspect` and run once by `axle run`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
AXLE="${AXLE:-build/axle}"
for dir in examples/models/*/; do
  dir="${dir%/}"
  name="$(basename "$dir")"
  model="$dir/1/model.onnx"
  echo "== $name: axle inspect $model"
  "$AXLE" inspect "$model"
  echo
  echo "== $name: axle run $model --input $dir/input.npy --repeat 100"
  "$AXLE" run "$model" --input "$dir/input.npy" --repeat 100
  echo
done
echo "Try: $AXLE run examples/models/iris/1/model.onnx --input examples/models/iris/input.npy --output-dir /tmp/out"
