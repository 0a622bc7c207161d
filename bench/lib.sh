# bench/lib.sh - shared harness of the serving benchmarks (PERF.md §3, §5).
# shellcheck shell=bash
# Sourced, not run:   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
#   bench_init NAME [--quick] ...   RUN dir, JSONL file, exit trap, environment
#   pick_port                       a free TCP port on 127.0.0.1 (not ephemeral)
#   start_pinned NAME CPU CMD...    start CMD pinned with taskset; PID in $STARTED_PID
#   wait_ready URL PID [SECONDS]    poll URL until 200 (default <= 10 s)
#   stop_pid PID                    TERM, wait, KILL; only processes we started
#   pid_tree PID                    PID and its descendants
#   cpu_us PID...                   utime+stime of the PIDs, in µs
#   quiet_check                     /proc/stat busy over 1 s; sets QUIET, BUSY, QUIET_TRIES
#   run_wrk C SECONDS URL [LUA]     taskset -c 1 wrk -t1 -cC --latency; sets WRK_*
#   measure GOAL VARIANT ROUND C SECONDS URL LUA "PIDS"   warm-up + run_wrk + server
#                                   CPU; appends one JSON line (kind "point")
#   emit JSON                       print a JSON line on stdout and into $JSONL
#
# Pinning: servers on cpu0, the load generator on cpu1 (SERVER_CPU, CLIENT_CPU).
# OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE are unset for every side (the machines
# export AVX2-forcing values, ENVIRONMENT.md "Measuring"); their original values
# are recorded. OPENBLAS_NUM_THREADS=OMP_NUM_THREADS=1: every server gets one core.

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
CLK_TCK="$(getconf CLK_TCK)"
BENCH_PIDS=()
NGINX_MASTERS=()
USED_PORTS=" "

ORIG_OPENBLAS_CORETYPE="${OPENBLAS_CORETYPE:-<unset>}"
ORIG_OPENBLAS_L2_SIZE="${OPENBLAS_L2_SIZE:-<unset>}"
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

blog() { echo "bench/${BENCH_NAME:-serve}: $*" >&2; }

