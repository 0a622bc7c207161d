"""Reductions, normalizations, pools and losses against ONNX Runtime (or a
numpy reference where ONNX Runtime lacks the kernel) on attribute
combinations and dtypes that onnx 1.12's conformance data does not cover:
LpPool (opsets 2, 11, 18: pads, auto_pad, dilations, ceil_mode, p),
GlobalLpPool, LpNormalization, ReduceL1/SumSquare/LogSum/LogSumExp with
axes as attribute and as input (opset 18, noop_with_empty_axes), CumSum on
every axis and integer types, Hardmax before and from 13, MVN axes, LRN
with even sizes, Det in float64, and both losses in float32/float64 with
weights, ignore_index and int32 targets.

Each case is written as an ONNX backend-test directory (model.onnx plus
test_data_set_0) under a temporary folder and run through the conformance
runner, which compares with rtol 1e-3, atol 1e-7.

Run: .venv/bin/python -m pytest tests/e2e/test_reduce_ops_vs_onnxruntime.py
(after building tests/onnx_conformance).
Environment: AXLE_CONFORMANCE_BIN (default build/tests/onnx_conformance).
"""

import math
import os
import re
import subprocess

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto as T  # noqa: E402
from onnx import helper as h  # noqa: E402
from onnx import numpy_helper as nh  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNNER = os.environ.get("AXLE_CONFORMANCE_BIN") or os.path.join(
    ROOT, "build", "tests", "onnx_conformance")

TYPES = {"float32": T.FLOAT, "float64": T.DOUBLE, "int32": T.INT32,
         "int64": T.INT64, "uint32": T.UINT32}


def ttype(a):
    return TYPES[np.dtype(a.dtype).name]


