"""End-to-end: the ai.onnx.ml operators (and the string ops StringNormalizer /
TfIdfVectorizer) in the real `axle serve`, against ONNX Runtime and
scikit-learn. Debian's generated ONNX conformance data has no ai.onnx.ml
cases, so this file is their test.

Run: .venv/bin/python -m pytest tests/e2e/test_onnxml_ops.py   (after `make build`)

(a) Small graphs built with onnx.helper, one or a few per operator and
    attribute combination: every case is a model in one throwaway
    repository served by one `axle serve`; each is inferred through the V2
    REST binary extension (so NaN and non-UTF-8 bytes travel as they are)
    and must match ONNX Runtime: floats within 1e-5 relative (1e-5
    absolute), labels and strings exactly. ZipMap's output is a sequence of
    maps in ONNX Runtime and the probability tensor in axle (axle has no
    map type): the maps are turned into [N, C] in label order.
(b) scikit-learn pipelines converted with skl2onnx (pinned in
    tools/deps.sh; missing it is a failure, never a skip): predictions
    must match scikit-learn and ONNX Runtime.
(c) Bad input: invalid UTF-8 into StringNormalizer is a 400 with a clear
    message and the server lives on; a DictVectorizer model (map input) is
    refused at load with "map inputs are not supported".

Environment: AXLE_BIN (binary, default build/axle).
"""

import json
import os
import struct

import numpy as np
import pytest

from serve_util import Server, put_model

import onnx  # noqa: E402  (Debian python3-onnx)
from onnx import TensorProto as TP, helper  # noqa: E402

RTOL = 1e-5
ATOL = 1e-5

DT = {np.dtype(np.float32): ("FP32", TP.FLOAT), np.dtype(np.float64): ("FP64", TP.DOUBLE),
      np.dtype(np.int64): ("INT64", TP.INT64), np.dtype(np.int32): ("INT32", TP.INT32),
      np.dtype(object): ("BYTES", TP.STRING)}
NP_OF = {"FP32": np.float32, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32}


def ml_model(nodes, feeds, outputs, ml=1, opset=15, shapes=None):
    """Model bytes: inputs typed from the feeds (first dim symbolic, or as
    shapes[name] says)."""
    ins = []
    for name, arr in feeds.items():
        shape = ["N"] + list(arr.shape[1:]) if arr.ndim >= 2 else ["C"]
        shape = (shapes or {}).get(name, shape)
        ins.append(helper.make_tensor_value_info(name, DT[arr.dtype][1], shape))
    outs = []
    for name, kind in outputs:
        if kind == "zipmap_int" or kind == "zipmap_str":
            tp = onnx.TypeProto()
            mt = tp.sequence_type.elem_type.map_type
            mt.key_type = TP.INT64 if kind == "zipmap_int" else TP.STRING
            mt.value_type.tensor_type.elem_type = TP.FLOAT
            outs.append(helper.make_value_info(name, tp))
        else:
            outs.append(helper.make_tensor_value_info(name, kind, None))
    g = helper.make_graph(nodes, "g", ins, outs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset),
                                            helper.make_opsetid("ai.onnx.ml", ml)])
    m.ir_version = 8
    return m.SerializeToString()


def ml(op, inputs, outputs, **attrs):
    return helper.make_node(op, inputs, outputs, domain="ai.onnx.ml", **attrs)


rng = np.random.RandomState(7)
X4 = rng.randn(6, 4).astype(np.float32)
X3 = np.array([[1, -2, 3], [0, 0, 0], [-4, -1, -2], [0.5, 2, 0.25]], np.float32)
F, I, S = TP.FLOAT, TP.INT64, TP.STRING

CASES = {}


def case(name, nodes, feeds, outputs, ml_opset=1, opset=15, zipmap_labels=None, shapes=None,
         expect=None):
    """expect: {output: array} when ONNX Runtime has no kernel for the case."""
    CASES[name] = dict(model=ml_model(nodes, feeds, outputs, ml_opset, opset, shapes),
                       feeds=feeds, outputs=[o for o, _ in outputs], zipmap=zipmap_labels,
                       expect=expect)


