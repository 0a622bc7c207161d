#!/usr/bin/env bash
# bench/run_all.sh - every benchmark in bench/, one after another. Each
# script starts axle and its baseline side by side and prints ratios; see
# BENCHMARKS.md for the recorded results and PERF.md's rules they follow.
#   bench/run_all.sh [--quick]      (--quick is passed to every script)
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
status=0
# The CMake-built gemm_bench uses the same flags as the engine.
[ -x build/bench/gemm_bench ] && export BENCH_BIN="$PWD/build/bench/gemm_bench"
# The serving benchmarks (serve*.sh) need root for nginx and take the box's
# two cores (server on cpu0, wrk on cpu1); they honour AXLE_BIN and --quick.
for b in bench/gemm.sh bench/json.sh bench/models.sh bench/serve.sh bench/serve_binary.sh bench/serve_startup.sh \
         bench/bench_vs_wrk.sh bench/batching.sh bench/monitoring.sh bench/pack.sh bench/replicas.sh \
         bench/trees.sh; do
  [ -x "$b" ] || continue
  echo "=== $b"
  "$b" "$@" || status=1
done
# Layer by layer against ONNX Runtime (the G9b gap, per convolution), and
# MobileNetV2's depthwise layers as one-layer models.
echo "=== bench/dw_layers.sh"
bench/dw_layers.sh "$@" || status=1
for m in mobilenet_v2 resnet18; do
  echo "=== bench/layers.sh $m"
  bench/layers.sh "$m" "$@" || status=1
done
# Python benchmarks run in the project's venv (onnxruntime from PyPI).
for b in bench/quant_ort.py; do
  echo "=== $b"
  .venv/bin/python "$b" "$@" || status=1
done
exit $status
