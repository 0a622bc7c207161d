#!/usr/bin/env bash
# bench/serve.sh - PERF.md G1-G4: axle's HTTP server on tiny models against
# nginx (static ceiling), FastAPI+uvicorn and MLServer (Python model servers).
#
#   AXLE_BIN=build/axle bench/serve.sh [--quick]
#
#   G1  GET /v2/health/ready, wrk -t1 -c64: axle vs nginx `return 200`
#   G2  POST /v2/models/iris/infer, 86-byte V2 JSON (4 x FP32): axle vs nginx
#       answering the same POST statically
#   G3  the same iris request at c=64: axle vs FastAPI (PERF.md §5) vs MLServer
#       (sklearn runtime, same fitted estimator; asked for predict_proba)
#   G4  c=1 keep-alive latency (p50/p99), iris infer vs nginx static POST
#
# Models and bodies come from bench/serve_models.py (iris = sklearn
# LogisticRegression as MatMul-Add-Softmax). Every server runs on cpu0, wrk on
# cpu1; server CPU-µs/request from /proc/PID/stat around each run. Rounds
# interleave the variants (A B, B A, ...). Outputs are checked before timing.
# One JSON line per point on stdout and in build/bench/serve-TIME/results.jsonl;
# the summary (ratios, pass/fail vs PERF.md and issue targets) is printed last.
#
# Environment: AXLE_BIN (default build/axle), ROUNDS (5; --quick 2),
# DURATION seconds per point (10; --quick 2), WARMUP seconds discarded before
# each point (2; --quick 1), CONNS (64), QUIET_MAX_TRIES (3; --quick 1),
# NGINX_BODY bytes (default: axle's iris response itself, else 120 bytes),
# SKIP_MLSERVER=1, MLSERVER_VERSION (1.6.1), MLSERVER_VENV (build/venv-mlserver),
# MLSERVER_WORKERS (0 = in-process), AXLE_ARGS (extra `axle serve` flags),
# GOALS (default "G1 G2 G3 G4").
# Full run: ~9 x ROUNDS x (DURATION + WARMUP + 1) s (~10 min); --quick ~1.5 min.
# Runs as root (nginx's master expects it). Without a working `axle serve` the
# baselines are still measured and axle's points are missing.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BENCH_ROOT" || exit 1
bench_init serve "$@"

PY="$BENCH_ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=/usr/bin/python3
C="${CONNS:-64}"
GOALS="${GOALS:-G1 G2 G3 G4}"
M="$RUN/models"
"$PY" bench/serve_models.py "$M" | tee -a "$JSONL" >/dev/null || { blog "making the models failed"; exit 1; }

declare -A OK CORRECT
check() {  # check VARIANT KIND URL [--mlserver]
  local v="$1" what="$2" url="$3"; shift 3
  local line rc
  line="$(/usr/bin/python3 bench/serve_check.py "$what" "$url" "$M" "$@")"; rc=$?
  emit "${line%\}}, \"variant\": \"$v\"}"
  if [ "$rc" = 0 ]; then CORRECT[$v]=true; else
    CORRECT[$v]=false; blog "$v: WRONG OUTPUT: $line"; fi
}

IRIS_BYTES=""
if start_axle axle "$M/repo"; then
  OK[axle]=1
  check axle iris "http://127.0.0.1:$AXLE_PORT"
  curl -s -o "$RUN/axle_iris_response.json" -H 'Content-Type: application/json' \
    --data-binary @"$M/bodies/iris.json" "http://127.0.0.1:$AXLE_PORT/v2/models/iris/infer"
  IRIS_BYTES="$(stat -c %s "$RUN/axle_iris_response.json" 2>/dev/null)"
  blog "axle iris response: $IRIS_BYTES bytes"
else
  blog "axle is skipped: no working '$AXLE_BIN serve' (baselines are still measured)"
fi
[ -n "$IRIS_BYTES" ] && [ "$IRIS_BYTES" -gt 0 ] 2>/dev/null || IRIS_BYTES=120
# nginx answers with axle's own iris response (same bytes), or NGINX_BODY bytes.
if [ -n "${NGINX_BODY:-}" ]; then start_nginx "$NGINX_BODY"
else start_nginx "$IRIS_BYTES" "$RUN/axle_iris_response.json"; fi && OK[nginx]=1 && CORRECT[nginx]=true
case " $GOALS " in *" G3 "*)
  start_fastapi && { OK[fastapi]=1; check fastapi iris "http://127.0.0.1:$FASTAPI_PORT"; }
  if [ "${SKIP_MLSERVER:-0}" = 1 ]; then blog "MLServer skipped (SKIP_MLSERVER=1)"
  elif start_mlserver "$M/mlserver"; then
    OK[mlserver]=1; check mlserver iris "http://127.0.0.1:$MLSERVER_PORT" --mlserver
  fi ;;