# --- feature transforms -------------------------------------------------------
case("aFE", [ml("ArrayFeatureExtractor", ["x", "i"], ["y"])],
     {"x": X4, "i": np.array([3, 0, 3], np.int64)}, [("y", F)], shapes={"i": [3]})
case("aFE_str", [ml("ArrayFeatureExtractor", ["x", "i"], ["y"])],
     {"x": np.array([["a", "b", "c"], ["d", "e", "f"]], object), "i": np.array([2, 1], np.int64)},
     [("y", S)], shapes={"i": [2]})
case("aFE_int", [ml("ArrayFeatureExtractor", ["x", "i"], ["y"])],
     {"x": np.arange(12, dtype=np.int64).reshape(3, 4), "i": np.array([1], np.int64)}, [("y", I)],
     shapes={"i": [1]})
case("binarizer", [ml("Binarizer", ["x"], ["y"], threshold=0.3)], {"x": X4}, [("y", F)])
case("scaler", [ml("Scaler", ["x"], ["y"], offset=[0.5, -1.0, 2.0, 0.0], scale=[2.0, 0.5, 1.0, -3.0])],
     {"x": X4}, [("y", F)])
case("scaler_int", [ml("Scaler", ["x"], ["y"], offset=[1.5], scale=[0.25])],
     {"x": np.array([[1, 2], [3, 4]], np.int64)}, [("y", F)])
case("scaler_double", [ml("Scaler", ["x"], ["y"], offset=[1.0, 2.0, 3.0, 4.0], scale=[1.0, 2.0, 3.0, 4.0])],
     {"x": X4.astype(np.float64)}, [("y", F)])
for norm in ("MAX", "L1", "L2"):
    case("normalizer_" + norm, [ml("Normalizer", ["x"], ["y"], norm=norm)], {"x": X3}, [("y", F)])
case("normalizer_int", [ml("Normalizer", ["x"], ["y"], norm="L2")],
     {"x": np.array([[3, 4], [1, 0]], np.int64)}, [("y", F)])
XN = X3.copy()
XN[0, 1] = np.nan
XN[2, 2] = np.nan
case("imputer_nan", [ml("Imputer", ["x"], ["y"], imputed_value_floats=[9.0, 8.0, 7.0],
                        replaced_value_float=float("nan"))], {"x": XN}, [("y", F)])
case("imputer_zero", [ml("Imputer", ["x"], ["y"], imputed_value_floats=[-1.0],
                         replaced_value_float=0.0)], {"x": X3}, [("y", F)])
case("imputer_int", [ml("Imputer", ["x"], ["y"], imputed_value_int64s=[5, 6],
                        replaced_value_int64=-1)],
     {"x": np.array([[-1, 2], [3, -1], [-1, -1]], np.int64)}, [("y", I)])
case("featurevec", [ml("FeatureVectorizer", ["a", "b"], ["y"], inputdimensions=[2, 3])],
     {"a": X4[:, :3].copy(), "b": X4[:, :1].copy()}, [("y", F)])
case("featurevec_int", [ml("FeatureVectorizer", ["a", "b"], ["y"], inputdimensions=[1, 2])],
     {"a": np.array([[1, 2], [3, 4]], np.int64), "b": np.array([[5, 6], [7, 8]], np.int64)},
     [("y", F)])

# --- encoders -------------------------------------------------------------------
WORDS = np.array([["cat", "dog", "emu"], ["dog", "yak", "cat"]], object)
case("labelenc1_s2i", [ml("LabelEncoder", ["x"], ["y"], classes_strings=["dog", "cat", "yak"],
                          default_int64=42)], {"x": WORDS}, [("y", I)], ml_opset=1)
case("labelenc1_i2s", [ml("LabelEncoder", ["x"], ["y"], classes_strings=["dog", "cat"],
                          default_string="?")],
     {"x": np.array([0, 1, 2, -1], np.int64)}, [("y", S)], ml_opset=1)
case("labelenc2_s2f", [ml("LabelEncoder", ["x"], ["y"], keys_strings=["cat", "emu"],
                          values_floats=[0.5, 1.5])], {"x": WORDS}, [("y", F)], ml_opset=2)
