#!/usr/bin/env bash
# bench/serve_startup.sh - PERF.md G13 for the server: exec -> /v2/health/ready
# = 200, and idle RSS, with the MLP 784-512-512-10 example (2.67 MB of weights).
#
#   AXLE_BIN=build/axle bench/serve_startup.sh [--quick]
#
# Start-up: a timestamp right before exec (Popen, pinned to cpu0 by
# sched_setaffinity, no taskset in between), then GET /v2/health/ready over a
# raw socket every 0.5 ms until it answers 200; STARTS runs (10; --quick 5),
# median with min-max. Page cache warm (the model was just written). Target
# (issue): median <= 50 ms. Idle RSS: VmRSS from /proc/PID/status after IDLE
# seconds (10) without requests, target <= 12 MB (VmHWM recorded too).
# Same-run references (not the same model: the Python servers serve iris):
# FastAPI+uvicorn (ready = GET /docs) and MLServer (ready = /v2/health/ready),
# BASE_STARTS runs each (3; --quick 1), RSS summed over the process tree.
#
# Environment: AXLE_BIN, STARTS, BASE_STARTS, IDLE, SKIP_BASELINES=1,
# SKIP_MLSERVER=1, AXLE_ARGS.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BENCH_ROOT" || exit 1
bench_init serve_startup "$@"
if [ "$QUICK" = 1 ]; then STARTS="${STARTS:-5}"; BASE_STARTS="${BASE_STARTS:-1}"
else STARTS="${STARTS:-10}"; BASE_STARTS="${BASE_STARTS:-3}"; fi
IDLE="${IDLE:-10}"

PY="$BENCH_ROOT/.venv/bin/python"
[ -x "$PY" ] || PY=/usr/bin/python3
M="$RUN/models"
"$PY" bench/serve_models.py "$M" | tee -a "$JSONL" >/dev/null || { blog "making the models failed"; exit 1; }

# startup VARIANT N READY_PATH TARGET_MS CMD... - N timed starts; emits a
# "startup" line and then an "rss" line for the last start, after IDLE s.
startup() {
  local v="$1" n="$2" path="$3" target="$4"; shift 4
  local port out
  port="$(pick_port)"
  out="$(/usr/bin/python3 - "$v" "$n" "$port" "$path" "$target" "$IDLE" "$SERVER_CPU" "$RUN/$v-startup.log" "$@" <<'PY'
import json, os, signal, socket, statistics, subprocess, sys, time
v, n, port, path, target, idle, cpu, log = sys.argv[1:9]
cmd = [a.replace("@PORT@", port) for a in sys.argv[9:]]
n, port, idle, cpu = int(n), int(port), float(idle), int(cpu)
req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode()

def ready():
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except OSError:
        return False
    try:
        s.sendall(req)
        d = s.recv(64)
        return d.startswith(b"HTTP/1.1 200") or d.startswith(b"HTTP/1.0 200")
    except OSError:
        return False
    finally:
        s.close()

def tree(pid):
    out = [pid]
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, t)) as f:
                for c in f.read().split():
                    out += tree(int(c))
    except OSError:
        pass
    return out

def status_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0

def stop(p):
    kids = tree(p.pid)[1:]
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()
    for k in kids:
        try:
            os.kill(k, signal.SIGKILL)
        except OSError:
            pass

times, first_conn, err = [], [], None
rss = None
logf = open(log, "ab")
for i in range(n):
    while ready():            # the previous run's port must be free again
        time.sleep(0.05)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                         preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    ok = False
    while time.perf_counter() - t0 < 60:
        if ready():
            ok = True
            break
        if p.poll() is not None:
            break
        time.sleep(0.0005)
    t1 = time.perf_counter()
    if not ok:
        err = "not ready after %.1f s (exit status %s); see %s" % (t1 - t0, p.poll(), log)
        stop(p)
        break
    times.append((t1 - t0) * 1e3)
    if i == n - 1:
        time.sleep(idle)
        pids = tree(p.pid)
        rss = {"vmrss_kb": sum(status_kb(q, "VmRSS") for q in pids),
               "vmhwm_kb": sum(status_kb(q, "VmHWM") for q in pids),
               "rss_anon_kb": sum(status_kb(q, "RssAnon") for q in pids),
               "rss_file_kb": sum(status_kb(q, "RssFile") for q in pids),
               "threads": sum(status_kb(q, "Threads") for q in pids), "processes": len(pids),
               "alive": p.poll() is None}
    stop(p)
