#!/usr/bin/env bash
# bench/replicas.sh - scaling out on one host (issue 5/7): iris inference
# throughput of 1, 2 and 3 `axle serve` replicas behind Debian's nginx
# (examples/nginx/replicas.conf, access log off), beside one replica
# answering directly, and `axle serve --workers 1` against `--workers 2`.
#
#   AXLE_BIN=build/axle bench/replicas.sh [--quick]
#
# The load generator is `axle bench` (closed loop, CONNS connections, one
# generator thread). Nothing is pinned: replicas, nginx and the generator
# share every core of the machine, as they would on one small host, so the
# figures say what extra processes buy on THIS machine (nproc is printed),
# not what extra hosts would. Each replica runs --threads 1; each point is
# the median of ROUNDS runs, the variants interleaved per round.
#
# Environment: AXLE_BIN, ROUNDS (3; --quick 1), DURATION seconds (5;
# --quick 2), CONNS (32).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
AXLE="${AXLE_BIN:-$PWD/build/axle}"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-5}"
CONNS="${CONNS:-32}"
if [ "${1:-}" = "--quick" ]; then ROUNDS=1; DURATION=2; fi
NGINX=/usr/sbin/nginx
[ -x "$NGINX" ] || { echo "replicas: $NGINX missing (make deps)" >&2; exit 1; }
W="$(mktemp -d)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE

mkdir -p "$W/repo/iris/1"
cp examples/models/iris/1/model.onnx "$W/repo/iris/1/"

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ready() {  # ready PORT - poll readiness for up to 20 s
  local i
  for i in $(seq 200); do
    curl -fs -o /dev/null "http://127.0.0.1:$1/v2/health/ready" && return 0
    sleep 0.1
  done
  echo "replicas: nothing ready on port $1" >&2; return 1
}

# start_axle PORT ARGS... - one server in the background; PID in $LAST
start_axle() {
  local port="$1"; shift
  env -u AXLE_HTTP_PORT "$AXLE" serve "$W/repo" --http-port "$port" --threads 1 \
    --allow-root --drain-delay 0 --drain-timeout 2 "$@" 2>>"$W/axle.log" &
  LAST=$!
  PIDS+=("$LAST")
  ready "$port"
}

# start_nginx PORT UPSTREAM_PORTS... - nginx from the example configuration
start_nginx() {
  local port="$1"; shift
  local pfx="$W/nginx-$port" servers="" p
  mkdir -p "$pfx/tmp"
  for p in "$@"; do servers="$servers server 127.0.0.1:$p max_fails=1 fail_timeout=2s;"; done
  sed -e "s|@SERVERS@|$servers|" -e "s|@LISTEN@|127.0.0.1:$port|" \
      -e "s|@ACCESS_LOG@|access_log off;|" -e "s|@TRIES@|$#|" \
      examples/nginx/replicas.conf > "$pfx/nginx.conf"
  "$NGINX" -p "$pfx" -c nginx.conf -e error.log -g "user root;" >/dev/null 2>&1 &
  LAST=$!
  PIDS+=("$LAST")
  ready "$port"
}

measure() {  # measure PORT - requests/s of one closed-loop run
  "$AXLE" bench "http://127.0.0.1:$1" --model iris --concurrency "$CONNS" \
    --duration "$DURATION" --warmup 1 --json --quiet 2>/dev/null |
    /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f %d" % (d["throughput"]["ok_per_s"], d["errors"]["total"]))'
}

echo "replicas: machine $(getconf _NPROCESSORS_ONLN) cores, $(date -u +%FT%TZ), git $(git rev-parse --short HEAD 2>/dev/null), conns=$CONNS duration=${DURATION}s rounds=$ROUNDS"

P1=$(free_port); P2=$(free_port); P3=$(free_port)
start_axle "$P1" || exit 1
start_axle "$P2" || exit 1
start_axle "$P3" || exit 1
N1=$(free_port); N2=$(free_port); N3=$(free_port)
start_nginx "$N1" "$P1" || exit 1
start_nginx "$N2" "$P1" "$P2" || exit 1
start_nginx "$N3" "$P1" "$P2" "$P3" || exit 1
WK1=$(free_port); WK2=$(free_port)
start_axle "$WK1" --workers 1 || exit 1
start_axle "$WK2" --workers 2 || exit 1

declare -A R
VARIANTS="direct nginx-1 nginx-2 nginx-3 workers-1 workers-2"
port_of() {
  case "$1" in
    direct) echo "$P1" ;; nginx-1) echo "$N1" ;; nginx-2) echo "$N2" ;; nginx-3) echo "$N3" ;;
    workers-1) echo "$WK1" ;; workers-2) echo "$WK2" ;;
  esac
}
for r in $(seq "$ROUNDS"); do
  for v in $VARIANTS; do
    read -r rps errs < <(measure "$(port_of "$v")")
    echo "replicas: round $r $v: $rps req/s ($errs errors)"
    R[$v]="${R[$v]:-} $rps"
  done
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for v in $VARIANTS; do
  eval "MED_${v//-/_}=$(echo "${R[$v]}" | med)"
done
printf 'replicas: %-10s %10s %8s\n' variant "req/s" "vs 1"
for v in direct nginx-1 nginx-2 nginx-3; do
  m="MED_${v//-/_}"
  printf 'replicas: %-10s %10s %8s\n' "$v" "${!m}" "$(awk -v a="${!m}" -v b="$MED_nginx_1" 'BEGIN{printf "%.2fx", a/b}')"
done
for v in workers-1 workers-2; do
  m="MED_${v//-/_}"
  printf 'replicas: %-10s %10s %8s\n' "$v" "${!m}" "$(awk -v a="${!m}" -v b="$MED_workers_1" 'BEGIN{printf "%.2fx", a/b}')"
done
