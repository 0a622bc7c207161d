#!/usr/bin/env bash
# bench/monitoring.sh - what monitoring costs at peak load (issue 4/7: metrics
# plus async prediction logging at 100% sampling within 10% of peak req/s on
# the tiny model). One axle binary, the iris model, four servers side by side:
#
#   bare   "monitoring": {"enabled": false} - metrics only (they are always on)
#   mon    the default: a classifier is monitored (server-made request ids,
#          feedback index, quality metrics)
#   log    mon + --prediction-log DIR (async, --log-sample-rate 1)
#   sync   mon + --prediction-log DIR --log-durability sync (for reference:
#          every answer waits for its group commit's fdatasync)
#
#   AXLE_BIN=build/axle bench/monitoring.sh [--quick]
#
# POST /v2/models/iris/infer (86-byte V2 JSON), wrk -t1 -c64 from cpu1, each
# server on cpu0 with one I/O thread (its log writer thread shares cpu0, so
# the log's whole CPU cost is charged to the server). Rounds interleave the
# variants (A B C D, D C B A, ...); ratios are formed per round. The log
# directories are on the run directory's file system (build/bench/...).
# Environment: ROUNDS (5; --quick 2), DURATION (10; --quick 2), WARMUP (2;
# --quick 1), CONNS (64), VARIANTS (default "bare mon log sync"), KEEP_LOGS=1
# keeps the written logs (deleted after they are verified otherwise).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BENCH_ROOT" || exit 1
bench_init monitoring "$@"

PY="$BENCH_ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=/usr/bin/python3
C="${CONNS:-64}"
VARIANTS="${VARIANTS:-bare mon log sync}"
M="$RUN/models"
"$PY" bench/serve_models.py "$M" | tee -a "$JSONL" >/dev/null || { blog "making the models failed"; exit 1; }
# The bare repository: the same model with monitoring turned off.
mkdir -p "$RUN/repo_bare/iris/1"
cp "$M/repo/iris/1/model.onnx" "$RUN/repo_bare/iris/1/"
echo '{"monitoring": {"enabled": false}}' > "$RUN/repo_bare/iris/config.json"

declare -A PORT PID
for v in $VARIANTS; do
  repo="$M/repo"; args=""
  case "$v" in
    bare) repo="$RUN/repo_bare" ;;
    mon) ;;
    log) mkdir -p "$RUN/log-async"; args="--prediction-log $RUN/log-async" ;;
    sync) mkdir -p "$RUN/log-sync"; args="--prediction-log $RUN/log-sync --log-durability sync" ;;
    *) blog "unknown variant $v"; exit 2 ;;
  esac
  AXLE_ARGS="$args" start_axle "axle-$v" "$repo" || { blog "axle ($v) did not start"; exit 1; }
  PORT[$v]=$AXLE_PORT; PID[$v]=$AXLE_PID
done

LUA="$RUN/post_iris.lua"
write_post_lua "$LUA" "$M/bodies/iris.json"
for r in $(seq 1 "$ROUNDS"); do
  blog "round $r/$ROUNDS"
  for v in $(round_order "$r" $VARIANTS); do
    measure M1 "$v" "$r" "$C" "$DURATION" "http://127.0.0.1:${PORT[$v]}/v2/models/iris/infer" \
      "$LUA" "$(pid_tree "${PID[$v]}")"
  done
done

# What the logs hold: every request of the async run should be there.
for v in log sync; do
  case " $VARIANTS " in *" $v "*) ;; *) continue ;; esac
  stop_pid "${PID[$v]}"
  dir="$RUN/log-async"; [ "$v" = sync ] && dir="$RUN/log-sync"
  s="$("$AXLE_BIN" log cat "$dir" --verify 2>&1 >/dev/null | tail -1)"
  emit "{\"kind\":\"log\",\"variant\":\"$v\",\"bytes\":$(du -sb "$dir" | cut -f1),\"summary\":$s}"
  # A full run writes gigabytes: keep the logs only when asked.
  [ "${KEEP_LOGS:-0}" = 1 ] || rm -rf "$dir"
done