case("labelenc2_i2i", [ml("LabelEncoder", ["x"], ["y"], keys_int64s=[3, 1, 7],
                          values_int64s=[30, 10, 70], default_int64=-9)],
     {"x": np.array([[1, 2], [7, 3]], np.int64)}, [("y", I)], ml_opset=2)
case("labelenc2_f2s", [ml("LabelEncoder", ["x"], ["y"], keys_floats=[0.5, -2.0],
                          values_strings=["half", "m2"], default_string="none")],
     {"x": np.array([0.5, 1.0, -2.0], np.float32)}, [("y", S)], ml_opset=2)
case("labelenc3_s2s", [ml("LabelEncoder", ["x"], ["y"], keys_strings=["cat", "dog"],
                          values_strings=["CAT", "DOG"])], {"x": WORDS}, [("y", S)], ml_opset=3)
case("catmap_s2i", [ml("CategoryMapper", ["x"], ["y"], cats_strings=["cat", "dog"],
                       cats_int64s=[5, 9], default_int64=-3)], {"x": WORDS}, [("y", I)])
case("catmap_i2s", [ml("CategoryMapper", ["x"], ["y"], cats_strings=["cat", "dog"],
                       cats_int64s=[5, 9])], {"x": np.array([[5, 6, 9]], np.int64)}, [("y", S)])
case("onehot_int", [ml("OneHotEncoder", ["x"], ["y"], cats_int64s=[4, 1, 2])],
     {"x": np.array([[1, 5], [2, 4]], np.int64)}, [("y", F)])
case("onehot_float", [ml("OneHotEncoder", ["x"], ["y"], cats_int64s=[1, 2, 3])],
     {"x": np.array([[1.0, 2.7], [3.0, 0.0]], np.float32)}, [("y", F)])
case("onehot_str", [ml("OneHotEncoder", ["x"], ["y"], cats_strings=["dog", "cat"], zeros=1)],
     {"x": WORDS}, [("y", F)])
case("zipmap_int", [ml("ZipMap", ["x"], ["y"], classlabels_int64s=[10, 20, 30, 40])],
     {"x": np.abs(X4)}, [("y", "zipmap_int")], zipmap_labels=[10, 20, 30, 40])
case("zipmap_str", [ml("ZipMap", ["x"], ["y"], classlabels_strings=["a", "b", "c", "d"])],
     {"x": np.abs(X4)}, [("y", "zipmap_str")], zipmap_labels=["a", "b", "c", "d"])

# --- linear -----------------------------------------------------------------------
W3 = rng.randn(3 * 4).astype(np.float32).tolist()
for post in ("NONE", "LOGISTIC", "SOFTMAX", "SOFTMAX_ZERO"):
    case("linclass_" + post, [ml("LinearClassifier", ["x"], ["y", "z"], coefficients=W3,
                                 intercepts=[0.1, -0.2, 0.3], classlabels_ints=[7, 8, 9],
                                 post_transform=post)],
         {"x": X4}, [("y", I), ("z", F)])
case("linclass_str", [ml("LinearClassifier", ["x"], ["y", "z"], coefficients=W3,
                         intercepts=[0.1, -0.2, 0.3], classlabels_strings=["a", "b", "c"])],
     {"x": X4}, [("y", S), ("z", F)])
for post in ("NONE", "LOGISTIC"):
    case("linclass_bin_" + post, [ml("LinearClassifier", ["x"], ["y", "z"], coefficients=W3[:4],
                                     intercepts=[0.2], classlabels_ints=[3, 5],
                                     post_transform=post)],
         {"x": X4}, [("y", I), ("z", F)])
case("linclass_int_in", [ml("LinearClassifier", ["x"], ["y", "z"], coefficients=W3,
                            intercepts=[0.0, 0.0, 0.0], classlabels_ints=[0, 1, 2])],
     {"x": np.array([[1, 2, 3, 4], [-1, 0, 2, 5]], np.int64)}, [("y", I), ("z", F)])
case("linreg", [ml("LinearRegressor", ["x"], ["y"], coefficients=W3[:4], intercepts=[0.7])],
     {"x": X4}, [("y", F)])