# bench_init NAME ARGS... - parses --quick; QUICK, ROUNDS, DURATION, WARMUP,
# QUIET_MAX_TRIES come from the environment when set.
bench_init() {
  BENCH_NAME="$1"; shift
  QUICK=0
  for a in "$@"; do
    case "$a" in
      --quick) QUICK=1 ;;
      -h|--help) sed -n '2,/^set /p' "$0" | sed -n 's/^# \{0,1\}//p' >&2; exit 0 ;;
      *) blog "unknown argument '$a'"; exit 2 ;;
    esac
  done
  if [ "$QUICK" = 1 ]; then
    ROUNDS="${ROUNDS:-2}"; DURATION="${DURATION:-2}"; WARMUP="${WARMUP:-1}"
    QUIET_MAX_TRIES="${QUIET_MAX_TRIES:-1}"
  else
    ROUNDS="${ROUNDS:-5}"; DURATION="${DURATION:-10}"; WARMUP="${WARMUP:-2}"
    QUIET_MAX_TRIES="${QUIET_MAX_TRIES:-3}"
  fi
  AXLE_BIN="${AXLE_BIN:-$BENCH_ROOT/build/axle}"
  case "$AXLE_BIN" in /*) ;; *) AXLE_BIN="$PWD/$AXLE_BIN" ;; esac
  RUN="${RUN:-$BENCH_ROOT/build/bench/$BENCH_NAME-$(date +%Y%m%d-%H%M%S)}"
  mkdir -p "$RUN"
  JSONL="$RUN/results.jsonl"
  : > "$JSONL"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  for t in wrk taskset curl; do
    command -v "$t" >/dev/null || { blog "$t missing (apt-get install wrk util-linux curl)"; exit 1; }
  done
  blog "run directory $RUN (rounds=$ROUNDS duration=${DURATION}s warmup=${WARMUP}s quick=$QUICK)"
  blog "machine env OPENBLAS_CORETYPE=$ORIG_OPENBLAS_CORETYPE OPENBLAS_L2_SIZE=$ORIG_OPENBLAS_L2_SIZE (unset for every side)"
  env_json
}

json_str() {  # JSON-quote one string
  local s="$1"
  s="${s//\\/\\\\}"; s="${s//\"/\\\"}"; s="${s//$'\n'/ }"; s="${s//$'\t'/ }"
  printf '"%s"' "$s"
}

emit() { printf '%s\n' "$1" | tee -a "$JSONL"; }

axle_ok() { [ -x "$AXLE_BIN" ] && "$AXLE_BIN" serve --help >/dev/null 2>&1; }

env_json() {
  local cpu sha dirty kernel
  cpu="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
  cpu="$cpu (family $(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -1), $(grep -c ^processor /proc/cpuinfo) cpus)"
  sha="$(git -C "$BENCH_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  dirty="$(git -C "$BENCH_ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo true || echo false)"
  kernel="$(uname -r)"
  emit "{\"kind\":\"env\",\"bench\":$(json_str "$BENCH_NAME"),\"time\":$(json_str "$(date -Is)"),\"cpu\":$(json_str "$cpu"),\"kernel\":$(json_str "$kernel"),\"git\":$(json_str "$sha"),\"git_dirty\":$dirty,\"axle_bin\":$(json_str "$AXLE_BIN"),\"axle_env\":$(json_str "${AXLE_ENV[*]}"),\"machine_OPENBLAS_CORETYPE\":$(json_str "$ORIG_OPENBLAS_CORETYPE"),\"machine_OPENBLAS_L2_SIZE\":$(json_str "$ORIG_OPENBLAS_L2_SIZE"),\"OPENBLAS_CORETYPE\":\"<unset>\",\"OPENBLAS_L2_SIZE\":\"<unset>\",\"OPENBLAS_NUM_THREADS\":\"$OPENBLAS_NUM_THREADS\",\"OMP_NUM_THREADS\":\"$OMP_NUM_THREADS\",\"wrk\":$(json_str "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"),\"server_cpu\":$SERVER_CPU,\"client_cpu\":$CLIENT_CPU,\"rounds\":$ROUNDS,\"duration_s\":$DURATION,\"warmup_s\":$WARMUP,\"quick\":$([ "$QUICK" = 1 ] && echo true || echo false)}"
}

# A port outside the ephemeral range, not used by any socket and not handed out before.
pick_port() {
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 12000))
    case "$USED_PORTS" in *" $p "*) continue ;; esac
    if ! ss -Htan "( sport = :$p or dport = :$p )" 2>/dev/null | grep -q .; then
      USED_PORTS="$USED_PORTS$p "
      echo "$p"; return 0
    fi
  done
  blog "no free port found"; return 1
}

# start_pinned NAME CPU CMD... - output to $RUN/NAME.log; PID in STARTED_PID.
start_pinned() {
  local name="$1" cpu="$2"; shift 2
  taskset -c "$cpu" "$@" >"$RUN/$name.log" 2>&1 &
  STARTED_PID=$!
  BENCH_PIDS+=("$STARTED_PID")
  blog "started $name pid $STARTED_PID on cpu$cpu: $*"
}

# wait_ready URL PID [SECONDS] - 0 when URL answers 200; 1 on timeout or when PID died.
wait_ready() {
  local url="$1" pid="$2" limit="${3:-10}" t0 code
  t0=$(date +%s%N)
  while :; do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" 2>/dev/null)"
    [ "$code" = 200 ] && { READY_MS=$(( ($(date +%s%N) - t0) / 1000000 )); return 0; }
    if ! kill -0 "$pid" 2>/dev/null; then blog "pid $pid exited before $url was ready"; return 1; fi
    if [ $(( $(date +%s%N) - t0 )) -gt $(( limit * 1000000000 )) ]; then
      blog "$url not ready after ${limit}s (last status $code)"; return 1
    fi
    sleep 0.02
  done
}

pid_tree() {
  local p="$1" c
  echo "$p"
  for c in $(cat /proc/"$p"/task/*/children 2>/dev/null); do pid_tree "$c"; done
}

