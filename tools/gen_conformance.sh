#!/usr/bin/env bash
# tools/gen_conformance.sh [--current] [OUTDIR] - write ONNX's backend node
# test cases.
#
# Debian's python3-onnx 1.12 ships the generators of ONNX's own backend test
# suite but not their data. This runs them into OUTDIR (default build/onnx-node):
# OUTDIR/node/test_*/model.onnx + test_data_set_*/{input,output}_N.pb, ~900
# cases, ~28 MB, about a minute. The conformance runner (tests/conformance/)
# reads it. A stamp file records a finished run, so a second call is free;
# delete OUTDIR to regenerate.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# --current: the cases of the current onnx release in .venv-onnx (tools/deps.sh
# makes it), which cover opsets past Debian's 1.12 (default OUTDIR
# build/onnx-node-current). Those releases no longer write node cases from
# `generate-data`, so they are collected from the node generators directly.
PY=/usr/bin/python3
DEFAULT_OUT="$ROOT/build/onnx-node"
CURRENT=0
if [ "${1:-}" = "--current" ]; then
  shift
  CURRENT=1
  PY="${AXLE_ONNX_VENV:-$ROOT/.venv-onnx}/bin/python"
  DEFAULT_OUT="$ROOT/build/onnx-node-current"
fi
OUT="${1:-$DEFAULT_OUT}"
STAMP="$OUT/.stamp"

# The stamp holds the onnx version it was made with: a different onnx means
# different cases, so regenerate rather than mix.
ONNX_VERSION="$("$PY" -c 'import onnx; print(onnx.__version__)')"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "onnx $ONNX_VERSION" ]; then
  echo "gen_conformance: $OUT up to date (onnx $ONNX_VERSION)"
  exit 0
fi

# Refuse to replace a directory that is not ours (a typo such as `build`).
if [ -d "$OUT" ] && [ -n "$(ls -A "$OUT")" ] && [ ! -f "$STAMP" ] && [ ! -d "$OUT/node" ]; then
  echo "gen_conformance: $OUT exists and does not look like generated data; not touching it" >&2
  exit 1
fi

echo "gen_conformance: generating into $OUT (onnx $ONNX_VERSION, ~1 min)"
# Generate into a temporary sibling and rename, so an interrupted run never
# leaves a half-filled OUTDIR that looks complete.
mkdir -p "$(dirname "$OUT")"
TMP="$(mktemp -d "$OUT.tmp.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

if [ "$CURRENT" = 1 ]; then
"$PY" -W ignore - "$TMP" <<'EOF'
import argparse, sys
from onnx.backend.test import cmd_tools
from onnx.backend.test.case import node
cases = node.collect_testcases(None)
cmd_tools.model_test.collect_testcases = lambda *a, **k: cases
cmd_tools.generate_data(argparse.Namespace(output=sys.argv[1]))
EOF
else
# onnx 1.12 predates numpy 1.24, which removed the np.float/np.int/... aliases
# its generators still use: put them back before importing onnx.
/usr/bin/python3 - "$TMP" <<'EOF'
import sys
import numpy as np
for alias, typ in [("float", float), ("int", int), ("bool", bool),
                   ("object", object), ("str", str), ("complex", complex)]:
    setattr(np, alias, typ)
from onnx.backend.test import cmd_tools
out = sys.argv[1]
sys.argv = ["gen", "generate-data", "-o", out]
cmd_tools.main()
EOF
fi

n_cases="$(find "$TMP/node" -mindepth 1 -maxdepth 1 -type d | wc -l)"
if [ "$n_cases" -lt 100 ]; then
  echo "gen_conformance: only $n_cases cases generated, giving up" >&2
  exit 1
fi
echo "onnx $ONNX_VERSION" >"$TMP/.stamp"
rm -rf "$OUT"
mv "$TMP" "$OUT"
trap - EXIT
echo "gen_conformance: $n_cases node cases in $OUT"