case("linreg_3", [ml("LinearRegressor", ["x"], ["y"], coefficients=W3, intercepts=[1.0, 2.0, 3.0],
                     targets=3)], {"x": X4}, [("y", F)])
case("linreg_softmax", [ml("LinearRegressor", ["x"], ["y"], coefficients=W3, targets=3,
                           post_transform="SOFTMAX")], {"x": X4}, [("y", F)])
# ONNX Runtime's LinearRegressor takes float only: numpy gives the reference
case("linreg_double", [ml("LinearRegressor", ["x"], ["y"], coefficients=W3[:4])],
     {"x": X4.astype(np.float64)}, [("y", F)],
     expect={"y": (X4.astype(np.float64) @ np.array(W3[:4])).reshape(-1, 1).astype(np.float32)})

# --- SVM -----------------------------------------------------------------------------
SV = rng.randn(5 * 4).astype(np.float32).tolist()  # 5 support vectors of 4 features
KERNELS = {"LINEAR": [0.0, 0.0, 0.0], "POLY": [0.3, 1.0, 3.0], "RBF": [0.4, 0.0, 0.0],
           "SIGMOID": [0.2, 0.5, 0.0]}
for kt, kp in KERNELS.items():
    # three classes with 2, 2, 1 vectors: coefficients [2, 5], rho [3]
    common = dict(kernel_type=kt, kernel_params=kp, support_vectors=SV,
                  vectors_per_class=[2, 2, 1],
                  coefficients=rng.randn(10).astype(np.float32).tolist(),
                  rho=[0.1, -0.3, 0.2], classlabels_ints=[4, 5, 6])
    case("svc3_" + kt, [ml("SVMClassifier", ["x"], ["y", "z"], **common)],
         {"x": X4}, [("y", I), ("z", F)])
    case("svc3_proba_" + kt, [ml("SVMClassifier", ["x"], ["y", "z"], prob_a=[-1.2, -0.8, -2.0],
                                 prob_b=[0.1, -0.2, 0.05], **common)],
         {"x": X4}, [("y", I), ("z", F)])
    case("svr_" + kt, [ml("SVMRegressor", ["x"], ["y"], kernel_type=kt, kernel_params=kp,
                          support_vectors=SV, n_supports=5,
                          coefficients=rng.randn(5).astype(np.float32).tolist(), rho=[0.25])],
         {"x": X4}, [("y", F)])
BIN = dict(kernel_type="RBF", kernel_params=[0.5, 0.0, 0.0], support_vectors=SV[:12],
           vectors_per_class=[1, 2], coefficients=[0.7, -0.4, -0.3], rho=[0.05])
for post in ("NONE", "LOGISTIC"):
    case("svc2_" + post, [ml("SVMClassifier", ["x"], ["y", "z"], classlabels_strings=["no", "yes"],
                             post_transform=post, **BIN)], {"x": X4}, [("y", S), ("z", F)])
case("svc2_proba", [ml("SVMClassifier", ["x"], ["y", "z"], classlabels_ints=[0, 1],
                       prob_a=[-1.5], prob_b=[0.2], **BIN)], {"x": X4}, [("y", I), ("z", F)])
case("svc_linear_mode", [ml("SVMClassifier", ["x"], ["y", "z"], coefficients=W3,
                            kernel_params=[0.0, 0.0, 0.0],
                            rho=[0.1], classlabels_ints=[1, 2, 3])],
     {"x": X4}, [("y", I), ("z", F)])
case("svc_linear_mode_bin", [ml("SVMClassifier", ["x"], ["y", "z"], coefficients=W3[:8],
                                kernel_params=[0.0, 0.0, 0.0],
                                rho=[0.1], classlabels_ints=[1, 2])],
     {"x": X4}, [("y", I), ("z", F)])
case("svr_linear_mode", [ml("SVMRegressor", ["x"], ["y"], coefficients=W3[:4], rho=[-0.5],
                            kernel_params=[0.0, 0.0, 0.0])],
     {"x": X4}, [("y", F)])
