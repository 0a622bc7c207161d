#!/bin/sh
# gemm.sh - G7/G8: axle GEMM vs OpenBLAS 0.3.21 at every core type it can
# select (PERF.md §4). Builds bench/gemm_bench.c with the project's GEMM,
# pool and CPU objects, runs it once per OpenBLAS core type (auto with
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset, then Haswell, SkylakeX,
# Cooperlake, each its own process), and prints for every point the
# speed-up against the *best* core type measured.
#
# Usage: bench/gemm.sh [--quick] [--out FILE.jsonl]
#   BENCH_BIN=path   use an already built gemm_bench (e.g. from CMake)
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT_DIR=${OUT_DIR:-$ROOT/build-gemm-bench}
QUICK=
JSONL=$OUT_DIR/gemm.jsonl
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=--quick ;;
    --out) JSONL=$2; shift ;;
    *) echo "usage: $0 [--quick] [--out FILE]" >&2; exit 2 ;;
    esac
    shift
done
mkdir -p "$OUT_DIR"

BIN=${BENCH_BIN:-}
if [ -z "$BIN" ]; then
    BIN=$OUT_DIR/gemm_bench
    INC="-I$ROOT/include -I$ROOT/src -I/usr/include/x86_64-linux-gnu/openblas-pthread"
    CF="-O2 -g -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter $INC"
    OBJS=
    for f in base/cpu base/pool base/alloc base/err kernels/act kernels/gemm \
             kernels/gemm_avx2 kernels/gemm_avx512; do
        o=$OUT_DIR/$(basename $f).o
        case $f in
        *_avx512) X="-mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma -mf16c" ;;
        *_avx2) X="-mavx2 -mfma -mf16c" ;;
        *) X= ;;
        esac
        gcc $CF $X -c "$ROOT/src/$f.c" -o "$o"
        OBJS="$OBJS $o"
    done
    gcc $CF "$ROOT/bench/gemm_bench.c" $OBJS -o "$BIN" -lopenblas -lpthread -lm
fi

# PERF.md §3.2: 1 s quiet check, busy % of the whole box.
busy_pct() {
    a=$(awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
    sleep 1
    b=$(awk '/^cpu /{print $2+$3+$4+$6+$7+$8, $5}' /proc/stat)
    echo "$a $b" | awk '{bu=$3-$1; id=$4-$2; printf "%.0f", (bu+id) ? 100*bu/(bu+id) : 0}'
}

: >"$JSONL"
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')," \
     "git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)," \
     "OPENBLAS_NUM_THREADS=1 (set in-process)"
for core in auto Haswell SkylakeX Cooperlake; do
    busy=$(busy_pct)
    echo "# run core=$core (box busy before: ${busy}%)"
    if [ "$core" = auto ]; then
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
            "$BIN" $QUICK | sed "s/^{/{\"run\":\"$core\",\"busy_pct\":$busy,/" >>"$JSONL"
    else
        env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=$core OPENBLAS_NUM_THREADS=1 \
            "$BIN" $QUICK | sed "s/^{/{\"run\":\"$core\",\"busy_pct\":$busy,/" >>"$JSONL"
    fi
done

python3 - "$JSONL" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
for r in rows:
    if "probe" in r:
        print("probe", {k: v for k, v in r.items() if k not in ("openblas_config",)})
pts = {}
for r in rows:
    if "point" not in r:
        continue
    key = (r["goal"], r["point"], r["M"], r["N"], r["K"], r["axle"], r["threads"], r["baseline"])
    pts.setdefault(key, []).append(r)
print()
print("%-4s %-17s %5s %5s %5s %-7s %2s %-10s | %9s %7s | %9s %7s %-10s | %7s %13s %10s %s" % (
    "goal", "point", "M", "N", "K", "axle", "T", "baseline", "axle_us", "GF/s",
    "best_us", "GF/s", "best_core", "speedup", "range(runs)", "vs_Haswell", "of_probe"))
for key, rs in pts.items():
    axle_us = min(r["axle_us"] for r in rs)
    best = min(rs, key=lambda r: r["base_us"])
    flop = 2.0 * key[2] * key[3] * key[4]
    sp = [best["base_us"] / r["axle_us"] for r in rs]
    probe = ""
    if "probe_gbs" in best:
        probe = "%.2f" % (key[3] * key[4] * 4 / axle_us * 1e-3 / max(r["probe_gbs"] for r in rs))
    hsw = [r["base_us"] for r in rs if r["core"] == "Haswell"]
    vs_hsw = "%.2f" % (min(hsw) / axle_us) if hsw else ""
    print("%-4s %-17s %5d %5d %5d %-7s %2d %-10s | %9.2f %7.1f | %9.2f %7.1f %-10s | %7.2f %6.2f-%-6.2f %10s %s" % (
        key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
        axle_us, flop / axle_us * 1e-3, best["base_us"], best["base_gflops"],
        best["core"], best["base_us"] / axle_us, min(sp), max(sp), vs_hsw, probe))
    if max(r["max_rel_err"] for r in rs) > 1e-3:
        print("   ^^^ outputs differ: max_rel_err", max(r["max_rel_err"] for r in rs))
print()
print("axle_us / best_us: best of all windows of all processes (best_us at the fastest core type);")
print("speedup = best_us / axle_us; range = best_us over axle's best in each of the", len({r['run'] for r in rows}), "processes;")
print("of_probe = axle's weight bytes/s over the read-bandwidth probe on a buffer of the same size.")
print("T > 1: axle on its pool, OpenBLAS still 1 thread. JSON lines:", sys.argv[1])
EOF
