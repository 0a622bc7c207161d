#!/usr/bin/env bash
# tests/run_all.sh - everything `make test` runs, in order:
#   1. release build; unit tests and fuzz-corpus replay (ctest)
#   2. ONNX's own backend tests (conformance runner): Debian onnx 1.12's node
#      and simple cases, and a current onnx release's node cases up to opset 18
#   3. end-to-end tests of the CLI on real exported models (pytest)
#   4. the same three suites on the ASan+UBSan build
# Exits non-zero if any suite fails; every suite runs even after a failure
# so one log shows all problems. Each runner prints its own summary line.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${JOBS:-$(nproc)}"
PY="$ROOT/.venv/bin/python"
# Tests never depend on the machine's OpenBLAS tuning variables.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OPENBLAS_NUM_THREADS=1

failed=()
step() { echo; echo "=== $* ==="; }
run() { local name="$1"; shift; "$@" || failed+=("$name"); }

step "build (release)"
make --no-print-directory build JOBS="$JOBS" || { echo "release build failed"; exit 1; }
step "build (asan+ubsan)"
make --no-print-directory asan JOBS="$JOBS" || { echo "sanitizer build failed"; exit 1; }

step "fixtures"
tools/gen_conformance.sh build/onnx-node || failed+=("conformance-data")
tools/gen_conformance.sh --current build/onnx-node-current || failed+=("conformance-data-current")
"$PY" tools/gen_models.py build/models || failed+=("model-fixtures")

suite() {
  local tag="$1" bdir="$2"
  step "[$tag] unit tests and fuzz corpus replay (ctest)"
  run "$tag-ctest" ctest --test-dir "$bdir" --output-on-failure -j "$JOBS"
  step "[$tag] ONNX node conformance"
  run "$tag-conformance" "$bdir/tests/onnx_conformance" build/onnx-node \
      --xfail tests/conformance/xfail.txt
  step "[$tag] ONNX simple-model conformance"
  run "$tag-conformance-simple" "$bdir/tests/onnx_conformance" build/onnx-node/simple \
      --xfail tests/conformance/xfail.txt --label onnx-simple --no-op-check
  step "[$tag] ONNX node conformance, current onnx release (opsets <= 18)"
  run "$tag-conformance-current" "$bdir/tests/onnx_conformance" build/onnx-node-current \
      --xfail tests/conformance/xfail.txt --label onnx-node-current --no-op-check --max-opset 18
  step "[$tag] end-to-end (pytest)"
  AXLE_BIN="$ROOT/$bdir/axle" run "$tag-e2e" "$PY" -m pytest -q tests/e2e
}

suite release build
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
suite asan build-asan

echo
if [ ${#failed[@]} -ne 0 ]; then
  echo "make test: FAILED suites: ${failed[*]}"
  exit 1
fi
echo "make test: all suites passed"