case("svr_one_class", [ml("SVMRegressor", ["x"], ["y"], kernel_type="RBF",
                          kernel_params=[0.5, 0.0, 0.0], support_vectors=SV, n_supports=5,
                          coefficients=[0.2, 0.2, 0.2, 0.2, 0.2], rho=[-0.3], one_class=1)],
     {"x": X4}, [("y", F)])

# --- default-domain string ops (ONNX Runtime needs locale C here: it has no
# other locale installed; axle maps case the same for ASCII) ------------------------
case("strnorm_upper", [helper.make_node("StringNormalizer", ["x"], ["y"],
                                        case_change_action="UPPER", is_case_sensitive=0,
                                        stopwords=["DOG"], locale="C")],
     {"x": np.array(["Cat", "dog", "DOG", "emu"], object)}, [("y", S)])
case("strnorm_lower_2d", [helper.make_node("StringNormalizer", ["x"], ["y"],
                                           case_change_action="LOWER", is_case_sensitive=1,
                                           stopwords=["Cat"], locale="C")],
     {"x": np.array([["Cat", "cat", "EMU"]], object)}, [("y", S)], shapes={"x": [1, "C"]})
case("strnorm_all_gone_2d", [helper.make_node("StringNormalizer", ["x"], ["y"],
                                              stopwords=["a", "b"], locale="C")],
     {"x": np.array([["a", "b"]], object)}, [("y", S)], shapes={"x": [1, "C"]})
case("tfidf_str", [helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode="TFIDF",
                                    min_gram_length=1, max_gram_length=2, max_skip_count=1,
                                    ngram_counts=[0, 3], ngram_indexes=[3, 0, 1, 2, 4],
                                    pool_strings=["cat", "dog", "emu", "cat", "dog", "dog", "cat"],
                                    weights=[0.5, 1.0, 2.0, 3.0, 4.0])],
     {"x": np.array([["cat", "dog", "cat", "emu", "dog", "cat"],
                     ["dog", "dog", "cat", "cat", "yak", "dog"]], object)}, [("y", F)])
case("tfidf_idf_int", [helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode="IDF",
                                        min_gram_length=2, max_gram_length=3, max_skip_count=2,
                                        ngram_counts=[0, 2, 4], ngram_indexes=[0, 1, 2, 3, 4],
                                        pool_int64s=[1, 2, 3, 4, 2, 3, 1, 5, 6, 7],
                                        weights=[2.0, 3.0, 4.0, 5.0, 6.0])],
     {"x": np.array([1, 2, 3, 1, 2, 2, 3], np.int32)}, [("y", F)])

# a skip count far past the row length: the same as any skip >= C
case("tfidf_huge_skip", [helper.make_node("TfIdfVectorizer", ["x"], ["y"], mode="TF",
                                          min_gram_length=1, max_gram_length=2,
                                          max_skip_count=1000, ngram_counts=[0, 2],
                                          ngram_indexes=[0, 1, 2], pool_int64s=[1, 2, 1, 2])],
     {"x": np.array([[1, 2, 1, 1, 2], [2, 2, 1, 5, 2]], np.int64)}, [("y", F)])


# --------------------------------------------------------------------------
# Serving helpers
# --------------------------------------------------------------------------

def blob_of(arr):
    if arr.dtype == object:
        out = bytearray()
        for e in arr.flatten():
            e = e.encode() if isinstance(e, str) else bytes(e)
            out += struct.pack("<I", len(e)) + e
        return bytes(out)
    return np.ascontiguousarray(arr).tobytes()


