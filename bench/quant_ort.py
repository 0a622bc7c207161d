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
compared: both engines requantize exactly, so differences are at most one
quantization step (ties of the float multiplier) times the output scale.

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


def qdq_model(kind, B, K, N, C=0, H=0, W=0):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "xs"),
             numpy_helper.from_array(np.array(128, np.uint8), "xz"),
             numpy_helper.from_array(np.array(0.004, np.float32), "ws"),
             numpy_helper.from_array(np.array(0, np.int8), "wz"),
             numpy_helper.from_array(np.array(0.05, np.float32), "ys"),
             numpy_helper.from_array(np.array(128, np.uint8), "yz")]
    nodes = [helper.make_node("QuantizeLinear", ["x", "xs", "xz"], ["xq"])]
    if kind == "conv":
        w = rng.integers(-127, 128, size=(N, C, 3, 3), dtype=np.int8)
        inits.append(numpy_helper.from_array(w, "w"))
        nodes.append(helper.make_node(
            "QLinearConv", ["xq", "xs", "xz", "w", "ws", "wz", "ys", "yz"],
            ["yq"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]))
        xshape, yshape = [B, C, H, W], [B, N, H, W]
    else:
        w = rng.integers(-127, 128, size=(K, N), dtype=np.int8)
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("axle", nargs="?", default=os.path.join(ROOT, "build", "axle"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    import onnx
    import onnxruntime as ort

    cases = [("matmul", 1, 1024, 1024), ("matmul", 64, 1024, 1024),
             ("matmul", 256, 768, 3072), ("mmint", 64, 1024, 1024),
             ("conv", 1, 0, 64, 64, 56, 56), ("conv", 1, 0, 128, 256, 14, 14)]
    threads = [1, 2]
    rounds = 2 if args.quick else args.rounds
    if args.quick:
        cases = cases[:2] + cases[4:5]
        threads = [1]
    print("# quant_ort: onnxruntime %s, %d rounds" % (ort.__version__, rounds))
    with tempfile.TemporaryDirectory() as d:
        for c in cases:
            kind, B, K, N = c[:4]
            C, H, W = (c[4], c[5], c[6]) if kind == "conv" else (0, 0, 0)
            if kind == "conv":
                C, N = c[3], c[4]
                m, xshape = qdq_model(kind, B, 0, N, C, H, W)
                name = "conv %dx%dx%d -> %d 3x3" % (C, H, W, N)
                macs = B * N * H * W * C * 9
            else:
                m, xshape = qdq_model(kind, B, K, N)
                name = "%s %dx%d x %dx%d" % (kind, B, K, K, N)
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
                diff = float(np.max(np.abs(got - want))) if want.size else 0.0
                engines = [("ort", lambda: time_calls(lambda: sess.run(None, {"x": x}))),
                           ("axle", lambda: ax.time(xnpy, t))]
                res = {"ort": [], "axle": []}
                for order in interleaved(rounds, engines):
                    for nm, fn in order:
                        res[nm].append(fn())
                r = sorted(o / a for o, a in zip(res["ort"], res["axle"]))
                ta, to = float(np.median(res["axle"])), float(np.median(res["ort"]))
                print("%-34s T=%d  axle %9.1f us (%6.1f GMAC/s)  ort %9.1f us  "
                      "ratio ort/axle %.2f (%.2f-%.2f)  max|diff| %.3g"
                      % (name, t, ta * 1e6, macs / ta * 1e-9, to * 1e6,
                         float(np.median(r)), r[0], r[-1], diff))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
