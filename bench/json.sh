#!/bin/sh
# json.sh - the request-path JSON claim in src/serve/json.c's header:
# serve/json.c against jansson 2.14 (json_loadb with JSON_REJECT_DUPLICATES)
# on a ~90-byte V2 iris request and a ~1 MiB V2 request with 262,144
# values, each parsed and its tensor data walked to doubles. Best of 7
# windows, interleaved; see bench/json_bench.c for what each side does.
#
# Builds nothing: it runs build/bench/json_bench (configure with CMake and
# `ninja -C build json_bench` first; needs libjansson-dev).
#
# Usage: bench/json.sh [--quick] [--out FILE.jsonl]
#   JSON_BENCH_BIN=path   use another json_bench binary
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${JSON_BENCH_BIN:-$ROOT/build/bench/json_bench}
QUICK=
JSONL=
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=--quick ;;
    --out) JSONL=$2; shift ;;
    *) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
    esac
    shift
done
if [ ! -x "$BIN" ]; then
    echo "json.sh: $BIN not found; build it with: ninja -C build json_bench" >&2
    exit 1
fi

TMP=$(mktemp)
trap 'rm -f "$TMP"' EXIT
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
     "git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)," \
     "jansson $(pkg-config --modversion jansson 2>/dev/null || echo '?')"
"$BIN" $QUICK >"$TMP"
[ -n "$JSONL" ] && cp "$TMP" "$JSONL"

python3 - "$TMP" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("%-6s %9s %8s | %14s %14s | %9s | %9s %9s" % (
    "input", "bytes", "values", "axle_ns/parse", "jansson_ns", "speedup",
    "axle_MB/s", "jans_MB/s"))
for r in rows:
    print("%-6s %9d %8d | %14.1f %14.1f | %8.2fx | %9.1f %9.1f" % (
        r["input"], r["bytes"], r["values"], r["axle_ns"], r["jansson_ns"],
        r["jansson_over_axle"], r["axle_mb_s"], r["jansson_mb_s"]))
print()
print("ns per parse = parse + walk of inputs/name/datatype/shape/data to doubles;")
print("axle's figure includes a memcpy of the body (it parses in place), jansson's")
print("includes json_decref. speedup = jansson_ns / axle_ns.")
PY