def infer(srv, model, feeds, outputs):
    """V2 binary-extension request; returns ({name: array}, response)."""
    ins, blobs = [], []
    for name, arr in feeds.items():
        b = blob_of(arr)
        ins.append({"name": name, "shape": list(arr.shape), "datatype": DT[arr.dtype][0],
                    "parameters": {"binary_data_size": len(b)}})
        blobs.append(b)
    head = json.dumps({"inputs": ins, "outputs": [
        {"name": o, "parameters": {"binary_data": True}} for o in outputs]}).encode()
    r = srv.post("/v2/models/%s/infer" % model, head + b"".join(blobs),
                 headers={"Inference-Header-Content-Length": str(len(head)),
                          "Content-Type": "application/octet-stream"})
    if r.status != 200:
        return None, r
    n = int(r.header("inference-header-content-length"))
    doc = json.loads(r.body[:n])
    pos, res = n, {}
    for o in doc["outputs"]:
        size = o["parameters"]["binary_data_size"]
        raw = r.body[pos:pos + size]
        pos += size
        if o["datatype"] == "BYTES":
            vals, p = [], 0
            while p < len(raw):
                (ln,) = struct.unpack_from("<I", raw, p)
                vals.append(raw[p + 4:p + 4 + ln].decode("utf-8", "surrogateescape"))
                p += 4 + ln
            res[o["name"]] = np.array(vals, object).reshape(o["shape"])
        else:
            res[o["name"]] = np.frombuffer(raw, NP_OF[o["datatype"]]).reshape(o["shape"])
    return res, r


def ort_run(model, feeds):
    import onnxruntime as ort
    s = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    names = [o.name for o in s.get_outputs()]
    return dict(zip(names, s.run(None, feeds)))


def zip_to_array(maps, labels):
    return np.array([[m[c] for c in labels] for m in maps], np.float32)


def assert_same(name, got, want, tol=None):
    assert got.shape == want.shape, (name, got.shape, want.shape)
    if want.dtype == object or want.dtype.kind in "iub":
        bad = np.argwhere(got != want)
        assert bad.size == 0, "%s: first difference at %s: got %r want %r" % (
            name, tuple(bad[0]), got[tuple(bad[0])], want[tuple(bad[0])])
        return
    g, w = got.astype(np.float64), want.astype(np.float64)
    rtol, atol = (tol, tol) if tol else (RTOL, ATOL)
    ok = (g == w) | (np.isnan(g) & np.isnan(w)) | (np.abs(g - w) <= atol + rtol * np.abs(w))
    bad = np.argwhere(~ok)
    assert bad.size == 0, "%s: %d of %d differ, first at %s: got %r want %r" % (
        name, len(bad), w.size, tuple(bad[0]), g[tuple(bad[0])], w[tuple(bad[0])])


# --------------------------------------------------------------------------
# scikit-learn pipelines
# --------------------------------------------------------------------------

def sklearn_models():
    """{name: (model bytes, feeds, sklearn outputs {index: array})}"""
    try:
        import skl2onnx
        from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
    except ImportError as e:  # tools/deps.sh pins it: a missing one is a broken setup
        pytest.fail("skl2onnx is not installed (run tools/deps.sh): %s" % e)
    from sklearn.datasets import load_iris
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Binarizer, Normalizer, OneHotEncoder, StandardScaler
    from sklearn.svm import SVC, SVR

    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    Xt = X[::7]
    ops = {"": 15, "ai.onnx.ml": 3}
    out = {}

    def conv(model, n_features=4, types=None, options=None):
        t = types or [("X", FloatTensorType([None, n_features]))]
        return skl2onnx.convert_sklearn(model, initial_types=t, target_opset=ops,
                                        options=options).SerializeToString()

    m = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    out["scaler_logreg"] = (conv(m), {"X": Xt}, {0: m.predict(Xt), 1: m.predict_proba(Xt)})
    mb = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y == 1)
    out["logreg_binary"] = (conv(mb, options={id(mb): {"zipmap": False}}), {"X": Xt},
                            {0: mb.predict(Xt), 1: mb.predict_proba(Xt)})
    for kernel in ("rbf", "linear", "poly", "sigmoid"):
        s = SVC(kernel=kernel, probability=True, random_state=0).fit(X, y)
        out["svc_proba_" + kernel] = (conv(s), {"X": Xt}, {0: s.predict(Xt)})
        s2 = SVC(kernel=kernel).fit(X, y)
        out["svc_" + kernel] = (conv(s2), {"X": Xt}, {0: s2.predict(Xt)})
    sb = SVC(kernel="rbf").fit(X, y == 2)
    out["svc_binary"] = (conv(sb), {"X": Xt}, {0: sb.predict(Xt).astype(np.int64)})
    r = SVR(kernel="rbf", C=2.0).fit(X[:, :3], X[:, 3])
    out["svr"] = (conv(r, 3), {"X": Xt[:, :3].copy()}, {0: r.predict(Xt[:, :3]).reshape(-1, 1)})
    lr = LinearRegression().fit(X[:, :3], X[:, 3])
    out["linreg"] = (conv(lr, 3), {"X": Xt[:, :3].copy()},
                     {0: lr.predict(Xt[:, :3]).reshape(-1, 1)})
    n = Normalizer(norm="l1").fit(X)
    out["normalizer"] = (conv(n), {"X": Xt}, {0: n.transform(Xt)})
    b = Binarizer(threshold=3.0).fit(X)
    out["binarizer"] = (conv(b), {"X": Xt}, {0: b.transform(Xt)})
    Xm = Xt.copy()
    Xm[::2, 1] = np.nan
    imp = SimpleImputer(strategy="mean").fit(np.where(X > 6, np.nan, X))
    out["imputer"] = (conv(imp), {"X": Xm}, {0: imp.transform(Xm)})
    cats = np.array([[1, 5], [2, 5], [3, 7], [1, 7]], np.int64)
    oh = OneHotEncoder(handle_unknown="ignore").fit(cats)
    q = np.array([[2, 7], [3, 9], [1, 5]], np.int64)
    out["onehot_int"] = (conv(oh, types=[("X", Int64TensorType([None, 2]))]), {"X": q},
                         {0: oh.transform(q).toarray()})
    sc = np.array([["red", "s"], ["blue", "m"], ["red", "l"]], object)
    ohs = OneHotEncoder().fit(sc)
    qs = np.array([["blue", "l"], ["red", "s"]], object)
    out["onehot_str"] = (conv(ohs, types=[("X", StringTensorType([None, 2]))]), {"X": qs},
                         {0: ohs.transform(qs).toarray()})
    return out