# cpu_us PID... - utime+stime (fields 14, 15 of /proc/PID/stat) summed, in µs.
cpu_us() {
  local total=0 p line rest
  for p in "$@"; do
    line="$(cat /proc/"$p"/stat 2>/dev/null)" || continue
    rest="${line##*) }"            # fields from 3 on (comm may contain spaces)
    set -- $rest
    total=$(( total + ${12} + ${13} ))
  done
  echo $(( total * 1000000 / CLK_TCK ))
}

stop_pid() {
  local p="$1" kids i
  kill -0 "$p" 2>/dev/null || return 0
  kids="$(pid_tree "$p" | tail -n +2)"
  kill -TERM "$p" 2>/dev/null
  for i in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  for i in $kids; do kill -0 "$i" 2>/dev/null && kill -KILL "$i" 2>/dev/null; done
  wait "$p" 2>/dev/null
  return 0
}

bench_cleanup() {
  local m p
  for m in "${NGINX_MASTERS[@]}"; do
    [ -f "$m/nginx.pid" ] && kill -QUIT "$(cat "$m/nginx.pid")" 2>/dev/null
  done
  for p in "${BENCH_PIDS[@]}"; do stop_pid "$p"; done
  [ -n "${RUN:-}" ] && blog "logs and results in $RUN"
}

# quiet_check - busy fraction of all cpus over 1 s; > 10 %: wait 2 s and retry,
# at most QUIET_MAX_TRIES reads. Sets QUIET (true/false), BUSY, QUIET_TRIES.
quiet_check() {
  local i a b idle1 tot1 idle2 tot2
  for i in $(seq 1 "${QUIET_MAX_TRIES:-3}"); do
    read -r -a a < /proc/stat
    sleep 1
    read -r -a b < /proc/stat
    idle1=$(( a[4] + a[5] )); tot1=0; for v in "${a[@]:1}"; do tot1=$((tot1 + v)); done
    idle2=$(( b[4] + b[5] )); tot2=0; for v in "${b[@]:1}"; do tot2=$((tot2 + v)); done
    BUSY=$(awk -v d=$((tot2 - tot1)) -v i=$((idle2 - idle1)) 'BEGIN{printf "%.3f", (d > 0 ? 1 - i / d : 0)}')
    QUIET_TRIES=$i
    if awk -v b="$BUSY" 'BEGIN{exit !(b <= 0.10)}'; then QUIET=true; return 0; fi
    [ "$i" -lt "${QUIET_MAX_TRIES:-3}" ] && sleep 2
  done
  QUIET=false
}

# wrk's latency text (850.00us, 1.20ms, 2.00s, 1.00m) in µs.
to_us() {
  awk -v v="$1" 'BEGIN{
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") f = 1; else if (u == "ms") f = 1000; else if (u == "s") f = 1e6;
    else if (u == "m") f = 6e7; else if (u == "h") f = 3.6e9; else f = 1;
    printf "%.1f", n * f }'
}

