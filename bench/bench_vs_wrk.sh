#!/usr/bin/env bash
# bench/bench_vs_wrk.sh - `axle bench` against wrk: closed-loop throughput
# measured by both on the same endpoint must agree within 10 % (the
# load-generator issue's target: axle bench's per-request cost is low enough
# not to understate a server).
#
#   AXLE_BIN=build/axle bench/bench_vs_wrk.sh [--quick]
#
# `axle serve examples/models` runs on cpu0 (one I/O thread, one compute
# thread); the load generator on cpu1. Both POST the same bytes to
# /v2/models/iris/infer: the V2 JSON body comes from `axle bench
# --print-request` and wrk sends it through a Lua script (wrk -t1 -cC);
# `axle bench --concurrency C --threads 1` uses the same connection count
# and one thread, like wrk -t1. Each point is WARMUP seconds of load
# (discarded; a separate run, for both tools alike), then DURATION seconds
# measured. Rounds alternate the order (wrk axle, axle wrk, ...).
#
# Reported per point: answered req/s (wrk's Requests/sec counts every
# answer; axle bench's total_per_s likewise), the client's CPU-µs per
# request (`times` around the tool) and the server's CPU share. Per round
# and connection count: ratio = axle bench / wrk. Verdict: PASS when every
# round is within 0.9..1.1, "median" when only the median is, FAIL otherwise;
# on a shared machine, also over the "clean" rounds only (both points started
# quiet and the server had >= 90 % of its core).
# One JSON line per point on stdout and in build/bench/bench_vs_wrk-TIME/results.jsonl.
#
# Environment: AXLE_BIN (default build/axle), ROUNDS (5; --quick 2),
# DURATION (10; --quick 2), WARMUP (2; --quick 1), CONNS (list, default
# "8 64"), QUIET_MAX_TRIES (3; --quick 1), AXLE_ARGS (extra `axle serve` flags).
# Full run: ~2 x |CONNS| x ROUNDS x (DURATION + WARMUP + 1) s (~5 min).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BENCH_ROOT" || exit 1
bench_init bench_vs_wrk "$@"

CONNS="${CONNS:-8 64}"
"$AXLE_BIN" bench --help >/dev/null 2>&1 || { blog "$AXLE_BIN has no bench command"; exit 1; }
start_axle axle examples/models || { blog "no working '$AXLE_BIN serve': nothing to measure"; exit 1; }
BASE="http://127.0.0.1:$AXLE_PORT"
URL="$BASE/v2/models/iris/infer"
# --shape/--input-name: the same body as the metadata would give, without a GET per run.
INPUT_ARGS=(--model iris --shape 1,4 --input-name input)

"$AXLE_BIN" bench "$BASE" "${INPUT_ARGS[@]}" --print-request > "$RUN/request.http" ||
  { blog "axle bench --print-request failed"; exit 1; }
/usr/bin/python3 - "$RUN/request.http" "$RUN/iris.json" <<'EOF'
import sys
raw = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(raw.split(b"\r\n\r\n", 1)[1])
EOF
LUA="$RUN/post_iris.lua"
write_post_lua "$LUA" "$RUN/iris.json"
code="$(curl -s -o "$RUN/iris_response.json" -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary @"$RUN/iris.json" "$URL")"
[ "$code" = 200 ] || { blog "the request answers $code, not 200: $(head -c 200 "$RUN/iris_response.json")"; exit 1; }
emit "{\"kind\":\"request\",\"body_bytes\":$(stat -c %s "$RUN/iris.json"),\"request_bytes\":$(stat -c %s "$RUN/request.http")}"

# run_axle_bench C SECONDS - sets AB_RPS, AB_REQS, AB_SECS, AB_NON2XX, AB_ERRORS,
# AB_P50, AB_P99 (µs), AB_CLIENT_CPU_US; the report in $AB_OUT.
AB_N=0
run_axle_bench() {
  local c="$1" secs="$2" t
  AB_N=$((AB_N + 1))
  AB_OUT="$RUN/axle-bench-$AB_N.json"
  t="$( ( taskset -c "$CLIENT_CPU" "$AXLE_BIN" bench "$BASE" "${INPUT_ARGS[@]}" --concurrency "$c" \
          --threads 1 --duration "$secs" --json --quiet >"$AB_OUT" 2>"$AB_OUT.err"; times ) | tail -1 )"
  AB_CLIENT_CPU_US="$(echo "$t" | awk '{ split($1, a, "m"); split($2, b, "m"); printf "%d", (a[1] * 60 + a[2] + b[1] * 60 + b[2]) * 1e6 }')"
  read -r AB_RPS AB_REQS AB_SECS AB_NON2XX AB_ERRORS AB_P50 AB_P99 < <(/usr/bin/python3 - "$AB_OUT" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    print(d["throughput"]["total_per_s"], d["responses"], d["duration_s"], d["responses"] - d["ok"],
          d["errors"]["total"], d["latency_us"]["p50"], d["latency_us"]["p99"])
except Exception:
    print(0, 0, 0, 0, 1, 0, 0)
EOF
)
}

