#!/usr/bin/env bash
# bench/serve_binary.sh - PERF.md G6: a 1 MiB FP32 input (262,144 values) sent
# with Triton's binary tensor extension vs the same tensor as V2 JSON text.
#
#   AXLE_BIN=build/axle bench/serve_binary.sh [--quick]
#
# Model: sum1m (ReduceSum over [-1,262144], 1 output value) from
# bench/serve_models.py. Bodies are generated once: sum1m.json (~5 MB of JSON
# text) and sum1m.bin (JSON header with "binary_data_size": 1048576, then the
# raw little-endian floats; the header length goes in
# Inference-Header-Content-Length). Before timing, all three ways (JSON,
# binary in, binary in + binary out) must return numpy's sum (1e-4 relative).
# wrk -t1 -cG6_CONNS drives each variant in interleaved rounds (A B, B A, ...);
# reported: req/s and axle's CPU-µs/request. Targets: binary >= 5x JSON req/s
# (issue), JSON/binary CPU-µs >= 10x (PERF.md G6).
#
# Environment: AXLE_BIN, ROUNDS (5; --quick 2), DURATION (10; --quick 2),
# WARMUP (2; --quick 1), G6_CONNS (4), QUIET_MAX_TRIES, AXLE_ARGS.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BENCH_ROOT" || exit 1
bench_init serve_binary "$@"

PY="$BENCH_ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=/usr/bin/python3
C="${G6_CONNS:-4}"
M="$RUN/models"
"$PY" bench/serve_models.py "$M" | tee -a "$JSONL" >/dev/null || { blog "making the models failed"; exit 1; }

start_axle axle "$M/repo" || { blog "no working '$AXLE_BIN serve': nothing to measure for G6"; exit 1; }
CORRECT=true
line="$(/usr/bin/python3 bench/serve_check.py sum1m "http://127.0.0.1:$AXLE_PORT" "$M")" || {
  CORRECT=false; blog "axle: WRONG OUTPUT on sum1m: $line"; }
emit "${line%\}}, \"variant\": \"axle\"}"

HLEN="$(cat "$M/bodies/sum1m.hlen")"
LUA_BIN="$RUN/post_sum1m_bin.lua"
LUA_JSON="$RUN/post_sum1m_json.lua"
write_post_lua "$LUA_BIN" "$M/bodies/sum1m.bin" application/octet-stream "$HLEN"
write_post_lua "$LUA_JSON" "$M/bodies/sum1m.json"
URL="http://127.0.0.1:$AXLE_PORT/v2/models/sum1m/infer"
emit "{\"kind\":\"bodies\",\"json_bytes\":$(stat -c %s "$M/bodies/sum1m.json"),\"binary_bytes\":$(stat -c %s "$M/bodies/sum1m.bin"),\"header_bytes\":$HLEN,\"values\":262144}"

for r in $(seq 1 "$ROUNDS"); do
  blog "round $r/$ROUNDS"
  for v in $(round_order "$r" binary json); do
    kill -0 "$AXLE_PID" 2>/dev/null || { blog "axle has died (log $RUN/axle.log)"; break 2; }
    lua="$LUA_JSON"; [ "$v" = binary ] && lua="$LUA_BIN"
    measure G6 "$v" "$r" "$C" "$DURATION" "$URL" "$lua" "$(pid_tree "$AXLE_PID")" "\"correct\":$CORRECT"
  done
done

echo
echo "=== bench/serve_binary.sh summary ($RUN)"
echo "1 MiB FP32 input: JSON body $(stat -c %s "$M/bodies/sum1m.json") B vs binary $(stat -c %s "$M/bodies/sum1m.bin") B, c=$C"
/usr/bin/python3 bench/serve_summary.py "$JSONL"