# run_wrk C SECONDS URL [LUA] - closed-loop load from CLIENT_CPU. Sets WRK_RPS,
# WRK_REQS, WRK_SECS, WRK_AVG/P50/P75/P90/P99/MAX (µs), WRK_NON2XX, WRK_SOCKERR,
# WRK_CLIENT_CPU_US, WRK_CLIENT_PCT; raw output in $WRK_OUT.
WRK_N=0
run_wrk() {
  local c="$1" secs="$2" url="$3" lua="${4:-}" t s u
  WRK_N=$((WRK_N + 1))
  WRK_OUT="$RUN/wrk-$WRK_N.txt"
  local args=(-t1 -c"$c" -d"${secs}s" --latency --timeout 10s)
  [ -n "$lua" ] && args+=(-s "$lua")
  # `times` in the subshell: its second line is the CPU of waited-for children (wrk).
  t="$( ( taskset -c "$CLIENT_CPU" wrk "${args[@]}" "$url" >"$WRK_OUT" 2>&1; times ) | tail -1 )"
  u="$(echo "$t" | awk '{ split($1, a, "m"); split($2, b, "m"); printf "%d", (a[1] * 60 + a[2] + b[1] * 60 + b[2]) * 1e6 }')"
  WRK_CLIENT_CPU_US="$u"
  WRK_RPS="$(awk '/^Requests\/sec:/{print $2}' "$WRK_OUT")"
  WRK_REQS="$(awk '/requests in/{print $1}' "$WRK_OUT")"
  s="$(awk '/requests in/{v=$4; sub(/,$/, "", v); print v}' "$WRK_OUT")"
  WRK_SECS="$(awk -v v="$(to_us "${s:-0s}")" 'BEGIN{printf "%.3f", v / 1e6}')"
  WRK_AVG="$(to_us "$(awk '$1 == "Latency" && NF >= 4 {print $2; exit}' "$WRK_OUT")")"
  WRK_P50="$(to_us "$(awk '$1 == "50%" {print $2}' "$WRK_OUT")")"
  WRK_P75="$(to_us "$(awk '$1 == "75%" {print $2}' "$WRK_OUT")")"
  WRK_P90="$(to_us "$(awk '$1 == "90%" {print $2}' "$WRK_OUT")")"
  WRK_P99="$(to_us "$(awk '$1 == "99%" {print $2}' "$WRK_OUT")")"
  WRK_MAX="$(to_us "$(awk '$1 == "Latency" && NF >= 4 {print $4; exit}' "$WRK_OUT")")"
  WRK_NON2XX="$(awk '/Non-2xx or 3xx responses:/{print $NF}' "$WRK_OUT")"; WRK_NON2XX="${WRK_NON2XX:-0}"
  WRK_SOCKERR="$(awk '/Socket errors:/{gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$WRK_OUT")"; WRK_SOCKERR="${WRK_SOCKERR:-0}"
  WRK_RPS="${WRK_RPS:-0}"; WRK_REQS="${WRK_REQS:-0}"
  if [ "$WRK_REQS" = 0 ]; then   # wrk prints no statistics when nothing connected
    blog "wrk completed no request: $(head -c 300 "$WRK_OUT")"
    [ "$WRK_SOCKERR" = 0 ] && WRK_SOCKERR=1
  fi
  WRK_CLIENT_PCT="$(awk -v u="$u" -v s="$WRK_SECS" 'BEGIN{printf "%.1f", (s > 0 ? 100 * u / 1e6 / s : 0)}')"
}

# measure GOAL VARIANT ROUND C SECONDS URL LUA "SERVER_PIDS" [EXTRA_JSON]
# Quiet check, WARMUP seconds of load (discarded), then the measured run with the
# servers' utime+stime read before and after. One JSON line of kind "point".
measure() {
  local goal="$1" var="$2" round="$3" c="$4" secs="$5" url="$6" lua="$7" pids="$8" extra="${9:-}"
  local c0 c1 cpu_per_req srv_pct
  quiet_check
  if [ "${WARMUP:-0}" -gt 0 ]; then run_wrk "$c" "$WARMUP" "$url" "$lua"; fi
  c0="$(cpu_us $pids)"
  run_wrk "$c" "$secs" "$url" "$lua"
  c1="$(cpu_us $pids)"
  cpu_per_req="$(awk -v d=$((c1 - c0)) -v n="$WRK_REQS" 'BEGIN{printf "%.2f", (n > 0 ? d / n : 0)}')"
  srv_pct="$(awk -v d=$((c1 - c0)) -v s="$WRK_SECS" 'BEGIN{printf "%.1f", (s > 0 ? 100 * d / 1e6 / s : 0)}')"
  local client_bound=false
  awk -v p="$WRK_CLIENT_PCT" 'BEGIN{exit !(p > 90)}' && client_bound=true
  emit "{\"kind\":\"point\",\"bench\":\"$BENCH_NAME\",\"goal\":\"$goal\",\"variant\":\"$var\",\"round\":$round,\"conns\":$c,\"duration_s\":$WRK_SECS,\"requests\":$WRK_REQS,\"rps\":$WRK_RPS,\"lat_avg_us\":$WRK_AVG,\"p50_us\":$WRK_P50,\"p75_us\":$WRK_P75,\"p90_us\":$WRK_P90,\"p99_us\":$WRK_P99,\"max_us\":$WRK_MAX,\"non2xx\":$WRK_NON2XX,\"socket_errors\":$WRK_SOCKERR,\"server_cpu_us\":$((c1 - c0)),\"server_cpu_us_per_req\":$cpu_per_req,\"server_cpu_pct\":$srv_pct,\"client_cpu_us\":$WRK_CLIENT_CPU_US,\"client_cpu_pct\":$WRK_CLIENT_PCT,\"client_bound\":$client_bound,\"quiet\":$QUIET,\"busy\":$BUSY,\"quiet_tries\":$QUIET_TRIES,\"wrk_out\":$(json_str "$WRK_OUT")${extra:+,$extra}}"
  local note=""
  [ "$QUIET" = true ] || note=" NOISY(busy $BUSY)"
  [ "$WRK_NON2XX" != 0 ] || [ "$WRK_SOCKERR" != 0 ] && note="$note ERRORS(non2xx $WRK_NON2XX, socket $WRK_SOCKERR)"
  blog "$goal $var r$round c=$c: $WRK_RPS req/s, $cpu_per_req CPU-µs/req, p50 ${WRK_P50}µs p99 ${WRK_P99}µs, client ${WRK_CLIENT_PCT}%$note"
}

