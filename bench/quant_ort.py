"""quant_ort.py - axle's 8-bit integer operators against ONNX Runtime on the
same quantized models, same rows, same thread count.

Models (built here with onnx.helper, weights from a fixed seed), each the
QOperator form a quantizer exports: float input -> QuantizeLinear (uint8)
-> the integer op with constant int8 weights (per-tensor scale, weight
zero point 0, as onnxruntime.quantization emits by default) ->
DequantizeLinear -> float output:
  matmul  QLinearMatMul  [B, K] x [K, N]
  mmint   MatMulInteger  [B, K] x [K, N] (int32 out, then Cast to float)
  conv    QLinearConv    [1, C, H, W], 3x3 pad 1, M output channels
Engines:
  onnxruntime  InferenceSession, CPUExecutionProvider,
               intra_op_num_threads=T, inter_op_num_threads=1,
               ORT_ENABLE_ALL, sequential; session.run from Python (a few
               us of Python and binding are included: it matters only for
               the smallest cases)
  axle         `axle run MODEL --input X.npy --threads T --repeat N`: the
               median of N timed runs, no process start-up, no model load
               (bench/trees_common.py)
Rounds alternate the engines' order; the ratio is ORT time / axle time
(> 1: axle is faster), median and min-max over rounds. Outputs are
compared with the spec's result computed here in exact integer arithmetic
(numpy): max|err| is the largest absolute difference of each engine's
float output from it. axle's integer sums are exact; ONNX Runtime's AVX2
uint8 x int8 kernel multiplies with vpmaddubsw, whose int16 pair sums
saturate when both products are large, so with full-range int8 weights its
outputs can be off by many quantization steps (its docs advise 7-bit
weights, reduce_range, on such CPUs); the uint8-weight cases are exact in
both.

    .venv/bin/python bench/quant_ort.py [AXLE_BINARY] [--quick] [--rounds N]
"""
import argparse
import os
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from trees_common import Axle, interleaved, time_calls  # noqa: E402


def wgen(rng, shape, wdt):
    if wdt == "s8":
        return rng.integers(-127, 128, size=shape, dtype=np.int8)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


