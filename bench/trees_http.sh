#!/usr/bin/env bash
# bench/trees_http.sh - G10's serving clause: "served over HTTP with batching,
# a tree model reaches >= 0.7x the req/s of the tiny MLP endpoint".
#
# One `axle serve` (cpu0, 1 I/O thread, 1 compute thread: lib.sh) per
# variant, on a repository holding
#   trees/1/model.json   the 300-tree depth-6 XGBoost model (bench/trees_model.py)
#   iris/1/model.onnx    the iris example (examples/models/iris: MatMul+Add+
#                        Softmax, 4 inputs, the smallest network endpoint)
# Variants: "batching" - both models with config.json {"max_batch_size": 64,
# "dynamic_batching": {"max_queue_delay_microseconds": BATCH_DELAY_US}};
# "default" - no config.json (max batch 64, no dynamic batching; a model
# whose batch-1 run takes <= 20 us runs inline on the I/O thread).
# Load: `axle bench --concurrency CONC --threads 1` on cpu1, closed loop,
# v2-json, one row per request (the first row of rows.npy for trees, the first
# iris example row), WARMUP s discarded, DURATION s measured. Per round the
# four points run interleaved (order reversed on even rounds); the server's
# CPU-us per request comes from /proc/PID/stat.
# Reports per variant: req/s, p50/p99 of both models, and tree/iris req/s
# (median of the per-round ratios, min-max), against the 0.7 target; also
# iris/tree server CPU-us per request, the same ratio as the server's own cost.
#
# Usage: bench/trees_http.sh [--quick]
# Environment: AXLE_BIN, ROUNDS (5; --quick 2), DURATION (10; --quick 2),
# WARMUP (2; --quick 1), CONC (32), BATCH_DELAY_US (0), PY (.venv python).
# One JSON line per point on stdout and in build/bench/trees_http-TIME/results.jsonl.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BENCH_ROOT" || exit 1
bench_init trees_http "$@"

PY="${PY:-$BENCH_ROOT/.venv/bin/python}"
CONC="${CONC:-32}"
BATCH_DELAY_US="${BATCH_DELAY_US:-0}"
TREES="$BENCH_ROOT/build/bench/trees"
[ -f "$TREES/xgb.json" ] || "$PY" bench/trees_model.py "$TREES" >&2 ||
  { blog "could not make $TREES/xgb.json"; exit 1; }
"$AXLE_BIN" bench --help >/dev/null 2>&1 || { blog "$AXLE_BIN has no bench command"; exit 1; }

# Repositories and one-row inputs.
"$PY" - "$TREES/rows.npy" "$RUN/trees_row.npy" examples/models/iris/input.npy "$RUN/iris_row.npy" <<'EOF' ||
import sys
import numpy as np
np.save(sys.argv[2], np.ascontiguousarray(np.load(sys.argv[1])[:1]))
np.save(sys.argv[4], np.ascontiguousarray(np.load(sys.argv[3])[:1]))
EOF
  { blog "could not write the one-row inputs"; exit 1; }
for v in batching default; do
  mkdir -p "$RUN/repo-$v/trees/1" "$RUN/repo-$v/iris/1"
  cp "$TREES/xgb.json" "$RUN/repo-$v/trees/1/model.json"
  cp examples/models/iris/1/model.onnx "$RUN/repo-$v/iris/1/model.onnx"
done
for m in trees iris; do
  printf '{"max_batch_size": 64, "dynamic_batching": {"max_queue_delay_microseconds": %d}}\n' \
    "$BATCH_DELAY_US" > "$RUN/repo-batching/$m/config.json"
done

declare -A PORT PID
for v in batching default; do
  start_axle "axle-$v" "$RUN/repo-$v" || { blog "axle serve ($v) did not start"; exit 1; }
  PORT[$v]=$AXLE_PORT; PID[$v]=$AXLE_PID
done
emit "{\"kind\":\"config\",\"conc\":$CONC,\"batch_delay_us\":$BATCH_DELAY_US,\"trees_model\":$(json_str "$TREES/xgb.json"),\"mlp_model\":\"examples/models/iris/1/model.onnx\"}"