point() {  # point TOOL ROUND C
  local tool="$1" r="$2" c="$3" c0 c1 rps reqs secs non2xx errs p50 p99 cli_us
  quiet_check
  if [ "$tool" = wrk ]; then
    [ "$WARMUP" -gt 0 ] && run_wrk "$c" "$WARMUP" "$URL" "$LUA"
    c0="$(cpu_us $(pid_tree "$AXLE_PID"))"
    run_wrk "$c" "$DURATION" "$URL" "$LUA"
    c1="$(cpu_us $(pid_tree "$AXLE_PID"))"
    rps="$WRK_RPS"; reqs="$WRK_REQS"; secs="$WRK_SECS"; non2xx="$WRK_NON2XX"; errs="$WRK_SOCKERR"
    p50="$WRK_P50"; p99="$WRK_P99"; cli_us="$WRK_CLIENT_CPU_US"
  else
    [ "$WARMUP" -gt 0 ] && run_axle_bench "$c" "$WARMUP"
    c0="$(cpu_us $(pid_tree "$AXLE_PID"))"
    run_axle_bench "$c" "$DURATION"
    c1="$(cpu_us $(pid_tree "$AXLE_PID"))"
    rps="$AB_RPS"; reqs="$AB_REQS"; secs="$AB_SECS"; non2xx="$AB_NON2XX"; errs="$AB_ERRORS"
    p50="$AB_P50"; p99="$AB_P99"; cli_us="$AB_CLIENT_CPU_US"
  fi
  local cli_per_req srv_pct cli_pct
  cli_per_req="$(awk -v u="$cli_us" -v n="$reqs" 'BEGIN{printf "%.2f", (n > 0 ? u / n : 0)}')"
  cli_pct="$(awk -v u="$cli_us" -v s="$DURATION" 'BEGIN{printf "%.1f", (s > 0 ? 100 * u / 1e6 / s : 0)}')"
  srv_pct="$(awk -v d=$((c1 - c0)) -v s="$secs" 'BEGIN{printf "%.1f", (s > 0 ? 100 * d / 1e6 / s : 0)}')"
  emit "{\"kind\":\"point\",\"bench\":\"bench_vs_wrk\",\"tool\":\"$tool\",\"round\":$r,\"conns\":$c,\"duration_s\":$secs,\"requests\":$reqs,\"rps\":$rps,\"p50_us\":$p50,\"p99_us\":$p99,\"non2xx\":$non2xx,\"errors\":$errs,\"client_cpu_us\":$cli_us,\"client_cpu_us_per_req\":$cli_per_req,\"client_cpu_pct\":$cli_pct,\"server_cpu_pct\":$srv_pct,\"quiet\":$QUIET,\"busy\":$BUSY}"
  local note=""
  [ "$QUIET" = true ] || note=" NOISY(busy $BUSY)"
  [ "$non2xx" != 0 ] || [ "$errs" != 0 ] && note="$note ERRORS(non2xx $non2xx, errors $errs)"
  blog "$tool r$r c=$c: $rps req/s, client $cli_per_req CPU-µs/req ($cli_pct %), server $srv_pct %, p50 ${p50}µs p99 ${p99}µs$note"
}

for r in $(seq 1 "$ROUNDS"); do
  blog "round $r/$ROUNDS"
  for c in $CONNS; do
    for tool in $(round_order "$r" wrk axle); do
      kill -0 "$AXLE_PID" 2>/dev/null || { blog "axle serve has died (log $RUN/axle.log)"; break 3; }
      point "$tool" "$r" "$c"
    done
  done
done

echo
echo "=== bench/bench_vs_wrk.sh summary ($RUN)"
/usr/bin/python3 - "$JSONL" <<'EOF'
import json, statistics, sys
from collections import defaultdict
pts = [json.loads(l) for l in open(sys.argv[1]) if '"kind":"point"' in l]
by = defaultdict(dict)   # (conns, round) -> tool -> point
for p in pts:
    by[(p["conns"], p["round"])][p["tool"]] = p
for c in sorted({k[0] for k in by}):
    rows = [(r, v) for (cc, r), v in sorted(by.items()) if cc == c and {"wrk", "axle"} <= set(v)]
    if not rows:
        continue
    print("c=%d  round  wrk req/s  axle bench req/s  ratio  client CPU-us/req wrk / axle bench" % c)
    ratios = []
    for r, v in rows:
        w, a = v["wrk"], v["axle"]
        ratio = a["rps"] / w["rps"] if w["rps"] else float("nan")
        ratios.append(ratio)
        print("      %5d  %9.0f  %16.0f  %5.3f  %6.2f / %.2f" % (r, w["rps"], a["rps"], ratio,
              w["client_cpu_us_per_req"], a["client_cpu_us_per_req"]))
    med = statistics.median(ratios)
    inside = [0.9 <= x <= 1.1 for x in ratios]
    verdict = "PASS" if all(inside) else "median" if 0.9 <= med <= 1.1 else "FAIL"
    print("      median ratio %.3f (min %.3f, max %.3f), target 0.9..1.1: %s" % (med, min(ratios), max(ratios), verdict))
    # Clean rounds: both points started on a quiet machine (lib.sh quiet_check)
    # and the server had its core (>= 90 %): another tenant did not starve it.
    def clean(p):
        return p["quiet"] and p["server_cpu_pct"] >= 90
    quiet = [x for x, (_, v) in zip(ratios, rows) if clean(v["wrk"]) and clean(v["axle"])]
    if len(quiet) < len(ratios):
        print("      clean rounds only: %s" % (
            "none" if not quiet else "%d, median ratio %.3f (min %.3f, max %.3f)" % (
                len(quiet), statistics.median(quiet), min(quiet), max(quiet))))
    row = {"kind": "summary", "bench": "bench_vs_wrk", "conns": c, "ratio_median": round(med, 4),
           "ratio_min": round(min(ratios), 4), "ratio_max": round(max(ratios), 4), "verdict": verdict,
           "wrk_rps_median": statistics.median(v["wrk"]["rps"] for _, v in rows),
           "axle_rps_median": statistics.median(v["axle"]["rps"] for _, v in rows),
           "quiet_rounds": len(quiet),
           "quiet_ratio_median": round(statistics.median(quiet), 4) if quiet else None}
    with open(sys.argv[1], "a") as f:
        f.write(json.dumps(row) + "\n")
EOF