def qdq_model(kind, B, K, N, C=0, H=0, W=0, wdt="s8"):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "xs"),
             numpy_helper.from_array(np.array(128, np.uint8), "xz"),
             numpy_helper.from_array(np.array(0.004, np.float32), "ws"),
             numpy_helper.from_array(np.array(0, np.int8) if wdt == "s8"
                                     else np.array(128, np.uint8), "wz"),
             numpy_helper.from_array(np.array(0.05, np.float32), "ys"),
             numpy_helper.from_array(np.array(128, np.uint8), "yz")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"])]
    if kind == "conv":
        w = wgen(rng, (N, C, 3, 3), wdt)
        inits.append(numpy_helper.from_array(w, "w"))
        nodes.append(helper.make_node(
            "QLinearConv", ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
            ["yq"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
        xshape, yshape = [B, C, H, W], [B, N, H, W]
    else:
        w = wgen(rng, (K, N), wdt)
        inits.append(numpy_helper.from_array(w, "w"))
        xshape, yshape = [B, K], [B, N]
        if kind == "matmul":
            nodes.append(helper.make_node(
                "QLinearMatMul", ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
                ["yq"]))
        else:
            nodes.append(helper.make_node("MatMulInteger", ["xq", "w", "xz", "wz"],
                                          ["yi"]))
            nodes.append(helper.make_node("Cast", ["yi"], ["y"],
                                          to=TensorProto.FLOAT))
    if kind != "mmint":
        nodes.append(helper.make_node("DequantizeLinear", ["yq", "ys", "yz"], ["y"]))
    graph = helper.make_graph(
        nodes, kind, [helper.make_tensor_value_info("x", TensorProto.FLOAT, xshape)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, yshape)], inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m, xshape


def exact(kind, m, x):
    """The spec's result in exact integer arithmetic (numpy)."""
    from onnx import numpy_helper
    v = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    f32 = np.float32
    xq = np.clip(np.rint(x / v["xs"]) + f32(v["xz"]), 0, 255).astype(np.int64)
    w = v["w"].astype(np.int64) - int(v["wz"])
    xz = int(v["xz"])
    if kind == "conv":
        xp = np.pad(xq - xz, ((0, 0), (0, 0), (1, 1), (1, 1)))
        win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(2, 3))
        acc = np.einsum("bchwij,mcij->bmhw", win, w, optimize=True)
    else:
        acc = (xq - xz) @ w
    if kind == "mmint":
        return acc.astype(np.float32)
    mult = f32(v["xs"]) * f32(v["ws"]) / f32(v["ys"])
    yz = f32(v["yz"])
    q = np.clip(np.rint(acc.astype(np.float32) * mult) + yz, 0, 255)
    return ((q - yz) * f32(v["ys"])).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("axle", nargs="?", default=os.path.join(ROOT, "build", "axle"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    import onnx
    import onnxruntime as ort

    # (kind, weight type, B, K, N) or ("conv", weight type, B, C, M, H, W)
    cases = [("matmul", "s8", 1, 1024, 1024), ("matmul", "s8", 64, 1024, 1024),
             ("matmul", "u8", 64, 1024, 1024), ("matmul", "s8", 256, 768, 3072),
             ("mmint", "s8", 64, 1024, 1024),
             ("conv", "s8", 1, 64, 64, 56, 56), ("conv", "u8", 1, 64, 64, 56, 56),
             ("conv", "s8", 1, 256, 256, 14, 14)]
    threads = [1, 2]
    rounds = 2 if args.quick else args.rounds
    if args.quick:
        cases = cases[:3] + cases[5:7]
        threads = [1]
    print("# quant_ort: onnxruntime %s, %d rounds" % (ort.__version__, rounds))
    with tempfile.TemporaryDirectory() as d:
        for c in cases:
            kind, wdt = c[:2]
            if kind == "conv":
                B, C, N, H, W = c[2:]
                m, xshape = qdq_model(kind, B, 0, N, C, H, W, wdt)
                name = "conv %s %dx%dx%d -> %d 3x3" % (wdt, C, H, W, N)
                macs = B * N * H * W * C * 9
            else:
                B, K, N = c[2:]
                m, xshape = qdq_model(kind, B, K, N, wdt=wdt)
                name = "%s %s %dx%d x %dx%d" % (kind, wdt, B, K, K, N)
                macs = B * K * N
            path = os.path.join(d, "%s_%d.onnx" % (kind, len(os.listdir(d))))
            onnx.save(m, path)
            x = np.random.default_rng(3).uniform(-2.5, 2.5, xshape).astype(np.float32)
            xnpy = os.path.join(d, "x.npy")
            np.save(xnpy, x)
            ax = Axle(args.axle, path)
            for t in threads:
                so = ort.SessionOptions()
                so.intra_op_num_threads = t
                so.inter_op_num_threads = 1
                so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
                so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
                want = sess.run(None, {"x": x})[0]
                got = ax.outputs(xnpy, t)["y"]
                ref = exact(kind, m, x)
                d_ax = float(np.max(np.abs(got - ref)))
                d_ort = float(np.max(np.abs(want - ref)))
                engines = [("ort", lambda: time_calls(lambda: sess.run(None, {"x": x}))),
                           ("axle", lambda: ax.time(xnpy, t))]
                res = {"ort": [], "axle": []}
                for order in interleaved(rounds, engines):
                    for nm, fn in order:
                        res[nm].append(fn())
                r = sorted(o / a for o, a in zip(res["ort"], res["axle"]))
                ta, to = float(np.median(res["axle"])), float(np.median(res["ort"]))
                print("%-34s T=%d  axle %9.1f us (%6.1f GMAC/s)  ort %9.1f us  "
                      "ratio ort/axle %.2f (%.2f-%.2f)  max|err| axle %.3g ort %.3g"
                      % (name, t, ta * 1e6, macs / ta * 1e-9, to * 1e6,
                         float(np.median(r)), r[0], r[-1], d_ax, d_ort))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