esac
emit "{\"kind\":\"servers\",\"axle\":${OK[axle]:-0},\"nginx\":${OK[nginx]:-0},\"nginx_body_bytes\":${NGINX_BODY_BYTES:-0},\"fastapi\":$(json_str "${FASTAPI_IMPL:-not run}"),\"mlserver\":$(json_str "${MLSERVER_IMPL:-not run}")}"

# wrk scripts: the same 86-byte V2 request for axle, nginx and FastAPI; MLServer's
# sklearn runtime needs "outputs":[{"name":"predict_proba"}] to do the same work.
LUA="$RUN/post_iris.lua"
write_post_lua "$LUA" "$M/bodies/iris.json"
/usr/bin/python3 - "$M/bodies/iris.json" "$RUN/iris_mlserver.json" <<'EOF'
import json, sys
b = json.load(open(sys.argv[1])); b["outputs"] = [{"name": "predict_proba"}]
open(sys.argv[2], "w").write(json.dumps(b, separators=(",", ":")))
EOF
LUA_MLS="$RUN/post_iris_mlserver.lua"
write_post_lua "$LUA_MLS" "$RUN/iris_mlserver.json"

# target VARIANT PATH - sets T_URL and T_PIDS (the server processes to account).
target() {
  case "$1" in
    axle)     T_URL="http://127.0.0.1:$AXLE_PORT$2"; T_PIDS="$(pid_tree "$AXLE_PID")" ;;
    nginx)    T_URL="http://127.0.0.1:$NGINX_PORT$2"; T_PIDS="$NGINX_WORKER" ;;
    fastapi)  T_URL="http://127.0.0.1:$FASTAPI_PORT$2"; T_PIDS="$(pid_tree "$FASTAPI_PID")" ;;
    mlserver) T_URL="http://127.0.0.1:$MLSERVER_PORT$2"; T_PIDS="$(pid_tree "$MLSERVER_PID")" ;;
  esac
}

point() {  # point GOAL VARIANT ROUND CONNS PATH LUA
  local g="$1" v="$2" r="$3" c="$4" path="$5" lua="$6"
  [ "${OK[$v]:-0}" = 1 ] || return 0
  if ! kill -0 "$(case $v in axle) echo "$AXLE_PID";; nginx) echo "$NGINX_WORKER";; fastapi) echo "$FASTAPI_PID";; mlserver) echo "$MLSERVER_PID";; esac)" 2>/dev/null; then
    blog "$v has died; its points are skipped (log $RUN/$v.log)"; OK[$v]=0; return 0
  fi
  target "$v" "$path"
  measure "$g" "$v" "$r" "$c" "$DURATION" "$T_URL" "$lua" "$T_PIDS" "\"correct\":${CORRECT[$v]:-null}"
}

IRIS=/v2/models/iris/infer
for r in $(seq 1 "$ROUNDS"); do
  blog "round $r/$ROUNDS"
  for g in $GOALS; do
    case "$g" in
      G1) for v in $(round_order "$r" axle nginx); do point G1 "$v" "$r" "$C" /v2/health/ready ""; done ;;
      G2) for v in $(round_order "$r" axle nginx); do point G2 "$v" "$r" "$C" "$IRIS" "$LUA"; done ;;
      G3) for v in $(round_order "$r" axle fastapi mlserver); do
            if [ "$v" = mlserver ]; then point G3 "$v" "$r" "$C" "$IRIS" "$LUA_MLS"
            else point G3 "$v" "$r" "$C" "$IRIS" "$LUA"; fi
          done ;;
      G4) for v in $(round_order "$r" axle nginx); do point G4 "$v" "$r" 1 "$IRIS" "$LUA"; done ;;
    esac
  done
done

[ "${OK[axle]:-0}" = 1 ] && ! kill -0 "$AXLE_PID" 2>/dev/null && blog "axle exited during the run (log $RUN/axle.log)"
echo
echo "=== bench/serve.sh summary ($RUN)"
grep -m1 '"kind":"env"' "$JSONL" | /usr/bin/python3 -c 'import json,sys; e=json.load(sys.stdin); print("cpu %s, git %s%s, rounds %s x %ss (+%ss warm-up), machine OPENBLAS_CORETYPE=%s (unset for all sides)" % (e["cpu"], e["git"], " (dirty)" if e["git_dirty"] else "", e["rounds"], e["duration_s"], e["warmup_s"], e["machine_OPENBLAS_CORETYPE"]))'
echo "servers: nginx body ${NGINX_BODY_BYTES:-?} B; FastAPI: ${FASTAPI_IMPL:-not run}; MLServer: ${MLSERVER_IMPL:-not run}"
/usr/bin/python3 bench/serve_summary.py "$JSONL"
