#!/usr/bin/env python3
"""bench/layers.py - where a CNN's time goes, layer by layer, axle against
ONNX Runtime on the same .onnx file, input and thread count.

axle's side is `axle run --node-times` (medians per node of the optimized
graph); ONNX Runtime's is its own profiler (SessionOptions.enable_profiling,
the `*_kernel_time` events, ORT_ENABLE_ALL, sequential execution), whose
per-node timing adds a little overhead of its own. The two engines fuse
differently, so only convolutions are paired: the k-th Conv of one with the
k-th Conv of the other (the layers match one to one in CNNs such as
ResNet-18 and MobileNetV2, where both fold BatchNorm and fuse the
activation). Everything else is summed per operator. The rounds alternate
the two engines in separate processes and the table shows medians over the
rounds of each side's per-node medians.

    bench/layers.sh MODEL.onnx INPUT.npy [--threads N] [--runs N] [--rounds N] [--quick]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONV_OPS = ("Conv", "FusedConv", "NchwcConv")
ROW = re.compile(r"^\s*(\d+) (\S+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)%\s+(\S+)\s*(.*)$")


def axle_side(axle, model, inp, threads, runs):
    out = subprocess.run([axle, "run", model, "--input", inp, "--repeat", str(runs),
                          "--threads", str(threads), "--node-times"],
                         capture_output=True, text=True, check=True).stdout
    nodes = []
    for line in out.splitlines():
        m = ROW.match(line)
        if m:
            nodes.append((m.group(2), float(m.group(3)), m.group(6)))
    lat = float(re.search(r"latency_us p50=([\d.]+)", out).group(1))
    return nodes, lat


ORT_CHILD = r"""
import json, sys, time, statistics, numpy as np, onnxruntime as ort
model, inp, threads, runs, prefix = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
so.enable_profiling = True
so.profile_file_prefix = prefix
s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
x = np.load(inp)
feed = {s.get_inputs()[0].name: x}
warm = max(5, runs // 10)
for _ in range(warm):
    s.run(None, feed)
lat = []
for _ in range(runs):
    t = time.perf_counter(); s.run(None, feed); lat.append(time.perf_counter() - t)
path = s.end_profiling()
per = {}
order = []
for e in json.load(open(path)):
    if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
        name = e["name"][:-len("_kernel_time")]
        if name not in per:
            per[name] = (e["args"].get("op_name", ""), [])
            order.append(name)
        per[name][1].append(e["dur"])
import os
os.remove(path)
nodes = [(per[n][0], statistics.median(per[n][1][-runs:]), n) for n in order]
print(json.dumps({"nodes": nodes, "lat_us": statistics.median(lat) * 1e6}))
"""


def ort_side(py, model, inp, threads, runs, tmp):
    out = subprocess.run([py, "-c", ORT_CHILD, model, inp, str(threads), str(runs),
                          os.path.join(tmp, "ort")],
                         capture_output=True, text=True, check=True).stdout
    d = json.loads(out.strip().splitlines()[-1])
    return [tuple(n) for n in d["nodes"]], d["lat_us"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("input")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 round of 100 runs")
    ap.add_argument("--axle", default=os.environ.get("AXLE_BIN", os.path.join(ROOT, "build", "axle")))
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.runs = 1, 100

    ax_rounds, ort_rounds = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(a.rounds):
            ax_rounds.append(axle_side(a.axle, a.model, a.input, a.threads, a.runs))
            ort_rounds.append(ort_side(a.python, a.model, a.input, a.threads, a.runs, tmp))

    def med_nodes(rounds):
        first = rounds[0][0]
        return [(first[i][0], statistics.median(r[0][i][1] for r in rounds), first[i][2])
                for i in range(len(first))]

    ax, orn = med_nodes(ax_rounds), med_nodes(ort_rounds)
    ax_lat = statistics.median(r[1] for r in ax_rounds)
    ort_lat = statistics.median(r[1] for r in ort_rounds)
    ax_conv = [n for n in ax if n[0].split("+")[0] in CONV_OPS]
    ort_conv = [n for n in orn if n[0] in CONV_OPS]
    label = os.path.join(os.path.basename(os.path.dirname(os.path.abspath(a.model))),
                         os.path.basename(a.model))
    print("# %s, %d threads, %d rounds x %d runs" % (label, a.threads, a.rounds, a.runs))
    print("# whole run p50: axle %.1f us, ONNX Runtime (profiling) %.1f us, ORT / axle %.2f"
          % (ax_lat, ort_lat, ort_lat / ax_lat))
    if len(ax_conv) != len(ort_conv):
        print("# convolutions differ in number (axle %d, ORT %d): pairing the first %d"
              % (len(ax_conv), len(ort_conv), min(len(ax_conv), len(ort_conv))))
    print("| conv | axle op | output | axle us | ORT us | ORT / axle |")
    print("|---|---|---|---|---|---|")
    ta = to = 0.0
    for i, (x, o) in enumerate(zip(ax_conv, ort_conv)):
        ta += x[1]
        to += o[1]
        print("| %d | %s | %s | %.1f | %.1f | %.2f |" % (i, x[0], x[2], x[1], o[1], o[1] / x[1] if x[1] else 0))
    print("| all | | | %.1f | %.1f | %.2f |" % (ta, to, to / ta if ta else 0))

    def by_op(nodes, skip):
        agg = {}
        for op, us, _ in nodes:
            if op.split("+")[0] in skip:
                continue
            agg[op] = agg.get(op, 0.0) + us
        return agg

    print("# other nodes, axle: " + ", ".join("%s %.1f us" % kv for kv in sorted(by_op(ax, CONV_OPS).items())))
    print("# other nodes, ORT: " + ", ".join("%s %.1f us" % kv for kv in sorted(by_op(orn, CONV_OPS).items())))


if __name__ == "__main__":
    main()
