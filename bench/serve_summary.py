#!/usr/bin/env python3
"""bench/serve_summary.py - the summary of bench/serve*.sh results.

    serve_summary.py RESULTS.jsonl [...]

Reads the "point" lines (one wrk run each) plus "startup"/"rss"/"check" lines,
prints a per-variant table (medians over rounds) and one row per goal ratio:
the ratio is formed per round (same neighbours, same minute) and reported as
median with min-max. Verdict (PERF.md §3.1): PASS when every round meets the
target, "median" when only the median does, FAIL otherwise. Each ratio row is
also appended to the first file as a JSON line of kind "summary".
Targets: "PERF" = PERF.md §4; "issue" = the serving issue's targets.
"""

import json
import statistics
import sys
from collections import defaultdict

# (goal, label, metric, numerator variant, denominator variant, op, target, source)
#   metric: "rps" | "cpu" (server CPU-µs/request) | "p50" | "p99"
#   op:     "ratio<=" / "ratio>=" on num/den, "diff<=" on num-den,
#           "inv>=" on den/num (x times less CPU)
SPECS = [
    ("G1", "health CPU-µs/req axle/nginx", "cpu", "axle", "nginx", "ratio<=", 0.8, "PERF"),
    ("G1", "health req/s axle/nginx", "rps", "axle", "nginx", "ratio>=", 1.0, "PERF"),
    ("G2", "iris infer CPU-µs/req axle/nginx", "cpu", "axle", "nginx", "ratio<=", 1.0, "PERF"),
    ("G2", "iris infer req/s axle/nginx", "rps", "axle", "nginx", "ratio>=", 0.95, "PERF"),
    ("G2", "iris infer req/s axle/nginx", "rps", "axle", "nginx", "ratio>=", 0.8, "issue"),
    ("G3", "req/s axle/FastAPI", "rps", "axle", "fastapi", "ratio>=", 25, "PERF+issue"),
    ("G3", "CPU-µs/req FastAPI/axle", "cpu", "axle", "fastapi", "inv>=", 25, "PERF"),
    ("G3", "req/s axle/MLServer", "rps", "axle", "mlserver", "ratio>=", 25, "issue"),
    ("G3", "CPU-µs/req MLServer/axle", "cpu", "axle", "mlserver", "inv>=", 25, "issue"),
    ("G4", "c=1 p50 axle-nginx (µs)", "p50", "axle", "nginx", "diff<=", 10, "PERF"),
    ("G4", "c=1 p50 axle-nginx (µs)", "p50", "axle", "nginx", "diff<=", 20, "issue"),
    ("G4", "c=1 p99 axle/nginx", "p99", "axle", "nginx", "ratio<=", 1.25, "PERF"),
    ("G6", "1 MiB req/s binary/JSON", "rps", "binary", "json", "ratio>=", 5, "issue"),
    ("G6", "1 MiB CPU-µs/req JSON/binary", "cpu", "binary", "json", "inv>=", 10, "PERF"),
]
METRIC_KEY = {"rps": "rps", "cpu": "server_cpu_us_per_req", "p50": "p50_us", "p99": "p99_us"}


