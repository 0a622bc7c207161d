#!/usr/bin/env python3
"""bench/dw_layers.py - MobileNetV2's depthwise layers one at a time, axle
against ONNX Runtime: each layer as its own one-node model (3x3 depthwise
Conv + Clip(0, 6), random weights), made here into build/bench/dw/, run by
`axle run --repeat` and by ONNX Runtime (ORT_ENABLE_ALL, sequential) in
alternating rounds; medians of per-process p50s and the ratio.

A single-layer model reads a warm input and pays ONNX Runtime's layout
reorders, so these times differ from the same layers inside the model
(`bench/layers.sh` measures those); they isolate the kernel.

    bench/dw_layers.sh [--threads N] [--runs N] [--rounds N] [--quick]
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# name: (channels, input width, stride), as in torchvision's mobilenet_v2
LAYERS = {
    "s1_32_112": (32, 112, 1), "s2_96_112": (96, 112, 2),
    "s1_144_56": (144, 56, 1), "s2_144_56": (144, 56, 2),
    "s1_192_28": (192, 28, 1), "s2_192_28": (192, 28, 2),
    "s1_384_14": (384, 14, 1), "s2_576_14": (576, 14, 2),
    "s1_960_7": (960, 7, 1),
}


def make(outdir):
    import numpy as np
    import onnx
    import onnx.helper as h
    import onnx.numpy_helper as nh
    os.makedirs(outdir, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, (c, w, s) in LAYERS.items():
        path = os.path.join(outdir, name + ".onnx")
        if os.path.exists(path):
            continue
        ow = (w + 2 - 3) // s + 1
        inits = [nh.from_array(rng.standard_normal((c, 1, 3, 3)).astype(np.float32), "w"),
                 nh.from_array(rng.standard_normal(c).astype(np.float32), "b"),
                 nh.from_array(np.array(0, np.float32), "lo"),
                 nh.from_array(np.array(6, np.float32), "hi")]
        nodes = [h.make_node("Conv", ["x", "w", "b"], ["c"], group=c, kernel_shape=[3, 3],
                             pads=[1, 1, 1, 1], strides=[s, s]),
                 h.make_node("Clip", ["c", "lo", "hi"], ["y"])]
        g = h.make_graph(nodes, name, [h.make_tensor_value_info("x", 1, [1, c, w, w])],
                         [h.make_tensor_value_info("y", 1, [1, c, ow, ow])], inits)
        m = h.make_model(g, opset_imports=[h.make_opsetid("", 13)])
        m.ir_version = 8
        np.save(os.path.join(outdir, name + ".npy"),
                rng.standard_normal((1, c, w, w)).astype(np.float32))
        onnx.save(m, path + ".tmp")
        os.replace(path + ".tmp", path)


ORT_CHILD = r"""
import sys, time, numpy as np, onnxruntime as ort
model, inp, threads, runs = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
s = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
x = np.load(inp)
for _ in range(max(10, runs // 10)):
    s.run(None, {"x": x})
lat = []
for _ in range(runs):
    t = time.perf_counter(); s.run(None, {"x": x}); lat.append(time.perf_counter() - t)
lat.sort()
print(lat[len(lat) // 2] * 1e6)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="1 round of 100 runs")
    ap.add_argument("--axle", default=os.environ.get("AXLE_BIN", os.path.join(ROOT, "build", "axle")))
    ap.add_argument("--python", default=sys.executable)
    a = ap.parse_args()
    if a.quick:
        a.rounds, a.runs = 1, 100
    outdir = os.path.join(ROOT, "build", "bench", "dw")
    make(outdir)
    print("# depthwise 3x3 + Clip layers, %d threads, %d rounds x %d runs, %s"
          % (a.threads, a.rounds, a.runs, time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())))
    print("| layer | channels | input | stride | axle p50 us | ORT p50 us | ORT / axle |")
    print("|---|---|---|---|---|---|---|")
    for name, (c, w, s) in LAYERS.items():
        model, inp = os.path.join(outdir, name + ".onnx"), os.path.join(outdir, name + ".npy")
        ax, ort = [], []
        for _ in range(a.rounds):
            out = subprocess.run([a.axle, "run", model, "--input", inp, "--repeat", str(a.runs),
                                  "--threads", str(a.threads)],
                                 capture_output=True, text=True, check=True).stdout
            ax.append(float(re.search(r"latency_us p50=([\d.]+)", out).group(1)))
            out = subprocess.run([a.python, "-c", ORT_CHILD, model, inp, str(a.threads), str(a.runs)],
                                 capture_output=True, text=True, check=True).stdout
            ort.append(float(out.strip().splitlines()[-1]))
        am, om = statistics.median(ax), statistics.median(ort)
        print("| %s | %d | %dx%d | %d | %.1f | %.1f | %.2f |" % (name, c, w, w, s, am, om, om / am))


if __name__ == "__main__":
    main()
