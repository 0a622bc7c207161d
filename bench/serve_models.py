#!/usr/bin/env python3
"""bench/serve_models.py - the models and request bodies of the serving benchmarks.

    .venv/bin/python bench/serve_models.py OUTDIR

Writes (all deterministic: fixed seeds, iris is bundled with scikit-learn):

  OUTDIR/repo/iris/1/model.onnx     sklearn LogisticRegression(max_iter=1000) fitted on
                                    load_iris, as MatMul -> Add -> Softmax; input "input"
                                    FP32 [-1,4], output "probabilities" FP32 [-1,3]
  OUTDIR/repo/sum1m/1/model.onnx    ReduceSum over axis 1 of "input" FP32 [-1,262144]
                                    (1 MiB per row), output "sum" FP32 [-1,1] (G6)
  OUTDIR/repo_mlp/mlp/1/model.onnx  MLP 784-512-512-10 (Gemm+Relu, random seeded weights),
                                    input "input" FP32 [-1,784], output "output" [-1,10]
                                    (start-up / RSS test; a repository of its own)
  OUTDIR/mlserver/iris/model.joblib the same fitted estimator, for MLServer's sklearn runtime
  OUTDIR/mlserver/iris/model-settings.json
  OUTDIR/mlserver/settings.json
  OUTDIR/bodies/iris.json           the V2 JSON request (one iris row, 4 x FP32)
  OUTDIR/bodies/sum1m.json          V2 JSON request with 262,144 values
  OUTDIR/bodies/sum1m.bin           the same as Triton binary-tensor extension body
  OUTDIR/bodies/sum1m.hlen          length of the JSON header in sum1m.bin
  OUTDIR/bodies/expected.json       reference outputs (sklearn predict_proba, numpy sum)

The script checks that the ONNX graph's arithmetic (numpy) equals predict_proba.
Run it with an interpreter that sees Debian's python3-sklearn/onnx/numpy.
"""

import json
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

OPSET = 13
N1M = 262144  # 1 MiB of FP32


def save(model, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.checker.check_model(model)
    onnx.save(model, path)


def iris_model(clf):
    W = clf.coef_.T.astype(np.float32)            # [4,3]
    b = clf.intercept_.astype(np.float32)         # [3]
    g = helper.make_graph(
        [helper.make_node("MatMul", ["input", "W"], ["logits0"]),
         helper.make_node("Add", ["logits0", "b"], ["logits"]),
         helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1)],
        "iris_logreg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(W, "W"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="axle-bench")
    m.ir_version = 8
    return m, W, b


def sum_model():
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    g = helper.make_graph(
        [helper.make_node("ReduceSum", ["input", "axes"], ["sum"], keepdims=1)],
        "sum1m",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", N1M])],
        [helper.make_tensor_value_info("sum", TensorProto.FLOAT, ["N", 1])],
        [axes])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="axle-bench")
    m.ir_version = 8
    return m


def mlp_model():
    rng = np.random.default_rng(0)
    dims = [784, 512, 512, 10]
    nodes, inits = [], []
    x = "input"
    for i in range(3):
        k, n = dims[i], dims[i + 1]
        w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
        bb = (0.01 * rng.standard_normal(n)).astype(np.float32)
        inits += [numpy_helper.from_array(w, "w%d" % i), numpy_helper.from_array(bb, "b%d" % i)]
        y = "output" if i == 2 else "h%d" % i
        gy = y if i == 2 else "g%d" % i
        nodes.append(helper.make_node("Gemm", [x, "w%d" % i, "b%d" % i], [gy], transB=1))
        if i < 2:
            nodes.append(helper.make_node("Relu", [gy], [y]))
        x = y
    g = helper.make_graph(
        nodes, "mlp_784_512_512_10",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 784])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="axle-bench")
    m.ir_version = 8
    return m


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: serve_models.py OUTDIR")
    out = sys.argv[1]
    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)

    m, W, b = iris_model(clf)
    save(m, os.path.join(out, "repo/iris/1/model.onnx"))
    # Check the graph's arithmetic against sklearn before anything is measured.
    z = X.astype(np.float32) @ W + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ref = clf.predict_proba(X)
    err = float(np.max(np.abs(p - ref)))
    if err > 1e-5:
        sys.exit("serve_models: iris graph disagrees with predict_proba (max abs %g)" % err)

    save(sum_model(), os.path.join(out, "repo/sum1m/1/model.onnx"))
    save(mlp_model(), os.path.join(out, "repo_mlp/mlp/1/model.onnx"))

    # MLServer: the same fitted estimator, its sklearn runtime, V2 REST.
    import joblib
    md = os.path.join(out, "mlserver/iris")
    os.makedirs(md, exist_ok=True)
    joblib.dump(clf, os.path.join(md, "model.joblib"))
    with open(os.path.join(md, "model-settings.json"), "w") as f:
        json.dump({"name": "iris", "implementation": "mlserver_sklearn.SKLearnModel",
                   "parameters": {"uri": "./model.joblib", "version": "v1"}}, f)

    # Request bodies.
    bd = os.path.join(out, "bodies")
    os.makedirs(bd, exist_ok=True)
    row = [5.1, 3.5, 1.4, 0.2]
    iris_req = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": row}]}
    with open(os.path.join(bd, "iris.json"), "w") as f:
        f.write(json.dumps(iris_req, separators=(",", ":")))
    rng = np.random.default_rng(1)
    big = rng.random(N1M, dtype=np.float32)
    # JSON: shortest round-tripping text of each float32 (what a client would send).
    txt = ",".join(repr(float(v)) for v in big)
    with open(os.path.join(bd, "sum1m.json"), "w") as f:
        f.write('{"inputs":[{"name":"input","shape":[1,%d],"datatype":"FP32","data":[%s]}]}'
                % (N1M, txt))
    hdr = json.dumps({"inputs": [{"name": "input", "shape": [1, N1M], "datatype": "FP32",
                                  "parameters": {"binary_data_size": N1M * 4}}],
                      "outputs": [{"name": "sum", "parameters": {"binary_data": False}}]},
                     separators=(",", ":")).encode()
    with open(os.path.join(bd, "sum1m.bin"), "wb") as f:
        f.write(hdr)
        f.write(big.astype("<f4").tobytes())
    with open(os.path.join(bd, "sum1m.hlen"), "w") as f:
        f.write(str(len(hdr)))
    with open(os.path.join(bd, "expected.json"), "w") as f:
        json.dump({"iris_row": row,
                   "iris_proba": clf.predict_proba(np.array([row])).ravel().tolist(),
                   "sum1m": float(big.astype(np.float64).sum())}, f)
    print(json.dumps({"kind": "models", "out": out, "iris_graph_max_abs_err": err,
                      "sklearn": __import__("sklearn").__version__, "onnx": onnx.__version__,
                      "iris_body_bytes": os.path.getsize(os.path.join(bd, "iris.json")),
                      "sum1m_json_bytes": os.path.getsize(os.path.join(bd, "sum1m.json")),
                      "sum1m_bin_bytes": os.path.getsize(os.path.join(bd, "sum1m.bin"))}))


if __name__ == "__main__":
    main()