SKLEARN_NAMES = ["scaler_logreg", "logreg_binary", "svr", "linreg", "normalizer", "binarizer",
                 "imputer", "onehot_int", "onehot_str", "svc_binary"] + \
    ["svc_proba_" + k for k in ("rbf", "linear", "poly", "sigmoid")] + \
    ["svc_" + k for k in ("rbf", "linear", "poly", "sigmoid")]


def dict_vectorizer_model():
    tp = onnx.TypeProto()
    tp.map_type.key_type = TP.STRING
    tp.map_type.value_type.tensor_type.elem_type = TP.FLOAT
    x = helper.make_value_info("x", tp)
    y = helper.make_tensor_value_info("y", TP.FLOAT, None)
    node = ml("DictVectorizer", ["x"], ["y"], string_vocabulary=["a", "b"])
    g = helper.make_graph([node], "g", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 15),
                                            helper.make_opsetid("ai.onnx.ml", 1)])
    m.ir_version = 8
    return m.SerializeToString()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("onnxml")
    repo = d / "repo"
    repo.mkdir()
    for name, c in CASES.items():
        put_model(repo, name, 1, c["model"])
    sk = sklearn_models()
    for name, (model, _, _) in sk.items():
        put_model(repo, "sk_" + name, 1, model)
    put_model(repo, "dictvec", 1, dict_vectorizer_model())
    with Server(repo, threads=2, tmpdir=str(d)) as srv:
        yield srv, sk


def test_every_ml_operator_has_a_case():
    ops = set()
    for c in CASES.values():
        m = onnx.load_from_string(c["model"])
        ops.update(n.op_type for n in m.graph.node)
    want = {"ArrayFeatureExtractor", "Binarizer", "CategoryMapper", "FeatureVectorizer",
            "Imputer", "LabelEncoder", "LinearClassifier", "LinearRegressor", "Normalizer",
            "OneHotEncoder", "Scaler", "SVMClassifier", "SVMRegressor", "ZipMap",
            "StringNormalizer", "TfIdfVectorizer"}
    assert want <= ops, want - ops


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_onnxruntime(world, name):
    srv, _ = world
    c = CASES[name]
    want = c["expect"] or ort_run(c["model"], c["feeds"])
    got, r = infer(srv, name, c["feeds"], c["outputs"])
    assert got is not None, "%s: HTTP %d %s\n%s" % (name, r.status, r.body[:400],
                                                     srv.stderr()[-2000:])
    for o in c["outputs"]:
        w = want[o]
        if c["zipmap"] is not None:
            w = zip_to_array(w, c["zipmap"])
        assert_same("%s/%s" % (name, o), got[o], np.asarray(w))


