#!/usr/bin/env bash
# bench/pack.sh - `axle pack` figures (issue 5/7): compressed image size of the
# iris example beside the published sizes of other servers' images, the time
# to pack a 100 MB model, and container start to ready (podman run until
# GET /v2/health/ready answers 200), each over ROUNDS runs (median, min, max).
#
#   AXLE_BIN=build/axle bench/pack.sh [--quick]
#
# Needs podman (make deps) and root for it (ENVIRONMENT.md's flags).
# Environment: ROUNDS (5; --quick 2).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
AXLE="${AXLE_BIN:-$PWD/build/axle}"
PY="$PWD/.venv/bin/python"
ROUNDS="${ROUNDS:-5}"
[ "${1:-}" = "--quick" ] && ROUNDS=2
W="$(mktemp -d)"
trap 'rm -rf "$W"' EXIT
PODMAN=(podman --cgroup-manager=cgroupfs)
med() { sort -g | awk '{a[NR]=$1} END {printf "%.3f [%.3f .. %.3f]", a[int((NR+1)/2)], a[1], a[NR]}'; }

echo "pack: machine $(nproc) cores, $(date -u +%FT%TZ), git $(git rev-parse --short HEAD 2>/dev/null)"
"$AXLE" pack examples/models/iris -t localhost/axle-bench-iris:1 -o "$W/iris.tar" >/dev/null || exit 1
sz=$(stat -c %s "$W/iris.tar")
echo "image size (iris, OCI archive, gzip layer): $sz bytes = $(awk -v s="$sz" 'BEGIN{printf "%.1f", s/1e6}') MB"
echo "  for comparison (published): Triton 15.5 GB, TorchServe 2.37 GB, MLServer >= 0.93 GB, chassis ~0.7 GB"
echo "  ratio Triton / axle: $(awk -v s="$sz" 'BEGIN{printf "%.0f", 15.5e9/s}')x"

"$PY" - "$W/big.onnx" <<'PYEOF'
import sys
import numpy as np
from onnx import TensorProto, helper, numpy_helper, save
w = np.random.default_rng(0).standard_normal((5000, 5000)).astype(np.float32)
g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "big",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 5000])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5000])],
                      [numpy_helper.from_array(w, "w")])
save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
PYEOF
echo "model: $(stat -c %s "$W/big.onnx") bytes"
for r in $(seq "$ROUNDS"); do
  t0=$(date +%s.%N)
  "$AXLE" pack "$W/big.onnx" -t big:1 -o "$W/big.tar" --force >/dev/null 2>&1 || exit 1
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f\n", b-a}'
done | med | sed 's/^/pack of a 100 MB model (s): /'; echo

"${PODMAN[@]}" load -i "$W/iris.tar" >/dev/null || exit 1
for r in $(seq "$ROUNDS"); do
  port=$((20000 + RANDOM % 20000))
  t0=$(date +%s.%N)
  cid=$("${PODMAN[@]}" run --rm -d --runtime runc --ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
        --network host --env AXLE_HTTP_PORT=$port localhost/axle-bench-iris:1)
  until curl -sf -o /dev/null "http://127.0.0.1:$port/v2/health/ready"; do sleep 0.005; done
  t1=$(date +%s.%N)
  "${PODMAN[@]}" stop -t 20 "$cid" >/dev/null
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f\n", b-a}'
done | med | sed 's/^/podman run to ready (s): /'; echo
"${PODMAN[@]}" rmi -f localhost/axle-bench-iris:1 >/dev/null