# The same three variants without sockets (bench/reqpath_bench.c): the
# request path's own CPU per request, the kernel's TCP work left out. Each
# process runs 15 windows of 30k requests and reports its fastest (the
# VM's speed swings between windows); processes interleave like the rounds.
RP="${REQPATH_BIN:-$(dirname "$AXLE_BIN")/bench/reqpath_bench}"
if [ -x "$RP" ]; then
  for r in $(seq 1 "$ROUNDS"); do
    for v in $(round_order "$r" bare mon log); do
      repo="$M/repo"; args=""
      case "$v" in
        bare) repo="$RUN/repo_bare" ;;
        log) rm -rf "$RUN/log-rp"; mkdir -p "$RUN/log-rp"; args="--log $RUN/log-rp" ;;
      esac
      best="$(taskset -c 0 "$RP" "$repo" "$M/bodies/iris.json" $args --requests 30000 --rounds 15 2>/dev/null |
        /usr/bin/python3 -c 'import sys, json; print(min(json.loads(l)["cpu_us_per_req"] for l in sys.stdin))')"
      [ -n "$best" ] && emit "{\"kind\":\"reqpath\",\"variant\":\"$v\",\"round\":$r,\"cpu_us_per_req\":$best}"
    done
  done
  rm -rf "$RUN/log-rp"
else
  blog "no $RP: the request-path table is left out (build the reqpath_bench target)"
fi

echo
echo "=== bench/monitoring.sh summary ($RUN)"
/usr/bin/python3 - "$JSONL" <<'PYEOF'
import json, statistics, sys
pts, logs, rp = {}, {}, {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    if d.get("kind") == "reqpath":
        rp.setdefault(d["variant"], {})[d["round"]] = d["cpu_us_per_req"]
    if d.get("kind") == "point":
        pts.setdefault(d["variant"], {})[d["round"]] = d
    elif d.get("kind") == "log":
        logs[d["variant"]] = d
for v, rs in pts.items():
    rps = statistics.median(p["rps"] for p in rs.values())
    cpu = statistics.median(p["server_cpu_us_per_req"] for p in rs.values())
    p99 = statistics.median(p["p99_us"] for p in rs.values())
    err = sum(p["non2xx"] + p["socket_errors"] for p in rs.values())
    print("%-5s %9.0f req/s  %6.2f CPU-us/req  p99 %7.0f us  errors %d" % (v, rps, cpu, p99, err))
def ratio(a, b):
    if a not in pts or b not in pts:
        return None
    rounds = sorted(set(pts[a]) & set(pts[b]))
    xs = [pts[a][r]["rps"] / pts[b][r]["rps"] for r in rounds if pts[b][r]["rps"]]
    return statistics.median(xs), min(xs), max(xs)
for a, b, target in (("mon", "bare", None), ("log", "bare", 0.90), ("log", "mon", None),
                     ("sync", "bare", None)):
    r = ratio(a, b)
    if r is None:
        continue
    verdict = "" if target is None else ("  target >= %.2f: %s" % (
        target, "PASS" if r[1] >= target else ("median" if r[0] >= target else "FAIL")))
    print("req/s %s / %s: %.3f [%.3f .. %.3f]%s" % (a, b, r[0], r[1], r[2], verdict))
    with open(sys.argv[1], "a") as f:
        f.write(json.dumps({"kind": "summary", "ratio": "%s/%s" % (a, b), "median": r[0],
                            "min": r[1], "max": r[2], "target": target}) + "\n")
if rp:
    print("request path without sockets (reqpath_bench, fastest window per process):")
    for v, rs in rp.items():
        print("  %-5s %6.3f CPU-us/req  [%s]" % (v, statistics.median(rs.values()),
                                              " ".join("%.2f" % x for x in rs.values())))
    for a in ("mon", "log"):
        if a in rp and "bare" in rp:
            rounds = sorted(set(rp[a]) & set(rp["bare"]))
            extra = statistics.median(rp[a][r] - rp["bare"][r] for r in rounds)
            print("  %s - bare: +%.3f CPU-us/req (median of rounds)" % (a, extra))
            with open(sys.argv[1], "a") as f:
                f.write(json.dumps({"kind": "summary", "reqpath_extra": a, "us": extra}) + "\n")
for v, d in logs.items():
    s = d["summary"]
    print("%s log: %d records in %d segments, %d bytes, %d gaps (dropped %d, lost %d), verified %s"
          % (v, s["records"], s["segments"], d["bytes"], s["gaps"], s["dropped"], s["lost"],
             s.get("verified")))
PYEOF