def load(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            for line in f:
                line = line.strip()
                if line.startswith("{"):
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        pass
    return rows


def value(op, a, b):
    if op.startswith("ratio"):
        return a / b if b else float("nan")
    if op.startswith("diff"):
        return a - b
    return b / a if a else float("nan")   # inv>=


def meets(op, v, t):
    return v <= t if op.endswith("<=") else v >= t


def fmt(v):
    if v != v:
        return "nan"
    if abs(v) >= 1000:
        return "%.0f" % v
    if abs(v) >= 100:
        return "%.1f" % v
    return "%.2f" % v


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rows = load(sys.argv[1:])
    pts = [r for r in rows if r.get("kind") == "point"]
    by = defaultdict(dict)               # (goal, round) -> variant -> point
    per_var = defaultdict(list)          # (goal, variant) -> points
    for p in pts:
        by[(p["goal"], p["round"])][p["variant"]] = p
        per_var[(p["goal"], p["variant"])].append(p)

    out = []
    if per_var:
        out.append("")
        out.append("%-4s %-9s %6s %5s %10s %12s %9s %9s %8s %8s  %s" % (
            "goal", "variant", "conns", "runs", "req/s", "CPU-µs/req", "p50 µs", "p99 µs",
            "srv CPU%", "cli CPU%", "flags"))
        for (g, v), ps in sorted(per_var.items()):
            def med(k):
                return statistics.median(p[k] for p in ps)
            flags = []
            noisy = sum(1 for p in ps if not p.get("quiet", True))
            if noisy:
                flags.append("noisy %d/%d" % (noisy, len(ps)))
            if any(p.get("client_bound") for p in ps):
                flags.append("client-bound")
            err = sum(p.get("non2xx", 0) + p.get("socket_errors", 0) for p in ps)
            if err:
                flags.append("ERRORS %d" % err)
            if any(p.get("correct") is False for p in ps):
                flags.append("WRONG OUTPUT")
            out.append("%-4s %-9s %6s %5d %10s %12s %9s %9s %8s %8s  %s" % (
                g, v, ps[0]["conns"], len(ps), fmt(med("rps")), fmt(med("server_cpu_us_per_req")),
                fmt(med("p50_us")), fmt(med("p99_us")), fmt(med("server_cpu_pct")),
                fmt(med("client_cpu_pct")), ", ".join(flags)))

    summ = []
    lines = []
    for goal, label, metric, num, den, op, target, src in SPECS:
        vals = []
        bad = False
        for (g, r), vs in sorted(by.items()):
            if g != goal or num not in vs or den not in vs:
                continue
            a, b = vs[num][METRIC_KEY[metric]], vs[den][METRIC_KEY[metric]]
            vals.append(value(op, a, b))
            for p in (vs[num], vs[den]):
                if p.get("non2xx", 0) or p.get("socket_errors", 0) or p.get("correct") is False:
                    bad = True
        if not vals:
            continue
        m = statistics.median(vals)
        if bad:
            verdict = "INVALID (errors or wrong outputs)"
        elif all(meets(op, v, target) for v in vals):
            verdict = "PASS"
        elif meets(op, m, target):
            verdict = "median only"
        else:
            verdict = "FAIL"
        tgt = {"ratio<=": "<= %g", "ratio>=": ">= %g", "diff<=": "<= +%g", "inv>=": ">= %gx"}[op] % target
        lines.append("%-4s %-34s %8s  [%s .. %s] n=%d   target %-9s %-10s %s" % (
            goal, label, fmt(m), fmt(min(vals)), fmt(max(vals)), len(vals), tgt, "(%s)" % src, verdict))
        summ.append({"kind": "summary", "goal": goal, "label": label, "source": src, "op": op,
                     "target": target, "median": m, "min": min(vals), "max": max(vals),
                     "rounds": len(vals), "verdict": verdict})

    for r in rows:
        if r.get("kind") in ("startup", "rss"):
            t, unit = r.get("target"), r.get("unit", "")
            v = r.get("median", r.get("value"))
            if v is None:
                continue
            verdict = "n/a" if t is None else ("PASS" if v <= t else "FAIL")
            if r.get("kind") == "startup" and t is not None and r.get("max", v) > t and v <= t:
                verdict = "median only"
            rng = ""
            if "min" in r:
                rng = "[%s .. %s] n=%d" % (fmt(r["min"]), fmt(r["max"]), r.get("n", 0))
            lines.append("%-4s %-34s %8s %s  %s   target %-9s %-10s %s" % (
                r.get("goal", "G13"), "%s %s" % (r.get("variant", ""), r.get("what", r["kind"])),
                fmt(v), unit, rng, "-" if t is None else "<= %g" % t, "(%s)" % r.get("source", "issue"),
                verdict))
    checks = [r for r in rows if r.get("kind") == "check"]
    for c in checks:
        if not c.get("ok"):
            lines.append("CHECK FAILED: %s %s %s" % (c.get("variant", ""), c.get("what"),
                                                     json.dumps({k: v for k, v in c.items()
                                                                 if k not in ("kind",)})[:400]))
    if lines:
        out.append("")
        out.append("goal results: ratios formed per round, median [min .. max]; PASS = every round (every start) meets the target")
        out.extend(lines)
    print("\n".join(out))
    if summ:
        with open(sys.argv[1], "a") as f:
            for s in summ:
                f.write(json.dumps(s) + "\n")


if __name__ == "__main__":
    main()
