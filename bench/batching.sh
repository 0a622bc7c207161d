#!/usr/bin/env bash
# bench/batching.sh - PERF.md G11 (dynamic batching on vs off: MLP
# 784-512-512-10, the DRAM-bound MLP 1024-4096-4096-1024, ResNet-18) and the
# 3/7 overload test (open loop at 4x capacity), with `axle bench` as the
# client. See bench/batching.py for the method; options pass through
# (--quick, --models a,b, --rounds N, --duration S, --skip-overload).
# Makes the models first (tools/gen_models.py, cached in build/models).
# AXLE_BIN overrides the binary. ~8 min in full, ~2 min with --quick. Run it
# alone: server and client share the two cores.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || tools/deps.sh >&2
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
"$PY" tools/gen_models.py build/models --only mlp,mlp_dram,resnet18 >&2
exec "$PY" bench/batching.py "$@"
