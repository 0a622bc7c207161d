#!/usr/bin/env python3
"""bench/batching.py - PERF.md G11 (dynamic batching pays, without hurting
latency) and issue 3/7's overload test, with `axle bench` as the client.

    .venv/bin/python bench/batching.py [--quick] [--models mlp,mlp_dram,resnet18]
                                       [--rounds N] [--duration S] [--overload-model M]
                                       [--skip-overload] [--out PREFIX]

G11, per model, the same `axle serve` binary and model in two configurations
started one after the other (never both at once: they would share the two
cores):
  off: max_batch_size 32, every request its own execution
  on:  the same plus dynamic_batching (max_queue_delay per model below)
Both: one instance with all cores, no queue timeout, a queue of 4096, inline
runs off (so the two differ only in batching). Per round and configuration:
  closed loop, 32 connections  -> throughput          (target on/off: mlp >= 2,
                                                        mlp_dram >= 6, resnet18 >= 1.15)
  closed loop, 1 connection    -> p50                 (on <= off + 5 us)
  open loop at 70 % of the off configuration's closed-loop throughput
                               -> p99                 (on <= off)
Requests use the binary tensor extension (v2-binary) with batch-1 inputs from
build/models/<model>/b1/input_0.npy.

Overload (issue 3/7), one model with batching on, max_queue_size 64 and two
instances of one thread each (a preempted thread of a two-thread execution
stalls the whole execution when the load generator and the rejections
compete for the same two cores):
  capacity C = closed-loop throughput at 32 connections;
  baseline: open loop at 0.7 C -> p99_70;
  overload: open loop at 4 C  -> admitted p99 <= 3 x p99_70, 503s answered
            with a median <= 1 ms, no 500s, no connection errors, 200s >= 0.9 C;
  recovery: open loop at 0.7 C right after, for 5 s -> p99 back near p99_70.

JSON lines go to stdout and PREFIX.jsonl; a Markdown summary is printed last
and saved as PREFIX.md. AXLE_BIN overrides the binary (default build/axle).
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AXLE = os.environ.get("AXLE_BIN") or os.path.join(ROOT, "build", "axle")
MODELS = os.path.join(ROOT, "build", "models")

# Per model: queue delay for the "on" configuration (us), run length scale.
DELAY_US = {"mlp": 500, "mlp_dram": 2000, "resnet18": 2000}
TARGET = {"mlp": 2.0, "mlp_dram": 6.0, "resnet18": 1.15}
STRETCH = {"mlp_dram": 8.0}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def clean_env():
    e = {k: v for k, v in os.environ.items()
         if not k.startswith("AXLE_") and k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return e


class Server:
    def __init__(self, repo, extra=()):
        self.err = tempfile.NamedTemporaryFile(prefix="axle-batching-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [AXLE, "serve", repo, "--http-port", "0", "--allow-root", "--drain-delay", "0",
             *extra], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.err,
            env=clean_env())
        self.port = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and self.port is None:
            with open(self.err.name) as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if ev.get("event") == "listening":
                        self.port = int(ev["detail"].split()[0].rsplit(":", 1)[1])
                    if ev.get("event") == "load_failed":
                        raise RuntimeError("load failed: %s" % line)
            if self.proc.poll() is not None:
                raise RuntimeError("axle serve exited: %s" % open(self.err.name).read())
            time.sleep(0.02)
        # Ready once the ready line is logged.
        while time.monotonic() < deadline:
            if '"event":"ready"' in open(self.err.name).read().replace(" ", ""):
                break
            time.sleep(0.02)
        self.url = "http://127.0.0.1:%d" % self.port

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.err.name)


def bench(url, model, inp, *args):
    cmd = [AXLE, "bench", url, "--model", model, "--input", inp, "--protocol", "v2-binary",
           "--json", "--quiet", *[str(a) for a in args]]
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       env=clean_env(), timeout=600)
    if p.returncode != 0:
        raise RuntimeError("axle bench failed: %s\n%s" % (" ".join(cmd), p.stderr[-2000:]))
    return json.loads(p.stdout)


def make_repo(tmp, name, model, cfg):
    d = os.path.join(tmp, name, model, "1")
    os.makedirs(d)
    shutil.copyfile(os.path.join(MODELS, model, "model.onnx"), os.path.join(d, "model.onnx"))
    with open(os.path.join(tmp, name, model, "config.json"), "w") as f:
        json.dump(cfg, f)
    return os.path.join(tmp, name)


def base_cfg(model):
    return {"max_batch_size": 32, "max_queue_size": 4096, "queue_timeout_microseconds": 0,
            "inline_max_microseconds": 0}


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def emit(out, rec):
    line = json.dumps(rec)
    print(line, flush=True)
    out.write(line + "\n")
    out.flush()


def g11(args, out, tmp, model):
    inp = os.path.join(MODELS, model, "b1", "input_0.npy")
    repos = {"off": make_repo(tmp, "off-" + model, model, base_cfg(model)),
             "on": make_repo(tmp, "on-" + model, model, dict(
                 base_cfg(model),
                 dynamic_batching={"max_queue_delay_microseconds": DELAY_US[model]}))}
    d = args.duration
    res = {k: {"tput": [], "p50_c1": [], "p99_open": [], "ok_open": []} for k in repos}
    for rnd in range(args.rounds):
        # Closed loop first (the open-loop rate is derived from "off").
        for cfg in ("off", "on") if rnd % 2 == 0 else ("on", "off"):
            srv = Server(repos[cfg])
            try:
                bench(srv.url, model, inp, "--concurrency", 32, "--duration", 1)  # warm
                r32 = bench(srv.url, model, inp, "--concurrency", 32, "--duration", d)
                r1 = bench(srv.url, model, inp, "--concurrency", 1, "--duration", d)
            finally:
                srv.stop()
            res[cfg]["tput"].append(r32["throughput"]["ok_per_s"])
            res[cfg]["p50_c1"].append(r1["latency_us"]["p50"])
            emit(out, {"bench": "g11", "model": model, "round": rnd, "config": cfg,
                       "c32_ok_per_s": r32["throughput"]["ok_per_s"],
                       "c32_p99_us": r32["latency_us"]["p99"],
                       "c32_errors": r32["errors"]["total"], "c32_status": r32["status"],
                       "c1_p50_us": r1["latency_us"]["p50"], "c1_p99_us": r1["latency_us"]["p99"]})
        rate = 0.7 * med(res["off"]["tput"])
        for cfg in ("off", "on") if rnd % 2 == 0 else ("on", "off"):
            srv = Server(repos[cfg])
            try:
                bench(srv.url, model, inp, "--concurrency", 8, "--duration", 1)  # warm
                ro = bench(srv.url, model, inp, "--rate", "%.1f" % rate, "--duration", d,
                           "--connections", 256)
            finally:
                srv.stop()
            res[cfg]["p99_open"].append(ro["latency_us"]["p99"])
            res[cfg]["ok_open"].append(ro["ok"])
            emit(out, {"bench": "g11-open", "model": model, "round": rnd, "config": cfg,
                       "rate": rate, "ok": ro["ok"], "scheduled": ro["scheduled"],
                       "late_sends": ro["late_sends"], "p50_us": ro["latency_us"]["p50"],
                       "p99_us": ro["latency_us"]["p99"], "errors": ro["errors"]["total"],
                       "status": ro["status"]})
    ratios = [a / b for a, b in zip(res["on"]["tput"], res["off"]["tput"])]
    summary = {
        "bench": "g11-summary", "model": model, "delay_us": DELAY_US[model],
        "tput_off": med(res["off"]["tput"]), "tput_on": med(res["on"]["tput"]),
        "tput_ratio": med(ratios), "tput_ratio_min": min(ratios), "tput_ratio_max": max(ratios),
        "target": TARGET[model],
        "p50_c1_off": med(res["off"]["p50_c1"]), "p50_c1_on": med(res["on"]["p50_c1"]),
        "p99_open_off": med(res["off"]["p99_open"]), "p99_open_on": med(res["on"]["p99_open"]),
        "open_rate": 0.7 * med(res["off"]["tput"]),
    }
    summary["p50_c1_delta_us"] = summary["p50_c1_on"] - summary["p50_c1_off"]
    emit(out, summary)
    return summary


def overload(args, out, tmp, model):
    inp = os.path.join(MODELS, model, "b1", "input_0.npy")
    cfg = dict(base_cfg(model), max_queue_size=64, instance_count=args.overload_instances,
               dynamic_batching={"max_queue_delay_microseconds": DELAY_US[model]})
    repo = make_repo(tmp, "overload-" + model, model, cfg)
    d = args.duration
    srv = Server(repo)
    try:
        bench(srv.url, model, inp, "--concurrency", 32, "--duration", 1)
        cap = bench(srv.url, model, inp, "--concurrency", 32, "--duration", d)
        C = cap["throughput"]["ok_per_s"]
        base = bench(srv.url, model, inp, "--rate", "%.1f" % (0.7 * C), "--duration", d,
                     "--connections", 256)
        over = bench(srv.url, model, inp, "--rate", "%.1f" % (4 * C), "--duration", 2 * d,
                     "--connections", 1024, "--threads", 1)
        after = bench(srv.url, model, inp, "--rate", "%.1f" % (0.7 * C), "--duration", 5,
                      "--connections", 256)
    finally:
        srv.stop()
    st = over["status"]
    rec = {
        "bench": "overload", "model": model, "capacity_ok_per_s": C,
        "p99_70_us": base["latency_us"]["p99"],
        "over_rate": 4 * C, "over_ok_per_s": over["throughput"]["ok_per_s"],
        "over_ok_frac_of_capacity": over["throughput"]["ok_per_s"] / C,
        "over_p99_us": over["latency_us"]["p99"],
        "over_p99_ratio": over["latency_us"]["p99"] / base["latency_us"]["p99"],
        "over_503": st.get("503", 0), "over_500": st.get("500", 0),
        "over_other_status": {k: v for k, v in st.items() if k not in ("200", "503")},
        "over_503_p50_us": over["latency_other_us"]["p50"],
        "over_errors": over["errors"],
        "over_late_sends": over["late_sends"], "over_scheduled": over["scheduled"],
        "after_p99_us": after["latency_us"]["p99"],
        "after_p99_ratio": after["latency_us"]["p99"] / base["latency_us"]["p99"],
        "after_ok_per_s": after["throughput"]["ok_per_s"],
        "after_errors": after["errors"]["total"], "after_status": after["status"],
    }
    emit(out, rec)
    return rec


def verdict(ok):
    return "pass" if ok else "**not met**"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--models", default="mlp,mlp_dram,resnet18")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--duration", type=float, default=None)
    ap.add_argument("--overload-model", default="mlp_dram")
    ap.add_argument("--overload-instances", type=int, default=2)
    ap.add_argument("--skip-overload", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.duration is None:
        args.duration = 3 if args.quick else 6
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    prefix = args.out or os.path.join(ROOT, "build", "bench", "batching-" + stamp)
    os.makedirs(os.path.dirname(prefix), exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="axle-batching-")
    lines = []
    try:
        with open(prefix + ".jsonl", "w") as out:
            rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                 capture_output=True, text=True).stdout.strip()
            emit(out, {"bench": "meta", "axle": AXLE, "rev": rev, "date": stamp,
                       "cpus": os.cpu_count(), "rounds": args.rounds, "duration": args.duration})
            sums = []
            for m in [x for x in args.models.split(",") if x]:
                log("batching.py: G11 %s" % m)
                sums.append(g11(args, out, tmp, m))
            ov = None
            if not args.skip_overload:
                log("batching.py: overload %s" % args.overload_model)
                ov = overload(args, out, tmp, args.overload_model)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines.append("G11 and overload, %d round(s) of %g s per point, commit %s, %s" % (
        args.rounds, args.duration, rev, stamp))
    lines.append("")
    lines.append("| model | c=32 req/s off → on | on ÷ off [min..max] | target | c=1 p50 off / on (Δ) | "
                 "open loop at 70 % of off: p99 off / on |")
    lines.append("|---|---|---|---|---|---|")
    for s in sums:
        lines.append("| %s (delay %d µs) | %.0f → %.0f | **%.2f** [%.2f..%.2f] | ≥ %g: %s | "
                     "%.0f / %.0f µs (%+.0f µs: %s) | %.0f / %.0f µs at %.0f req/s: %s |" % (
                         s["model"], s["delay_us"], s["tput_off"], s["tput_on"], s["tput_ratio"],
                         s["tput_ratio_min"], s["tput_ratio_max"], s["target"],
                         verdict(s["tput_ratio"] >= s["target"]), s["p50_c1_off"], s["p50_c1_on"],
                         s["p50_c1_delta_us"], verdict(s["p50_c1_delta_us"] <= 5),
                         s["p99_open_off"], s["p99_open_on"], s["open_rate"],
                         verdict(s["p99_open_on"] <= s["p99_open_off"])))
    if ov:
        lines.append("")
        lines.append("Overload (%s, batching on, max_queue_size 64, %d instances): capacity %.0f req/s" % (
            ov["model"], args.overload_instances, ov["capacity_ok_per_s"]))
        lines.append("")
        lines.append("| at 4× capacity | measured | target | |")
        lines.append("|---|---|---|---|")
        lines.append("| admitted p99 ÷ p99 at 70 %% | %.2f (%.0f / %.0f µs) | ≤ 3 | %s |" % (
            ov["over_p99_ratio"], ov["over_p99_us"], ov["p99_70_us"],
            verdict(ov["over_p99_ratio"] <= 3)))
        lines.append("| 503 + Retry-After, median answer | %d answers, p50 %.0f µs | ≤ 1 ms | %s |" % (
            ov["over_503"], ov["over_503_p50_us"], verdict(ov["over_503_p50_us"] <= 1000)))
        lines.append("| 500s / connection errors | %d / %d | 0 / 0 | %s |" % (
            ov["over_500"], ov["over_errors"]["total"],
            verdict(ov["over_500"] == 0 and ov["over_errors"]["total"] == 0)))
        lines.append("| successful throughput ÷ capacity | %.2f | ≥ 0.9 | %s |" % (
            ov["over_ok_frac_of_capacity"], verdict(ov["over_ok_frac_of_capacity"] >= 0.9)))
        lines.append("| the 5 s after: p99 ÷ p99 at 70 %% | %.2f, errors %d | back to normal | %s |" % (
            ov["after_p99_ratio"], ov["after_errors"],
            verdict(ov["after_p99_ratio"] <= 1.5 and ov["after_errors"] == 0)))
    text = "\n".join(lines) + "\n"
    with open(prefix + ".md", "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