# Interleaved order for round R over the given variants: forward on odd rounds,
# reversed on even ones (A B, B A, A B, ...: the A B B A pattern of PERF.md §3).
round_order() {
  local r="$1"; shift
  if [ $((r % 2)) = 1 ]; then echo "$@"; else
    local out=() v; for v in "$@"; do out=("$v" "${out[@]}"); done; echo "${out[@]}"
  fi
}

# ---------------------------------------------------------------- baselines

# start_nginx BODY_BYTES [BODY_FILE] - nginx 1.22 exactly as PERF.md §5: private
# prefix, 1 worker, `return 200` with BODY_FILE's JSON (one line, no ' $ \) or
# else a padded JSON body of BODY_BYTES bytes. Sets NGINX_PORT,
# NGINX_MASTER, NGINX_WORKER, NGINX_BODY_BYTES; returns 1 when nginx is missing.
start_nginx() {
  local bytes="${1:-120}" pfx="$RUN/nginx" body pad
  command -v nginx >/dev/null || { blog "nginx missing (apt-get install nginx)"; return 1; }
  NGINX_PORT="$(pick_port)"
  mkdir -p "$pfx/tmp"
  body=""
  # Prefer the very bytes axle answers (same size, same JSON) when they are
  # safe inside nginx's single-quoted `return` text.
  if [ -n "${2:-}" ] && [ -s "$2" ] && ! grep -q "['\\\$\\\\]" "$2" && [ "$(wc -l < "$2")" = 0 ]; then
    body="$(cat "$2")"
  fi
  if [ -z "$body" ]; then
    body='{"model_name":"iris","outputs":[{"name":"probabilities","datatype":"FP32","shape":[1,3],"data":[0.98,0.018,1.4e-08]}]}'
    if [ "${#body}" -gt "$bytes" ]; then body='{"p":""}'; fi
    pad=$((bytes - ${#body}))
    if [ "$pad" -gt 0 ]; then
      body="${body%\}}"; body="$body,\"pad\":\"$(printf '%*s' $((pad > 9 ? pad - 9 : 0)) '' | tr ' ' x)\"}"
    fi
  fi
  NGINX_BODY_BYTES=${#body}
  cat > "$pfx/static.conf" <<EOF
daemon off;  master_process on;  worker_processes 1;  pid nginx.pid;  error_log stderr warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 10000000;
    client_body_temp_path tmp/body; proxy_temp_path tmp/proxy; fastcgi_temp_path tmp/fcgi;
    uwsgi_temp_path tmp/uwsgi; scgi_temp_path tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / { default_type application/json; return 200 '$body'; }
    }
}
EOF
  NGINX_MASTERS+=("$pfx")
  start_pinned nginx "$SERVER_CPU" nginx -p "$pfx" -c static.conf
  NGINX_MASTER=$STARTED_PID
  wait_ready "http://127.0.0.1:$NGINX_PORT/v2/health/ready" "$NGINX_MASTER" 10 || return 1
  NGINX_WORKER="$(pgrep -P "$NGINX_MASTER" | head -1)"
  blog "nginx $(nginx -v 2>&1 | sed 's/.*\///') on :$NGINX_PORT, worker pid $NGINX_WORKER, body $NGINX_BODY_BYTES B"
}

# start_fastapi - PERF.md §5's FastAPI + uvicorn iris server (bench/iris_fastapi.py)
# on Debian's python3. Sets FASTAPI_PORT, FASTAPI_PID, FASTAPI_IMPL.
start_fastapi() {
  local py=/usr/bin/python3
  "$py" -c 'import fastapi, uvicorn, sklearn' 2>/dev/null || {
    blog "Debian python3-fastapi/python3-uvicorn/python3-sklearn missing"; return 1; }
  FASTAPI_PORT="$(pick_port)"
  FASTAPI_IMPL="$("$py" -c '
import importlib.util as u, fastapi, uvicorn
print("fastapi %s uvicorn %s loop=%s http=%s" % (fastapi.__version__, uvicorn.__version__,
      "uvloop" if u.find_spec("uvloop") else "asyncio", "httptools" if u.find_spec("httptools") else "h11"))')"
  start_pinned fastapi "$SERVER_CPU" "$py" -m uvicorn --app-dir "$BENCH_ROOT/bench" iris_fastapi:app \
    --host 127.0.0.1 --port "$FASTAPI_PORT" --workers 1 --no-access-log --log-level warning
  FASTAPI_PID=$STARTED_PID
  wait_ready "http://127.0.0.1:$FASTAPI_PORT/docs" "$FASTAPI_PID" 30 || return 1
  blog "FastAPI on :$FASTAPI_PORT ($FASTAPI_IMPL), ready after ${READY_MS} ms"
}

# MLServer from PyPI in its own venv (never the project's .venv): Debian's
# python3 with --system-site-packages, numpy/scikit-learn pinned to Debian's so
# the Debian scipy keeps working and the joblib file unpickles with the same sklearn.
MLSERVER_VERSION="${MLSERVER_VERSION:-1.6.1}"
MLSERVER_VENV="${MLSERVER_VENV:-$BENCH_ROOT/build/venv-mlserver}"
ensure_mlserver() {
  local want="$MLSERVER_VERSION"
  if [ -x "$MLSERVER_VENV/bin/mlserver" ] &&
     "$MLSERVER_VENV/bin/python" -c "import mlserver, mlserver_sklearn, sklearn; assert mlserver.__version__ == '$want'" 2>/dev/null; then
    return 0
  fi
  [ "${MLSERVER_INSTALL:-1}" = 1 ] || { blog "MLServer not installed and MLSERVER_INSTALL=0"; return 1; }
  blog "installing mlserver==$want mlserver-sklearn==$want into $MLSERVER_VENV (log $RUN/mlserver-install.log)"
  local np sk
  np="$(/usr/bin/python3 -c 'import numpy; print(numpy.__version__)' 2>/dev/null)" || np=""
  sk="$(/usr/bin/python3 -c 'import sklearn; print(sklearn.__version__)' 2>/dev/null)" || sk=""
  rm -rf "$MLSERVER_VENV"
  /usr/bin/python3 -m venv --system-site-packages "$MLSERVER_VENV" >"$RUN/mlserver-install.log" 2>&1 &&
  "$MLSERVER_VENV/bin/pip" install --disable-pip-version-check "mlserver==$want" "mlserver-sklearn==$want" \
    ${np:+"numpy==$np"} ${sk:+"scikit-learn==$sk"} >>"$RUN/mlserver-install.log" 2>&1 &&
  "$MLSERVER_VENV/bin/python" -c "import mlserver, mlserver_sklearn, sklearn" >>"$RUN/mlserver-install.log" 2>&1 || {
    blog "MLServer install failed (see $RUN/mlserver-install.log); MLServer is skipped"; return 1; }
}

# mlserver_settings DIR - DIR/settings.json on fresh loopback ports; sets MLSERVER_PORT.
mlserver_settings() {
  local gport mport
  MLSERVER_PORT="$(pick_port)"; gport="$(pick_port)"; mport="$(pick_port)"
  cat > "$1/settings.json" <<EOF
{"host": "127.0.0.1", "http_port": $MLSERVER_PORT, "grpc_port": $gport, "metrics_port": $mport,
 "parallel_workers": ${MLSERVER_WORKERS:-0}, "debug": false, "metrics_endpoint": null}
EOF
}

# start_mlserver MODELDIR - MODELDIR holds iris/model.joblib + model-settings.json
# (bench/serve_models.py). parallel_workers=0: inference in the server process
# (one core; MLSERVER_WORKERS overrides). Sets MLSERVER_PORT, MLSERVER_PID, MLSERVER_IMPL.
start_mlserver() {
  local dir="$1"
  ensure_mlserver || return 1
  mlserver_settings "$dir"
  MLSERVER_IMPL="$("$MLSERVER_VENV/bin/python" -c '
import importlib.util as u, mlserver, sklearn
print("mlserver %s sklearn %s loop=%s http=%s" % (mlserver.__version__, sklearn.__version__,
      "uvloop" if u.find_spec("uvloop") else "asyncio", "httptools" if u.find_spec("httptools") else "h11"))') workers=${MLSERVER_WORKERS:-0}"
  start_pinned mlserver "$SERVER_CPU" "$MLSERVER_VENV/bin/mlserver" start "$dir"
  MLSERVER_PID=$STARTED_PID
  wait_ready "http://127.0.0.1:$MLSERVER_PORT/v2/models/iris/ready" "$MLSERVER_PID" 60 || return 1
  blog "MLServer on :$MLSERVER_PORT ($MLSERVER_IMPL), ready after ${READY_MS} ms"
}

# axle gets the same single core as every baseline: one I/O thread (--threads 1)
# and one compute thread; no 5-s drain delay after SIGTERM (benchmarks stop and
# restart it). Any AXLE_* already in the environment wins.
AXLE_ENV=("AXLE_INTRA_OP_THREADS=${AXLE_INTRA_OP_THREADS:-1}" "AXLE_DRAIN_DELAY=${AXLE_DRAIN_DELAY:-0}"
          "AXLE_DRAIN_TIMEOUT=${AXLE_DRAIN_TIMEOUT:-2}")

# start_axle NAME REPO_OR_FILE - `axle serve` on one core. Sets AXLE_PORT, AXLE_PID.
start_axle() {
  local name="$1" repo="$2"
  axle_ok || { blog "$AXLE_BIN serve --help fails: axle server not built"; return 1; }
  AXLE_PORT="$(pick_port)"
  # shellcheck disable=SC2086
  start_pinned "$name" "$SERVER_CPU" env "${AXLE_ENV[@]}" "$AXLE_BIN" serve "$repo" --host 127.0.0.1 \
    --http-port "$AXLE_PORT" --threads 1 --allow-root ${AXLE_ARGS:-}
  AXLE_PID=$STARTED_PID
  wait_ready "http://127.0.0.1:$AXLE_PORT/v2/health/ready" "$AXLE_PID" 10 || {
    blog "axle did not become ready; its log:"; tail -20 "$RUN/$name.log" >&2; return 1; }
  blog "axle on :$AXLE_PORT, ready after ${READY_MS} ms"
}

# write_post_lua FILE BODY_FILE [CONTENT_TYPE] [HEADER_LEN] - a wrk script that
# POSTs the body read from BODY_FILE (binary-safe); with HEADER_LEN it adds
# Inference-Header-Content-Length (Triton's binary tensor extension).
write_post_lua() {
  local f="$1" body="$2" ctype="${3:-application/json}" hlen="${4:-}"
  {
    echo 'wrk.method = "POST"'
    echo "wrk.headers[\"Content-Type\"] = \"$ctype\""
    [ -n "$hlen" ] && echo "wrk.headers[\"Inference-Header-Content-Length\"] = \"$hlen\""
    echo "local fh = assert(io.open(\"$body\", \"rb\"))"
    echo 'wrk.body = fh:read("*a")'
    echo 'fh:close()'
  } > "$f"
}