class Writer:
    def __init__(self, root):
        self.root = root
        self.names = []

    def _save(self, name, model, inputs, outputs):
        d = os.path.join(self.root, "node", "test_" + name)
        os.makedirs(os.path.join(d, "test_data_set_0"))
        onnx.save(model, os.path.join(d, "model.onnx"))
        for j, (n, a) in enumerate(inputs):
            with open(os.path.join(d, "test_data_set_0", "input_%d.pb" % j), "wb") as f:
                f.write(nh.from_array(a, n).SerializeToString())
        for j, (n, a) in enumerate(outputs):
            with open(os.path.join(d, "test_data_set_0", "output_%d.pb" % j), "wb") as f:
                f.write(nh.from_array(np.asarray(a), n).SerializeToString())
        self.names.append("test_" + name)

    def _model(self, op, inputs, outs, attrs, opset, out_arrays=None):
        names = ["i%d" % j for j in range(len(inputs))]
        node = h.make_node(op, names, outs, **attrs)
        ins = [h.make_tensor_value_info(n, ttype(a), a.shape) for n, a in zip(names, inputs)]
        if out_arrays is None:
            ous = [h.make_tensor_value_info(o, ttype(inputs[0]), None) for o in outs]
        else:
            ous = [h.make_tensor_value_info(o, ttype(a), a.shape)
                   for o, a in zip(outs, out_arrays)]
        m = h.make_model(h.make_graph([node], "g", ins, ous),
                         opset_imports=[h.make_opsetid("", opset)])
        m.ir_version = 8
        return m, list(zip(names, inputs))

    def ort_case(self, name, op, inputs, attrs=None, opset=13, n_out=1):
        outs = ["o%d" % j for j in range(n_out)]
        m, ins = self._model(op, inputs, outs, attrs or {}, opset)
        sess = ort.InferenceSession(m.SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        res = sess.run(None, dict(ins))
        for o, r in zip(m.graph.output, res):
            o.CopyFrom(h.make_tensor_value_info(o.name, ttype(r), r.shape))
        self._save(name, m, ins, list(zip(outs, res)))

    def np_case(self, name, op, inputs, outputs, attrs=None, opset=13):
        outs = ["o%d" % j for j in range(len(outputs))]
        m, ins = self._model(op, inputs, outs, attrs or {}, opset, outputs)
        self._save(name, m, ins, list(zip(outs, outputs)))


def lrn_ref(x, size, alpha, beta, bias):
    c_n = x.shape[1]
    sq = np.zeros_like(x)
    for c in range(c_n):
        lo = max(0, c - (size - 1) // 2)
        hi = min(c_n, c + int(math.ceil((size - 1) / 2)) + 1)
        sq[:, c] = (x[:, lo:hi] ** 2).sum(axis=1)
    return (x / (bias + alpha / size * sq) ** beta).astype(x.dtype)


def build(w):
    rng = np.random.default_rng(0)

    def f32(*s):
        return rng.standard_normal(s).astype(np.float32)

    # LpPool / GlobalLpPool
    x = f32(2, 3, 9, 11)
    for op in (11, 18):
        w.ort_case("lppool_p3_pads_o%d" % op, "LpPool", [x],
                   dict(kernel_shape=[3, 2], strides=[2, 3], pads=[1, 0, 2, 1], p=3), op)
        w.ort_case("lppool_same_upper_o%d" % op, "LpPool", [x],
                   dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"), op)
        w.ort_case("lppool_1d_p1_o%d" % op, "LpPool", [f32(2, 3, 10)],
                   dict(kernel_shape=[3], p=1), op)
        w.ort_case("lppool_3d_o%d" % op, "LpPool", [f32(1, 2, 4, 5, 6)],
                   dict(kernel_shape=[2, 2, 2]), op)
    w.ort_case("lppool_dilations_ceil_o18", "LpPool", [x],
               dict(kernel_shape=[2, 2], strides=[2, 2], dilations=[2, 1], ceil_mode=1), 18)
    w.ort_case("lppool_o2", "LpPool", [x], dict(kernel_shape=[2, 2]), 2)
    w.ort_case("globallppool_p3", "GlobalLpPool", [x], dict(p=3), 2)
    w.ort_case("globallppool_default_1d", "GlobalLpPool", [f32(2, 4, 5)], {}, 2)
    xd = x.astype(np.float64)
    w.np_case("globallppool_f64_p1", "GlobalLpPool", [xd],
              [np.abs(xd).sum(axis=(2, 3), keepdims=True)], dict(p=1), 2)
    xs = f32(2, 3, 5)
    w.np_case("globallppool_o1_float_p", "GlobalLpPool", [xs],
              [((np.abs(xs) ** 1.5).sum(axis=2, keepdims=True) ** (1 / 1.5)).astype(np.float32)],
              dict(p=1.5), 1)

    # LpNormalization (a zero row included)
    z = f32(3, 4, 5)
    z[1, :, 2] = 0
    for ax in (0, 1, -1):
        for p in (1, 2):
            w.ort_case("lpnorm_axis%s_p%d" % (str(ax).replace("-", "m"), p),
                       "LpNormalization", [z], dict(axis=ax, p=p))
    w.ort_case("lpnorm_default_f64", "LpNormalization", [z.astype(np.float64)])

    # new reductions: large values (LogSumExp must not overflow)
    big = (f32(3, 4, 5) * 50).astype(np.float32)
    big[0, 0, 0] = 200
    for r in ("ReduceLogSumExp", "ReduceL1", "ReduceSumSquare", "ReduceLogSum"):
        xx = np.abs(big) if r == "ReduceLogSum" else big
        w.ort_case(r + "_axes1_o13", r, [xx], dict(axes=[1]))
        w.ort_case(r + "_f64_o13", r, [xx.astype(np.float64)], dict(axes=[0, 2]))
        w.ort_case(r + "_inner_o13", r, [xx], dict(axes=[2], keepdims=0))
        w.ort_case(r + "_axes_input_o18", r, [xx, np.array([0, 2], np.int64)],
                   dict(keepdims=0), 18)
        w.ort_case(r + "_all_o18", r, [xx], dict(keepdims=1), 18)
        w.ort_case(r + "_noop_o18", r, [xx, np.array([], np.int64)],
                   dict(noop_with_empty_axes=1), 18)
    for r in ("ReduceL2", "ReduceSum", "ReduceMax"):
        w.ort_case(r + "_noop_o18", r, [big, np.array([], np.int64)],
                   dict(noop_with_empty_axes=1), 18)
    ii = rng.integers(-50, 50, (3, 4, 5)).astype(np.int32)
    w.ort_case("ReduceL1_int32", "ReduceL1", [ii], dict(axes=[1]))
    w.ort_case("ReduceSumSquare_int64", "ReduceSumSquare", [ii.astype(np.int64)], dict(axes=[1]))
    w.ort_case("ReduceL1_long_rows", "ReduceL1", [f32(3, 1000)], dict(axes=[1]))
    w.ort_case("ReduceL1_wide_cols", "ReduceL1", [f32(40, 1100)], dict(axes=[0]))
    w.ort_case("ReduceLogSum_wide_cols", "ReduceLogSum", [np.abs(f32(40, 1100))], dict(axes=[0]))

    # CumSum
    c = rng.integers(-9, 9, (3, 4, 5))
    for dt in (np.int32, np.int64, np.float32, np.float64):
        for ax in (0, 1, -1):
            for ex in (0, 1):
                for rv in (0, 1):
                    w.ort_case("cumsum_%s_axis%s_excl%d_rev%d" % (
                        dt.__name__, str(ax).replace("-", "m"), ex, rv), "CumSum",
                        [c.astype(dt), np.array(ax, np.int64)],
                        dict(exclusive=ex, reverse=rv), 14)
    w.ort_case("cumsum_axis_int32_1elem", "CumSum",
               [c.astype(np.float32), np.array([1], np.int32)], {}, 11)
    cu = np.abs(c).astype(np.uint32)
    want = np.flip(np.cumsum(np.flip(cu, 1), 1), 1) - cu
    w.np_case("cumsum_uint32_rev_excl", "CumSum", [cu, np.array(1, np.int32)],
              [want.astype(np.uint32)], dict(exclusive=1, reverse=1), 14)

    # Hardmax: 2-D coercion before 13, one axis from 13; ties go first
    hx = f32(2, 3, 4)
    hx[0, 1, :] = 1
    hx[1, 2, 1] = 5
    for op in (11, 13):
        for ax in (0, 1, 2, -1):
            w.ort_case("hardmax_axis%s_o%d" % (str(ax).replace("-", "m"), op),
                       "Hardmax", [hx], dict(axis=ax), op)
        w.ort_case("hardmax_default_o%d" % op, "Hardmax", [hx], {}, op)
    hd = hx.astype(np.float64)
    w.np_case("hardmax_f64", "Hardmax", [hd],
              [np.eye(3)[np.argmax(hd, axis=1)].transpose(0, 2, 1)], dict(axis=1))

    # MVN
    mx = f32(2, 3, 4, 5)
    w.ort_case("mvn_axes1", "MeanVarianceNormalization", [mx], dict(axes=[1]))
    w.ort_case("mvn_axes23_o9", "MeanVarianceNormalization", [mx], dict(axes=[2, 3]), 9)
    w.ort_case("mvn_3d", "MeanVarianceNormalization", [f32(2, 3, 4)], dict(axes=[0, 2]))

    # LRN (ONNX Runtime takes odd sizes and 4-D only)
    for s in (1, 3, 5):
        w.ort_case("lrn_size%d" % s, "LRN", [f32(2, 6, 3, 4)],
                   dict(size=s, alpha=0.01, beta=0.6, bias=1.5))
    for s in (2, 4):
        xx = f32(2, 6, 3, 4)
        w.np_case("lrn_even_size%d" % s, "LRN", [xx], [lrn_ref(xx, s, 0.01, 0.6, 1.5)],
                  dict(size=s, alpha=0.01, beta=0.6, bias=1.5))
    xx = f32(2, 6, 7)
    w.np_case("lrn_3d", "LRN", [xx], [lrn_ref(xx, 3, 1e-4, 0.75, 1.0)], dict(size=3))
    xx = f32(2, 6, 3, 3).astype(np.float64)
    w.np_case("lrn_f64", "LRN", [xx], [lrn_ref(xx, 5, 0.1, 0.75, 1.0)], dict(size=5, alpha=0.1))

    # Det
    dd = rng.standard_normal((3, 2, 6, 6))
    w.np_case("det_f64_batched", "Det", [dd], [np.linalg.det(dd)], {}, 11)
    w.ort_case("det_1x1", "Det", [f32(4, 1, 1)], {}, 11)
    w.ort_case("det_singular", "Det",
               [np.array([[1, 2, 3], [2, 4, 6], [1, 0, 1]], np.float32)], {}, 11)
    w.ort_case("det_permutation", "Det",
               [np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], np.float32)], {}, 11)
    w.np_case("det_empty_batch", "Det", [np.zeros((0, 3, 3), np.float32)],
              [np.zeros((0,), np.float32)], {}, 11)

    # losses
    for red in ("none", "sum", "mean"):
        for dt in (np.float32, np.float64):
            xs = rng.standard_normal((3, 5, 2, 4)).astype(dt)
            ts = rng.integers(0, 5, (3, 2, 4)).astype(np.int64)
            ts[0, 0, 0] = -3
            wt = rng.random(5).astype(dt)
            for op, n_out in (("NegativeLogLikelihoodLoss", 1), ("SoftmaxCrossEntropyLoss", 2)):
                nm = "nll" if op[0] == "N" else "sce"
                tag = "%s_%s_%s" % (nm, red, dt.__name__)
                w.ort_case(tag + "_weight_ii", op, [xs, ts, wt],
                           dict(reduction=red, ignore_index=-3), 13, n_out)
                tgt = rng.integers(0, 5, (3, 2, 4)).astype(np.int32)
                w.ort_case(tag + "_int32_target", op, [xs, tgt], dict(reduction=red), 13, n_out)
                w.ort_case(tag + "_NC_o12", op, [xs[:, :, 0, 0].copy(), tgt[:, 0, 0].copy()],
                           dict(reduction=red), 12, n_out)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    if not (os.path.isfile(RUNNER) and os.access(RUNNER, os.X_OK)):
        pytest.fail("conformance runner not found at %s: build it or set "
                    "AXLE_CONFORMANCE_BIN" % RUNNER)
    root = str(tmp_path_factory.mktemp("reduce_ops"))
    w = Writer(root)
    build(w)
    proc = subprocess.run([RUNNER, root, "-v"], capture_output=True, text=True,
                          timeout=600)
    status = {}
    for line in proc.stdout.splitlines():
        m = re.match(r"(PASS|FAIL|SKIP) (test_\S+?)(:|$)(.*)", line)
        if m:
            status[m.group(2)] = (m.group(1), m.group(4))
    return w.names, status


def test_cases_were_written(results):
    names, _ = results
    assert len(names) >= 150


def test_every_case_matches_the_reference(results):
    names, status = results
    bad = ["%s: %s" % (n, status.get(n, ("missing", ""))) for n in names
           if status.get(n, ("missing",))[0] != "PASS"]
    assert not bad, "\n".join(bad)