@pytest.mark.parametrize("name", SKLEARN_NAMES)
def test_sklearn_pipeline(world, name):
    srv, sk = world
    model, feeds, sk_out = sk[name]
    m = onnx.load_from_string(model)
    outs = [o.name for o in m.graph.output]
    want = ort_run(model, feeds)
    got, r = infer(srv, "sk_" + name, feeds, outs)
    assert got is not None, "%s: HTTP %d %s" % (name, r.status, r.body[:400])
    for i, o in enumerate(outs):
        w = want[o]
        if isinstance(w, list):  # ZipMap: list of {label: p}
            w = zip_to_array(w, sorted(w[0]))
        w = np.asarray(w)
        # SVC probabilities couple many float sums: both sides round differently
        tol = 1e-3 if name.startswith("svc_proba") else None
        assert_same("%s/%s vs onnxruntime" % (name, o), got[o], w, tol)
        if i in sk_out:
            s = np.asarray(sk_out[i])
            if s.dtype == bool:
                s = s.astype(np.int64)
            if s.dtype.kind == "f":
                g = got[o].astype(np.float64).reshape(s.shape)
                assert np.allclose(g, s, rtol=1e-4, atol=1e-4), \
                    "%s/%s vs scikit-learn: max diff %g" % (name, o, np.abs(g - s).max())
            else:
                assert (got[o].reshape(s.shape) == s.astype(got[o].dtype)).all(), \
                    "%s/%s vs scikit-learn" % (name, o)


def test_strnorm_unicode_case_mapping(world):
    srv, _ = world
    x = np.array([["Straße", "ÉCOLE", "ÿ", "Δέλτα", "Ünïcode", "ǅ"]], object)
    got, r = infer(srv, "strnorm_lower_2d", {"x": x}, ["y"])
    assert got is not None, r.body
    assert got["y"].tolist() == [["straße", "école", "ÿ", "δέλτα", "ünïcode", "ǆ"]]
    got, r = infer(srv, "strnorm_upper", {"x": np.array(["straße", "école", "ÿ", "δέλτας",
                                                          "dog"], object)}, ["y"])
    assert got is not None, r.body
    assert got["y"].tolist() == ["STRAßE", "ÉCOLE", "Ÿ", "ΔΈΛΤΑΣ"]


def test_strnorm_invalid_utf8_is_a_clear_error(world):
    srv, _ = world
    for bad in (b"ab\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80"):
        x = np.array([b"ok", bad], object)
        got, r = infer(srv, "strnorm_upper", {"x": x}, ["y"])
        assert got is None and r.status == 400, (bad, r.status, r.body[:300])
        assert "not valid UTF-8" in r.error, (bad, r.error)
    got, r = infer(srv, "strnorm_upper", {"x": np.array(["still", "alive"], object)}, ["y"])
    assert got is not None and got["y"].tolist() == ["STILL", "ALIVE"]
    assert srv.alive()


def test_map_input_model_is_refused(world):
    srv, _ = world
    r = srv.get("/v2/models/dictvec/ready")
    assert r.status != 200
    assert "map inputs are not supported" in srv.stderr()


def test_bad_index_and_empty_input_are_clear(world):
    srv, _ = world
    got, r = infer(srv, "aFE", {"x": X4, "i": np.array([1, 4, 0], np.int64)}, ["y"])
    assert got is None and r.status == 400, (r.status, r.body[:300])
    assert "outside [0, 4)" in r.error, r.error
    # StringNormalizer on [1, 0]: every element dropped, so [1, 1] holding ""
    got, r = infer(srv, "strnorm_lower_2d", {"x": np.zeros((1, 0), object)}, ["y"])
    assert got is not None, r.body
    assert got["y"].shape == (1, 1) and got["y"][0, 0] == ""
    assert srv.alive()
