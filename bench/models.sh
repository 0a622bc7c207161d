#!/usr/bin/env bash
# bench/models.sh - PERF.md G9/G9b: axle vs PyTorch 1.13 vs ONNX Runtime on
# resnet18, mobilenet_v2, mlp and the transformer encoder, batch 1 and 8.
#
#   bench/models.sh [--quick] [--models a,b] [--batches 1,8] [--rounds N] [--out PREFIX]
#
# Makes the models (tools/gen_models.py, cached in build/models), then runs
# bench/models.py, which starts every baseline in its own process, interleaved.
# JSON lines go to stdout and build/bench/models-<time>.jsonl; the Markdown
# table for BENCHMARKS.md is printed last and saved next to them.
# AXLE_BIN overrides the binary (default build/axle). Takes ~12 min in full
# (5 rounds), ~4 min with --quick (2 rounds, no cold start); a noisy box adds
# up to 9 s of quiet-check retries per point. Run it alone: the engines use
# both cores.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
if [ ! -x "$PY" ]; then
  echo "bench/models.sh: $PY missing; running tools/deps.sh" >&2
  tools/deps.sh >&2
fi

# The machines export AVX2-forcing OpenBLAS settings (ENVIRONMENT.md,
# "Measuring"); models.py strips them per child too and records the values.
echo "bench/models.sh: machine env OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-<unset>} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-<unset>} (unset for every side)" >&2

"$PY" tools/gen_models.py build/models --only resnet18,mobilenet_v2,mlp,encoder >&2
exec "$PY" bench/models.py --models-dir build/models "$@"