res = {"variant": v, "n": len(times), "cmd": " ".join(cmd)}
if times:
    res.update(median=statistics.median(times), min=min(times), max=max(times),
               all_ms=[round(t, 2) for t in times])
if err:
    res["error"] = err
if rss:
    res["rss"] = rss
print(json.dumps(res))
PY
)"
  /usr/bin/python3 - "$out" "$target" "$v" "$IDLE" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); target = sys.argv[2]; v = sys.argv[3]; idle = float(sys.argv[4])
t = None if target == "-" else float(target)
s = {"kind": "startup", "goal": "G13", "variant": v, "what": "exec->ready", "unit": "ms",
     "target": t, "source": "issue" if t else "reference", **{k: r[k] for k in r if k != "rss"}}
print(json.dumps(s))
if "rss" in r:
    mb = r["rss"]["vmrss_kb"] / 1024
    print(json.dumps({"kind": "rss", "goal": "G13", "variant": v, "what": "idle RSS", "unit": "MB",
                      "value": round(mb, 2), "target": 12.0 if t else None,
                      "source": "issue" if t else "reference", "idle_s": idle,
                      "vmhwm_mb": round(r["rss"]["vmhwm_kb"] / 1024, 2),
                      "rss_anon_mb": round(r["rss"]["rss_anon_kb"] / 1024, 2),
                      "rss_file_mb": round(r["rss"]["rss_file_kb"] / 1024, 2),
                      "threads": r["rss"]["threads"],
                      "processes": r["rss"]["processes"], "alive_after_idle": r["rss"]["alive"]}))
PY
}

run_point() {  # run_point VARIANT N PATH TARGET CMD...
  local lines
  lines="$(startup "$@")"
  while IFS= read -r l; do [ -n "$l" ] && emit "$l"; done <<< "$lines"
  echo "$lines" | grep -q '"error"' && blog "$1: $(echo "$lines" | sed -n 's/.*"error": "\([^"]*\)".*/\1/p' | head -1)"
}

if axle_ok; then
  # shellcheck disable=SC2086
  run_point axle "$STARTS" /v2/health/ready 50 env "${AXLE_ENV[@]}" "$AXLE_BIN" serve "$M/repo_mlp" --host 127.0.0.1 \
    --http-port @PORT@ --threads 1 --allow-root ${AXLE_ARGS:-}
else
  blog "no working '$AXLE_BIN serve': axle is skipped"
fi

if [ "${SKIP_BASELINES:-0}" != 1 ]; then
  /usr/bin/python3 -c 'import fastapi, uvicorn, sklearn' 2>/dev/null &&
    run_point fastapi "$BASE_STARTS" /docs - /usr/bin/python3 -m uvicorn --app-dir "$BENCH_ROOT/bench" \
      iris_fastapi:app --host 127.0.0.1 --port @PORT@ --workers 1 --no-access-log --log-level warning
  if [ "${SKIP_MLSERVER:-0}" != 1 ] && ensure_mlserver; then
    # MLServer takes its port from settings.json: one fixed port for all its starts.
    mlserver_settings "$M/mlserver"
    sed -i "s/\"http_port\": $MLSERVER_PORT/\"http_port\": @PORT@/" "$M/mlserver/settings.json"
    cp "$M/mlserver/settings.json" "$M/mlserver/settings.tmpl"
    /usr/bin/python3 - "$M/mlserver" <<'PY'
import sys, os
d = sys.argv[1]
open(os.path.join(d, "start.sh"), "w").write(
    '#!/bin/sh\nsed "s/@PORT@/$1/" "%s/settings.tmpl" > "%s/settings.json"\nexec "$2" start "%s"\n' % (d, d, d))
os.chmod(os.path.join(d, "start.sh"), 0o755)
PY
    run_point mlserver "$BASE_STARTS" /v2/health/ready - "$M/mlserver/start.sh" @PORT@ "$MLSERVER_VENV/bin/mlserver"
  fi
fi

echo
echo "=== bench/serve_startup.sh summary ($RUN)"
/usr/bin/python3 bench/serve_summary.py "$JSONL"