# bench_point VARIANT MODEL ROUND
bench_point() {
  local vr="$1" m="$2" r="$3" base out t cli_us c0 c1
  base="http://127.0.0.1:${PORT[$vr]}"
  out="$RUN/bench-$vr-$m-r$r.json"
  quiet_check
  if [ "$WARMUP" -gt 0 ]; then
    taskset -c "$CLIENT_CPU" "$AXLE_BIN" bench "$base" --model "$m" --input "$RUN/${m}_row.npy" \
      --concurrency "$CONC" --threads 1 --duration "$WARMUP" --json --quiet >/dev/null 2>&1
  fi
  c0="$(cpu_us $(pid_tree "${PID[$vr]}"))"
  t="$( ( taskset -c "$CLIENT_CPU" "$AXLE_BIN" bench "$base" --model "$m" --input "$RUN/${m}_row.npy" \
          --concurrency "$CONC" --threads 1 --duration "$DURATION" --json --quiet >"$out" 2>"$out.err"; times ) | tail -1 )"
  c1="$(cpu_us $(pid_tree "${PID[$vr]}"))"
  cli_us="$(echo "$t" | awk '{ split($1, a, "m"); split($2, b, "m"); printf "%d", (a[1] * 60 + a[2] + b[1] * 60 + b[2]) * 1e6 }')"
  local line
  line="$("$PY" - "$out" "$vr" "$m" "$r" "$((c1 - c0))" "$cli_us" "$QUIET" "$BUSY" <<'EOF'
import json, sys
out, v, m, r, srv, cli, quiet, busy = sys.argv[1:]
try:
    d = json.load(open(out))
except Exception as e:
    d = {"responses": 0, "ok": 0, "duration_s": 0, "throughput": {"ok_per_s": 0},
         "errors": {"total": 1}, "latency_us": {"p50": 0, "p99": 0}, "failed": str(e)}
n = d["ok"]
secs = d["duration_s"] or 1
print(json.dumps({"kind": "point", "bench": "trees_http", "variant": v, "model": m, "round": int(r),
                  "conc": d.get("concurrency"), "duration_s": d["duration_s"], "ok": n,
                  "non2xx": d["responses"] - d["ok"], "errors": d["errors"]["total"],
                  "rps": d["throughput"]["ok_per_s"], "p50_us": d["latency_us"].get("p50"),
                  "p99_us": d["latency_us"].get("p99"),
                  "server_cpu_us_per_req": round(int(srv) / n, 2) if n else None,
                  "server_cpu_pct": round(100 * int(srv) / 1e6 / secs, 1),
                  "client_cpu_pct": round(100 * int(cli) / 1e6 / secs, 1),
                  "quiet": quiet == "true", "busy": float(busy)}))
EOF
)"
  emit "$line"
}

for r in $(seq 1 "$ROUNDS"); do
  blog "round $r/$ROUNDS"
  for p in $(round_order "$r" batching:trees batching:iris default:trees default:iris); do
    vr="${p%%:*}"; m="${p#*:}"
    kill -0 "${PID[$vr]}" 2>/dev/null || { blog "axle serve ($vr) has died (log $RUN/axle-$vr.log)"; break 2; }
    bench_point "$vr" "$m" "$r"
  done
done

echo
echo "=== bench/trees_http.sh: tree (300 trees, depth 6, 28 features) vs iris, closed loop c=$CONC, v2-json, 1 row/request ($RUN)"
"$PY" - "$JSONL" <<'EOF'
import json, statistics, sys
from collections import defaultdict
pts = [json.loads(l) for l in open(sys.argv[1]) if '"kind": "point"' in l or '"kind":"point"' in l]
by = defaultdict(dict)            # (variant, round) -> model -> point
for p in pts:
    by[(p["variant"], p["round"])][p["model"]] = p
med = statistics.median
summary = []
for v in ("batching", "default"):
    rounds = [x for (vv, r), x in sorted(by.items()) if vv == v and {"trees", "iris"} <= set(x)]
    if not rounds:
        continue
    print("%s:" % v)
    for m in ("trees", "iris"):
        ps = [x[m] for x in rounds]
        cpu = [p["server_cpu_us_per_req"] for p in ps if p["server_cpu_us_per_req"]]
        print("  %-5s %9.0f req/s (min %.0f, max %.0f)  p50 %6.1f us  p99 %7.1f us  server %5.2f CPU-us/req"
              "  client %4.0f %%  errors %d" % (
                  m, med(p["rps"] for p in ps), min(p["rps"] for p in ps), max(p["rps"] for p in ps),
                  med(p["p50_us"] for p in ps), med(p["p99_us"] for p in ps),
                  med(cpu) if cpu else float("nan"), med(p["client_cpu_pct"] for p in ps),
                  sum(p["errors"] + p["non2xx"] for p in ps)))
    ratios = sorted(x["trees"]["rps"] / x["iris"]["rps"] for x in rounds if x["iris"]["rps"])
    noisy = sum(1 for x in rounds for p in x.values() if not p["quiet"])
    verdict = "met" if ratios[0] >= 0.7 else "median met" if med(ratios) >= 0.7 else "not met"
    print("  trees/iris req/s %.3f (rounds %d: %.3f-%.3f), target >= 0.7: %s%s" % (
        med(ratios), len(ratios), ratios[0], ratios[-1], verdict,
        "  [%d noisy points]" % noisy if noisy else ""))
    # The same comparison by server CPU per request (PERF.md section 3, rule 5):
    # what the req/s ratio would be with the server alone on its core.
    cpu = sorted(x["iris"]["server_cpu_us_per_req"] / x["trees"]["server_cpu_us_per_req"]
                 for x in rounds if x["iris"]["server_cpu_us_per_req"] and x["trees"]["server_cpu_us_per_req"])
    if cpu:
        print("  iris/trees server CPU-us per request %.3f (rounds %d: %.3f-%.3f)" % (
            med(cpu), len(cpu), cpu[0], cpu[-1]))
    summary.append({"kind": "summary", "bench": "trees_http", "variant": v,
                    "ratio_median": round(med(ratios), 4), "ratio_min": round(ratios[0], 4),
                    "ratio_max": round(ratios[-1], 4), "verdict": verdict, "noisy_points": noisy,
                    "cpu_ratio_median": round(med(cpu), 4) if cpu else None})
with open(sys.argv[1], "a") as f:
    for s in summary:
        f.write(json.dumps(s) + "\n")
EOF
