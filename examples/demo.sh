#!/usr/bin/env bash
# examples/demo.sh - what `make demo` runs: `axle serve` over the example
# repository (examples/models: an iris classifier and an MNIST CNN exported
# from PyTorch, laid out REPO/MODEL/VERSION/model.onnx, and an XGBoost iris
# classifier, iris_xgboost/1/model.json) on 127.0.0.1:8080,
# with ready-to-paste curl commands. Ctrl-C (SIGINT) drains and stops it.
#
# Environment: AXLE (binary, default build/axle), AXLE_HTTP_PORT (8080).
# Running as root (a fresh CI or container machine) passes --allow-root.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
AXLE="${AXLE:-build/axle}"
PORT="${AXLE_HTTP_PORT:-8080}"
URL="http://127.0.0.1:$PORT"
extra=()
[ "$(id -u)" -eq 0 ] && extra+=(--allow-root)

cat <<TXT
axle serve examples/models on $URL

Paste these in another terminal:

  curl -s $URL/v2/health/ready
  curl -s $URL/v2/models/iris
  curl -s $URL/v2/models/iris/infer -H 'Content-Type: application/json' \\
    -d '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[5.1,3.5,1.4,0.2]}]}'
  curl -s $URL/v2/models/iris/infer -H 'Content-Type: application/json' \\
    -d '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[6.3,3.3,6.0,2.5]}],
         "outputs":[{"name":"probabilities","parameters":{"classification":1}}]}'
  curl -s $URL/v1/models/iris:predict -H 'Content-Type: application/json' \\
    -d '{"instances":[[5.1,3.5,1.4,0.2],[6.3,3.3,6.0,2.5]]}'
  curl -s $URL/v2/models/mnist_cnn
  curl -s $URL/v2/models/iris_xgboost
  curl -s $URL/v2/models/iris_xgboost/infer -H 'Content-Type: application/json' \\
    -d '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP32","data":[6.3,3.3,6.0,2.5]}]}'
  curl -s $URL/v2/models/stats

Stop with Ctrl-C.

TXT
exec "$AXLE" serve examples/models --host 127.0.0.1 --http-port "$PORT" --drain-delay 0 "${extra[@]}"
