#!/usr/bin/env bash
# tests/fuzz/run.sh BUILD_DIR [SECONDS] - run every libFuzzer target for
# SECONDS each (default 60) on its corpus in tests/fuzz/corpus/<name>/, with
# the SECURITY.md §5.2 flags. New interesting inputs land in a scratch corpus
# under BUILD_DIR; crashes are written to tests/fuzz/ as crash-* and fail the
# run (commit the reproducer into the corpus after fixing it).
set -euo pipefail
BUILD="${1:?usage: run.sh BUILD_DIR [SECONDS]}"
SECS="${2:-60}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
status=0
for bin in "$BUILD"/tests/fuzz_*; do
  [ -x "$bin" ] || continue
  name="$(basename "$bin")"; short="${name#fuzz_}"
  seeds="$ROOT/tests/fuzz/corpus/$short"
  work="$BUILD/fuzz-corpus/$short"
  mkdir -p "$work"
  dict=()
  [ -f "$ROOT/tests/fuzz/$short.dict" ] && dict=(-dict="$ROOT/tests/fuzz/$short.dict")
  echo "== $name for ${SECS}s"
  "$bin" "$work" "$seeds" "${dict[@]}" -max_total_time="$SECS" -rss_limit_mb=2048 \
      -timeout=10 -print_final_stats=1 -artifact_prefix="$ROOT/tests/fuzz/crash-$short-" \
      || status=1
done
exit $status
