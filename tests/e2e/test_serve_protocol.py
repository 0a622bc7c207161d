"""`axle serve` protocol surface: every V2 endpoint, the binary tensor
extension byte layout in both directions, datatypes, classification,
statistics, KServe V1 row and columnar, and Triton's own Python client
(tritonclient[http]) talking to the real binary.

References: PROTOCOLS.md §2 (datatypes, BYTES layout), §3 (V2 REST), §4
(binary extension), §5 (classification), §8 (statistics), §9 (V1), §11
(status table), §12 (health).
"""

import base64
import json
import struct

import numpy as np
import pytest

from serve_util import (Server, binary_body, build_zoo, bytes_blob, http_req_bytes, iris_input,
                        iris_reference, split_binary, v2_json)

X3 = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], np.float32)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("proto")
    repo = d / "repo"
    repo.mkdir()
    build_zoo(repo)
    with Server(repo, threads=2, tmpdir=str(d)) as s:
        yield s


@pytest.fixture(autouse=True)
def _still_alive(request):
    yield
    if "srv" in request.fixturenames:
        s = request.getfixturevalue("srv")
        assert s.alive(), "server died:\n" + s.stderr()[-4000:]


def assert_close(a, b, tol=1e-5):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, (a.shape, b.shape)
    assert np.allclose(a, b, rtol=tol, atol=tol), (a, b)


# --------------------------------------------------------------------------
# Health and metadata (§3, §12)
# --------------------------------------------------------------------------

def test_health_live_and_ready(srv):
    r = srv.get("/v2/health/live")
    assert (r.status, r.json()) == (200, {"live": True})
    assert r.header("content-type") == "application/json"
    r = srv.get("/v2/health/ready")
    assert (r.status, r.json()) == (200, {"ready": True})


def test_server_metadata(srv):
    r = srv.get("/v2")
    assert r.status == 200
    doc = r.json()
    assert doc["name"] == "axle"
    assert isinstance(doc["version"], str) and doc["version"]
    assert doc["extensions"] == ["binary_tensor_data", "classification", "model_repository",
                                 "statistics"]


def test_model_metadata(srv):
    r = srv.get("/v2/models/iris")
    assert r.status == 200
    doc = r.json()
    assert doc["name"] == "iris"
    assert doc["versions"] == ["1"]
    assert doc["platform"] == "onnx_onnxv1"
    assert doc["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 4]}]
    assert doc["outputs"] == [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 3]}]
    assert srv.get("/v2/models/iris/versions/1").json() == doc
    r = srv.get("/v2/models/fixed")
    assert r.json()["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [2, 3]}]
    r = srv.get("/v2/models/id_bytes")
    assert r.json()["inputs"] == [{"name": "x", "datatype": "BYTES", "shape": [-1, 3]}]


def test_model_metadata_unknown(srv):
    r = srv.get("/v2/models/nosuchmodel")
    assert (r.status, r.error) == (404, "model not found")
    r = srv.get("/v2/models/iris/versions/7")
    assert (r.status, r.error) == (404, "model version not found")


def test_model_ready(srv):
    r = srv.get("/v2/models/iris/ready")
    assert (r.status, r.json()) == (200, {"name": "iris", "ready": True})
    r = srv.get("/v2/models/iris/versions/1/ready")
    assert (r.status, r.json()) == (200, {"name": "iris", "ready": True})
    r = srv.get("/v2/models/iris/versions/2/ready")
    assert (r.status, r.error) == (404, "model version not found")
    r = srv.get("/v2/models/nosuchmodel/ready")
    assert (r.status, r.error) == (404, "model not found")


def test_unknown_route_and_wrong_verb(srv):
    r = srv.get("/v3/whatever")
    assert (r.status, r.error) == (404, "not found")
    r = srv.get("/v2/models/iris/infer")
    assert (r.status, r.error) == (405, "method not allowed")
    assert r.header("allow") == "POST"
    r = srv.post("/v2/health/live", b"{}")
    assert (r.status, r.error) == (405, "method not allowed")
    assert r.header("allow") == "GET, HEAD"


def test_head_has_no_body(srv):
    resps, closed, raw = srv.raw(http_req_bytes("HEAD", "/v2/health/live",
                                                headers={"Connection": "close"}))
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Content-Length: 13\r\n" in head + b"\r\n"
    assert rest == b""


# --------------------------------------------------------------------------
# V2 inference, JSON (§3)
# --------------------------------------------------------------------------

def test_infer_json_iris(srv):
    r = srv.post("/v2/models/iris/infer", v2_json([iris_input(X3)], id="req-1"))
    assert r.status == 200, r.body
    assert r.header("content-type") == "application/json"
    assert r.header("inference-header-content-length") is None
    doc = r.json()
    assert doc["model_name"] == "iris"
    assert doc["model_version"] == "1"
    assert doc["id"] == "req-1"
    [out] = doc["outputs"]
    assert (out["name"], out["datatype"], out["shape"]) == ("probabilities", "FP32", [3, 3])
    assert "parameters" not in out
    assert_close(np.array(out["data"]).reshape(3, 3), iris_reference(X3))


def test_infer_versioned_path_and_nested_data(srv):
    inp = iris_input(X3)
    inp["data"] = X3.tolist()  # nested in the tensor's natural shape (§2)
    r = srv.post("/v2/models/iris/versions/1/infer", v2_json([inp]))
    assert r.status == 200, r.body
    assert_close(np.array(r.json()["outputs"][0]["data"]).reshape(3, 3), iris_reference(X3))


def test_infer_without_id_gets_a_server_uuid_for_feedback(srv):
    # iris is a classifier, so it is monitored: the answer carries a
    # server-made version-4 UUID that feedback can refer to.
    import re
    ids = set()
    for _ in range(3):
        r = srv.post("/v2/models/iris/infer", v2_json([iris_input(X3[:1])]))
        assert r.status == 200
        rid = r.json()["id"]
        assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", rid)
        ids.add(rid)
    assert len(ids) == 3


def test_infer_timeout_parameter(srv):
    # §3: "timeout" is in microseconds; expiry is DEADLINE_EXCEEDED (504).
    r = srv.post("/v2/models/iris/infer", v2_json([iris_input(X3)], parameters={"timeout": 1}))
    assert (r.status, r.error) == (504, "deadline exceeded")
    r = srv.post("/v2/models/iris/infer",
                 v2_json([iris_input(X3)], parameters={"timeout": 30000000}))
    assert r.status == 200
    r = srv.post("/v2/models/iris/infer", v2_json([iris_input(X3)], parameters={"timeout": -5}))
    assert (r.status, r.error) == (400, "invalid parameter: timeout")
    r = srv.post("/v2/models/iris/infer",
                 v2_json([iris_input(X3)], parameters={"binary_data_output": "yes"}))
    assert (r.status, r.error) == (400, "invalid parameter: binary_data_output")


def test_infer_named_outputs(srv):
    a = np.array([[1, 2], [3, 4]], np.float32)
    b = np.array([[10, 20], [30, 40]], np.float32)
    ins = [{"name": "a", "shape": [2, 2], "datatype": "FP32", "data": a.flatten().tolist()},
           {"name": "b", "shape": [2, 2], "datatype": "FP32", "data": b.flatten().tolist()}]
    r = srv.post("/v2/models/multi/infer", v2_json(ins))
    outs = {o["name"]: o for o in r.json()["outputs"]}
    assert [o["name"] for o in r.json()["outputs"]] == ["sum", "prod"]
    assert outs["sum"]["data"] == (a + b).flatten().tolist()
    assert outs["prod"]["data"] == (a * b).flatten().tolist()
    r = srv.post("/v2/models/multi/infer", v2_json(ins, outputs=[{"name": "prod"}]))
    assert [o["name"] for o in r.json()["outputs"]] == ["prod"]
    r = srv.post("/v2/models/multi/infer", v2_json(ins, outputs=[{"name": "nope"}]))
    assert (r.status, r.error) == (400, "unknown output 'nope'")
    r = srv.post("/v2/models/multi/infer", v2_json(ins[:1]))
    assert (r.status, r.error) == (400, "missing input 'b'")


@pytest.mark.parametrize("model,dtype,values", [
    ("id_fp32", "FP32", [1.5, -0.0, 3.4028234663852886e38, 1e-45, -7.25, 0.1]),
    ("id_fp64", "FP64", [0.1, -1e300, 5e-324, 2.0, 3.141592653589793, -0.5]),
    ("id_int32", "INT32", [0, -1, 2147483647, -2147483648, 7, 123456]),
    ("id_int64", "INT64", [0, -1, 9223372036854775807, -9223372036854775808, 2**53 + 1, 5]),
    ("id_uint8", "UINT8", [0, 1, 127, 128, 254, 255]),
    ("id_int8", "INT8", [-128, -1, 0, 1, 126, 127]),
    ("id_bool", "BOOL", [True, False, True, True, False, False]),
    ("id_bytes", "BYTES", ["", "a", "héllo", "tab\tquote\"", "\u2603", "x" * 300]),
])
def test_datatypes_json_roundtrip(srv, model, dtype, values):
    inp = {"name": "x", "shape": [2, 3], "datatype": dtype, "data": values}
    r = srv.post("/v2/models/%s/infer" % model, v2_json([inp]))
    assert r.status == 200, r.body
    [out] = r.json()["outputs"]
    assert (out["name"], out["datatype"], out["shape"]) == ("y", dtype, [2, 3])
    if dtype == "FP32":  # shortest round-trip text of each float32
        assert np.array_equal(np.array(out["data"], np.float32), np.array(values, np.float32))
    else:
        assert out["data"] == values


def test_string_alias_for_bytes(srv):
    inp = {"name": "x", "shape": [1, 3], "datatype": "STRING", "data": ["a", "b", "c"]}
    r = srv.post("/v2/models/id_bytes/infer", v2_json([inp]))
    assert r.status == 200, r.body
    assert r.json()["outputs"][0]["datatype"] == "BYTES"


def test_nan_and_infinity_tokens_accepted(srv):
    body = (b'{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32",'
            b'"data":[NaN, Infinity, -Infinity]}]}')
    r = srv.post("/v2/models/id_fp32/infer", body)
    assert r.status == 200, r.body
    assert b'"data":[NaN,Infinity,-Infinity]' in r.body


def test_fp16_json_refused(srv):
    inp = {"name": "x", "shape": [1, 3], "datatype": "FP16", "data": [1, 2, 3]}
    r = srv.post("/v2/models/id_fp16/infer", v2_json([inp]))
    assert (r.status, r.error) == (400, "FP16 and BF16 data must be sent in binary: input 'x'")


# --------------------------------------------------------------------------
# Binary tensor extension (§4), byte layout both ways
# --------------------------------------------------------------------------

def post_binary(srv, path, header, blobs, extra=None):
    body, n = binary_body(header, blobs)
    h = {"Inference-Header-Content-Length": str(n), "Content-Type": "application/octet-stream"}
    h.update(extra or {})
    return srv.post(path, body, headers=h)


def test_binary_in_binary_out_iris(srv):
    x = X3
    header = {"inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32",
                          "parameters": {"binary_data_size": x.nbytes}}],
              "outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}
    r = post_binary(srv, "/v2/models/iris/infer", header, [x.astype("<f4").tobytes()])
    assert r.status == 200, r.body
    assert r.header("content-type") == "application/octet-stream"
    n = int(r.header("inference-header-content-length"))
    assert int(r.header("content-length")) == len(r.body) == n + 3 * 3 * 4
    head = json.loads(r.body[:n])
    [out] = head["outputs"]
    assert out == {"name": "probabilities", "datatype": "FP32", "shape": [3, 3],
                   "parameters": {"binary_data_size": 36}}
    got = np.frombuffer(r.body[n:], "<f4").reshape(3, 3)
    assert_close(got, iris_reference(x))


def test_binary_input_json_output(srv):
    header = {"inputs": [{"name": "input", "shape": [3, 4], "datatype": "FP32",
                          "parameters": {"binary_data_size": 48}}]}
    r = post_binary(srv, "/v2/models/iris/infer", header, [X3.astype("<f4").tobytes()])
    assert r.status == 200, r.body
    assert r.header("inference-header-content-length") is None
    assert r.header("content-type") == "application/json"
    assert_close(np.array(r.json()["outputs"][0]["data"]).reshape(3, 3), iris_reference(X3))


def test_binary_blobs_follow_input_order(srv):
    # Mixed: a in binary, b as JSON, then the reverse; outputs: sum binary,
    # prod JSON. Blobs appear in the order of the JSON inputs / outputs.
    a = np.array([[1, 2], [3, 4]], np.float32)
    b = np.array([[0.5, 0.25], [2, 8]], np.float32)
    header = {"inputs": [{"name": "b", "shape": [2, 2], "datatype": "FP32",
                          "parameters": {"binary_data_size": 16}},
                         {"name": "a", "shape": [2, 2], "datatype": "FP32",
                          "parameters": {"binary_data_size": 16}}],
              "outputs": [{"name": "prod"},
                          {"name": "sum", "parameters": {"binary_data": True}}]}
    r = post_binary(srv, "/v2/models/multi/infer", header, [b.tobytes(), a.tobytes()])
    assert r.status == 200, r.body
    head, blobs = split_binary(r)
    assert [o["name"] for o in head["outputs"]] == ["prod", "sum"]
    assert head["outputs"][0]["data"] == (a * b).flatten().tolist()
    assert "parameters" not in head["outputs"][0]
    assert blobs[1] == (a + b).astype("<f4").tobytes()


def test_binary_data_output_default(srv):
    a = np.ones((1, 2), np.float32)
    ins = [{"name": "a", "shape": [1, 2], "datatype": "FP32", "data": [1, 2]},
           {"name": "b", "shape": [1, 2], "datatype": "FP32", "data": [3, 4]}]
    # No outputs listed: binary_data_output applies to all of them.
    r = srv.post("/v2/models/multi/infer", v2_json(ins, parameters={"binary_data_output": True}))
    head, blobs = split_binary(r)
    assert [o["parameters"]["binary_data_size"] for o in head["outputs"]] == [8, 8]
    assert blobs == [np.array([4, 6], "<f4").tobytes(), np.array([3, 8], "<f4").tobytes()]
    # A listed output uses its own binary_data (default false) (§4).
    r = srv.post("/v2/models/multi/infer", v2_json(ins, outputs=[{"name": "sum"}],
                                                   parameters={"binary_data_output": True}))
    assert r.header("inference-header-content-length") is None
    assert r.json()["outputs"][0]["data"] == [4, 6]
    del a


@pytest.mark.parametrize("model,dtype,arr", [
    ("id_int32", "INT32", np.array([[1, -2, 2**31 - 1], [-2**31, 0, 5]], "<i4")),
    ("id_int64", "INT64", np.array([[1, -2, 2**63 - 1], [-2**63, 0, 5]], "<i8")),
    ("id_uint8", "UINT8", np.array([[0, 255, 7], [1, 2, 3]], "u1")),
    ("id_fp64", "FP64", np.array([[0.1, -2, 1e300], [5e-324, 0, 5]], "<f8")),
    ("id_bool", "BOOL", np.array([[1, 0, 1], [0, 0, 1]], "u1")),
    ("id_fp16", "FP16", np.array([[1.5, -2, 65504], [0.000061035156, 0, 5]], "<f2")),
])
def test_binary_fixed_size_roundtrip(srv, model, dtype, arr):
    raw = arr.tobytes()
    header = {"inputs": [{"name": "x", "shape": [2, 3], "datatype": dtype,
                          "parameters": {"binary_data_size": len(raw)}}],
              "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}
    r = post_binary(srv, "/v2/models/%s/infer" % model, header, [raw])
    assert r.status == 200, r.body
    head, [blob] = split_binary(r)
    assert head["outputs"][0]["datatype"] == dtype
    assert head["outputs"][0]["shape"] == [2, 3]
    assert blob == raw


def test_fp16_output_must_be_binary(srv):
    raw = np.zeros((1, 3), "<f2").tobytes()
    header = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP16",
                          "parameters": {"binary_data_size": 6}}]}
    r = post_binary(srv, "/v2/models/id_fp16/infer", header, [raw])
    assert (r.status, r.error) == (400, "FP16 and BF16 outputs must be requested in binary: output 'y'")


def test_bytes_binary_layout_both_ways(srv):
    # §2: ["ab", ""] is 02 00 00 00 61 62 00 00 00 00.
    assert bytes_blob(["ab", ""]) == bytes.fromhex("02000000616200000000")
    elems = ["ab", "", "\u00e9\u2603"]
    blob = bytes_blob(elems)
    header = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "BYTES",
                          "parameters": {"binary_data_size": len(blob)}}],
              "outputs": [{"name": "y", "parameters": {"binary_data": True}}]}
    r = post_binary(srv, "/v2/models/id_bytes/infer", header, [blob])
    assert r.status == 200, r.body
    head, [out] = split_binary(r)
    assert head["outputs"][0]["datatype"] == "BYTES"
    assert head["outputs"][0]["parameters"]["binary_data_size"] == len(blob)
    assert out == (b"\x02\x00\x00\x00ab" + b"\x00\x00\x00\x00" +
                   struct.pack("<I", 5) + "\u00e9\u2603".encode())
    # JSON in, binary out: the same bytes.
    inp = {"name": "x", "shape": [1, 3], "datatype": "BYTES", "data": elems}
    r = srv.post("/v2/models/id_bytes/infer",
                 v2_json([inp], outputs=[{"name": "y", "parameters": {"binary_data": True}}]))
    assert split_binary(r)[1][0] == blob
    # Binary in, JSON out.
    header["outputs"] = [{"name": "y"}]
    r = post_binary(srv, "/v2/models/id_bytes/infer", header, [blob])
    assert r.json()["outputs"][0]["data"] == elems


def test_bytes_two_binary_inputs_large_second(srv):
    # The second input's strings are big enough to move the server's string
    # scratch: the first input's elements must survive that.
    a = ["first", "", "x" * 10]
    b = [("b%d-" % i) * 5000 for i in range(3)]
    blob_a, blob_b = bytes_blob(a), bytes_blob(b)
    header = {"inputs": [{"name": "a", "shape": [3], "datatype": "BYTES",
                          "parameters": {"binary_data_size": len(blob_a)}},
                         {"name": "b", "shape": [3], "datatype": "BYTES",
                          "parameters": {"binary_data_size": len(blob_b)}}],
              "outputs": [{"name": "ya", "parameters": {"binary_data": True}},
                          {"name": "yb_bytes", "parameters": {"binary_data": True}}]}
    r = post_binary(srv, "/v2/models/bytes_pair/infer", header, [blob_a, blob_b])
    assert r.status == 200, r.body
    head, blobs = split_binary(r)
    assert blobs == [blob_a, blob_b]
    # JSON out as well.
    header["outputs"] = [{"name": "ya"}, {"name": "yb_bytes"}]
    r = post_binary(srv, "/v2/models/bytes_pair/infer", header, [blob_a, blob_b])
    assert [o["data"] for o in r.json()["outputs"]] == [a, b]


def test_v1_bytes_output_name_means_b64(srv):
    r = srv.post("/v1/models/bytes_pair:predict", {"instances": [{"a": "plain", "b": "raw"}]})
    assert r.status == 200, r.body
    assert r.json() == {"predictions": [{"ya": "plain", "yb_bytes": {"b64": "cmF3"}}]}
    r = srv.post("/v1/models/bytes_pair:predict", {"inputs": {"a": ["p", "q"], "b": ["", "xy"]}})
    assert r.json() == {"outputs": {"ya": ["p", "q"], "yb_bytes": [{"b64": ""}, {"b64": "eHk="}]}}


def test_bytes_embedded_nul_never_truncated(srv):
    # The engine keeps BYTES elements as C strings: an element with a NUL
    # inside cannot round-trip, so it must be refused, never cut short.
    blob = bytes_blob([b"a\x00b", b"c", b"d"])
    header = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "BYTES",
                          "parameters": {"binary_data_size": len(blob)}}]}
    r = post_binary(srv, "/v2/models/id_bytes/infer", header, [blob])
    assert (r.status, r.error) == (400, "invalid bytes element: embedded NUL in input 'x'")
    inp = {"name": "x", "shape": [1, 3], "datatype": "BYTES", "data": ["a\u0000b", "c", "d"]}
    r = srv.post("/v2/models/id_bytes/infer", v2_json([inp]))
    assert (r.status, r.error) == (400, "invalid bytes element: embedded NUL in input 'x'")


def test_raw_binary_request(srv):
    # Inference-Header-Content-Length: 0: the body is the single input's
    # data, batch 1, every output in binary (§4).
    x = np.array([1.5, -2.0, 3.25, 0.0, 7.0], "<f4")
    r = srv.post("/v2/models/id_vec/infer", x.tobytes(),
                 headers={"Inference-Header-Content-Length": "0",
                          "Content-Type": "application/octet-stream"})
    assert r.status == 200, r.body
    head, [blob] = split_binary(r)
    assert head["outputs"][0]["shape"] == [5]
    assert blob == x.tobytes()
    # iris [N,4]: one variable dim, so 32 bytes are 2 rows.
    r = srv.post("/v2/models/iris/infer", X3[:2].tobytes(),
                 headers={"Inference-Header-Content-Length": "0"})
    assert r.status == 200, r.body
    head, [blob] = split_binary(r)
    assert head["outputs"][0]["shape"] == [2, 3]
    assert_close(np.frombuffer(blob, "<f4").reshape(2, 3), iris_reference(X3[:2]))
    # Not a whole number of rows.
    r = srv.post("/v2/models/iris/infer", b"\0" * 20,
                 headers={"Inference-Header-Content-Length": "0"})
    assert (r.status, r.error) == (400, "binary data size mismatch")
    # Raw binary needs a single-input model.
    r = srv.post("/v2/models/multi/infer", b"\0" * 16,
                 headers={"Inference-Header-Content-Length": "0"})
    assert (r.status, r.error) == (400, "raw binary request needs a model with exactly one input")


def test_binary_validation(srv):
    x = X3[:1].tobytes()
    ok = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                      "parameters": {"binary_data_size": 16}}]}
    # Both data and binary_data_size.
    bad = json.loads(json.dumps(ok))
    bad["inputs"][0]["data"] = [1, 2, 3, 4]
    r = post_binary(srv, "/v2/models/iris/infer", bad, [x])
    assert (r.status, r.error) == (400, "input 'input' has both data and binary_data_size")
    # Blob sizes do not add up to body - N (extra trailing bytes).
    r = post_binary(srv, "/v2/models/iris/infer", ok, [x + b"\0\0\0\0"])
    assert (r.status, r.error) == (400, "binary data size mismatch")
    # Binary data without the header: the body is not JSON.
    body, _ = binary_body(ok, [x])
    r = srv.post("/v2/models/iris/infer", body)
    assert (r.status, r.error) == (400, "invalid json")


# --------------------------------------------------------------------------
# Classification (§5)
# --------------------------------------------------------------------------

def test_classification(srv):
    ref = iris_reference(X3)
    out_req = [{"name": "probabilities", "parameters": {"classification": 2}}]
    r = srv.post("/v2/models/iris/infer", v2_json([iris_input(X3)], outputs=out_req))
    assert r.status == 200, r.body
    [out] = r.json()["outputs"]
    assert (out["datatype"], out["shape"]) == ("BYTES", [3, 2])
    for row in range(3):
        order = np.argsort(-ref[row], kind="stable")[:2]
        got = out["data"][row * 2:row * 2 + 2]
        assert [int(s.split(":")[1]) for s in got] == order.tolist()
        assert_close([float(s.split(":")[0]) for s in got], ref[row][order], tol=1e-5)
    # N above the class count is clamped (§5).
    out_req[0]["parameters"]["classification"] = 10
    r = srv.post("/v2/models/iris/infer", v2_json([iris_input(X3)], outputs=out_req))
    assert r.json()["outputs"][0]["shape"] == [3, 3]
    # Binary classification output: BYTES layout.
    out_req[0]["parameters"] = {"classification": 1, "binary_data": True}
    r = srv.post("/v2/models/iris/infer", v2_json([iris_input(X3[:1])], outputs=out_req))
    head, [blob] = split_binary(r)
    assert head["outputs"][0]["datatype"] == "BYTES"
    (n,) = struct.unpack("<I", blob[:4])
    assert len(blob) == 4 + n and blob[4:].decode().endswith(":%d" % int(np.argmax(ref[0])))


def test_classification_count_below_one(srv):
    out_req = [{"name": "probabilities", "parameters": {"classification": 0}}]
    r = srv.post("/v2/models/iris/infer", v2_json([iris_input(X3)], outputs=out_req))
    assert (r.status, r.error) == (400, "classification count must be at least 1: output 'probabilities'")


# --------------------------------------------------------------------------
# Statistics (§8)
# --------------------------------------------------------------------------

def test_statistics(srv):
    def stats(path):
        r = srv.get(path)
        assert r.status == 200, r.body
        return r.json()["model_stats"]

    [before] = stats("/v2/models/id_int8/stats")
    inp = {"name": "x", "shape": [2, 3], "datatype": "INT8", "data": [1, 2, 3, 4, 5, 6]}
    for _ in range(3):
        assert srv.post("/v2/models/id_int8/infer", v2_json([inp])).status == 200
    bad = dict(inp, shape=[3, 3])
    assert srv.post("/v2/models/id_int8/infer", v2_json([bad])).status == 400
    [after] = stats("/v2/models/id_int8/versions/1/stats")
    assert after["name"] == "id_int8" and after["version"] == "1"
    assert after["inference_count"] - before["inference_count"] == 6  # batch elements
    assert after["execution_count"] - before["execution_count"] == 3
    ist = after["inference_stats"]
    assert ist["success"]["count"] - before["inference_stats"]["success"]["count"] == 3
    assert ist["fail"]["count"] - before["inference_stats"]["fail"]["count"] == 1
    assert ist["cache_hit"] == {"count": 0, "ns": 0} and ist["cache_miss"] == {"count": 0, "ns": 0}
    assert set(ist) == {"success", "fail", "queue", "compute_input", "compute_infer",
                        "compute_output", "cache_hit", "cache_miss"}
    assert after["last_inference"] > 1.6e12
    assert after["response_stats"] == {} and after["memory_usage"] == []
    assert any(b["batch_size"] == 2 and b["compute_infer"]["count"] >= 3 for b in after["batch_stats"])
    names = {m["name"] for m in stats("/v2/models/stats")}
    assert {"iris", "id_int8", "mnist"} <= names
    r = srv.get("/v2/models/nosuchmodel/stats")
    assert (r.status, r.error) == (404, "model not found")
    r = srv.get("/v2/models/iris/versions/9/stats")
    assert (r.status, r.error) == (404, "model version not found")


# --------------------------------------------------------------------------
# KServe V1 / TF Serving (§9)
# --------------------------------------------------------------------------

def test_v1_list_and_status(srv):
    r = srv.get("/v1/models")
    assert r.status == 200
    assert {"iris", "mnist", "multi"} <= set(r.json()["models"])
    r = srv.get("/v1/models/iris")
    assert r.json() == {"name": "iris", "ready": True, "model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert srv.get("/v1/models/iris/versions/1").status == 200
    r = srv.get("/v1/models/nosuchmodel")
    assert (r.status, r.error) == (404, "model not found")


def test_v1_row_format(srv):
    r = srv.post("/v1/models/iris:predict", {"instances": X3.tolist()})
    assert r.status == 200, r.body
    preds = r.json()["predictions"]
    assert len(preds) == 3 and all(len(p) == 3 for p in preds)
    assert_close(preds, iris_reference(X3))
    r = srv.post("/v1/models/iris/versions/1:predict", {"instances": X3[:1].tolist()})
    assert_close(r.json()["predictions"], iris_reference(X3[:1]))
    r = srv.post("/v1/models/iris/labels/stable:predict",
                 {"signature_name": "serving_default", "instances": X3[:1].tolist()})
    assert r.status == 200, r.body


def test_v1_columnar_format(srv):
    r = srv.post("/v1/models/iris:predict", {"inputs": X3.tolist()})
    assert r.status == 200, r.body
    assert_close(r.json()["outputs"], iris_reference(X3))
    r = srv.post("/v1/models/iris:predict", {"inputs": {"input": X3[:2].tolist()}})
    assert_close(r.json()["outputs"], iris_reference(X3[:2]))


def test_v1_multi_input_output(srv):
    rows = [{"a": [1, 2], "b": [3, 4]}, {"a": [5, 6], "b": [7, 8]}]
    r = srv.post("/v1/models/multi:predict", {"instances": rows})
    assert r.status == 200, r.body
    assert r.json() == {"predictions": [{"sum": [4, 6], "prod": [3, 8]},
                                        {"sum": [12, 14], "prod": [35, 48]}]}
    r = srv.post("/v1/models/multi:predict", {"inputs": {"a": [[1, 2]], "b": [[3, 4]]}})
    assert r.json() == {"outputs": {"sum": [[4, 6]], "prod": [[3, 8]]}}
    r = srv.post("/v1/models/multi:predict", {"instances": [{"a": [1, 2]}]})
    assert (r.status, r.error) == (400, "missing input 'b'")


def test_v1_bytes_and_b64(srv):
    r = srv.post("/v1/models/id_bytes:predict", {"instances": [["a", "bc", ""]]})
    assert r.status == 200, r.body
    assert r.json() == {"predictions": [["a", "bc", ""]]}
    b64 = base64.b64encode(b"hi there").decode()
    r = srv.post("/v1/models/id_bytes:predict",
                 {"instances": [[{"b64": b64}, "x", {"b64": ""}]]})
    assert r.json() == {"predictions": [["hi there", "x", ""]]}


def test_v1_non_utf8_bytes_output_is_b64(srv):
    # §9: a BYTES output that is not valid UTF-8 is emitted as {"b64": ...}.
    raw = b"\xff\xfe\x80ok"
    b64 = base64.b64encode(raw).decode()
    r = srv.post("/v1/models/id_bytes:predict", {"instances": [[{"b64": b64}, "x", "y"]]})
    assert r.status == 200, r.body
    assert r.json() == {"predictions": [[{"b64": b64}, "x", "y"]]}


def test_v1_bool_and_int(srv):
    r = srv.post("/v1/models/id_bool:predict", {"instances": [[True, False, True]]})
    assert r.json() == {"predictions": [[True, False, True]]}
    r = srv.post("/v1/models/id_int64:predict", {"inputs": [[1, -2, 9007199254740993]]})
    assert r.json() == {"outputs": [[1, -2, 9007199254740993]]}


def test_v1_request_errors(srv):
    r = srv.post("/v1/models/iris:predict", {"instances": X3.tolist(), "inputs": X3.tolist()})
    assert (r.status, r.error) == (400, "request needs exactly one of instances or inputs")
    r = srv.post("/v1/models/iris:predict", {})
    assert (r.status, r.error) == (400, "request needs exactly one of instances or inputs")
    r = srv.post("/v1/models/iris:predict", {"instances": [[1, 2, 3, 4], [1, 2, 3]]})
    assert (r.status, r.error) == (400, "instances have unequal shapes for input 'input'")
    r = srv.post("/v1/models/iris:predict", {"signature_name": "other", "instances": [[1, 2, 3, 4]]})
    assert (r.status, r.error) == (400, "unknown signature_name")
    r = srv.post("/v1/models/iris:explain", {"instances": [[1, 2, 3, 4]]})
    assert (r.status, r.error) == (501, "not implemented")
    r = srv.get("/v1/models/iris/metadata")
    assert (r.status, r.error) == (501, "not implemented")
    r = srv.post("/v1/models/nosuchmodel:predict", {"instances": [[1]]})
    assert (r.status, r.error) == (404, "model not found")
    r = srv.get("/v1/models/iris:predict")
    assert (r.status, r.error) == (405, "method not allowed")


# --------------------------------------------------------------------------
# Triton's own client (tritonclient[http])
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def triton(srv):
    import tritonclient.http as httpclient
    c = httpclient.InferenceServerClient(srv.url, concurrency=2, network_timeout=30)
    yield c
    c.close()


def test_tritonclient_health_and_metadata(triton):
    assert triton.is_server_live()
    assert triton.is_server_ready()
    assert triton.is_model_ready("iris")
    assert not triton.is_model_ready("nosuchmodel")
    md = triton.get_server_metadata()
    assert md["name"] == "axle" and "binary_tensor_data" in md["extensions"]
    mm = triton.get_model_metadata("iris")
    assert mm["inputs"][0] == {"name": "input", "datatype": "FP32", "shape": [-1, 4]}


@pytest.mark.parametrize("bin_in,bin_out", [(False, False), (True, False), (False, True),
                                            (True, True)])
def test_tritonclient_infer_iris(triton, bin_in, bin_out):
    import tritonclient.http as httpclient
    inp = httpclient.InferInput("input", list(X3.shape), "FP32")
    inp.set_data_from_numpy(X3, binary_data=bin_in)
    out = httpclient.InferRequestedOutput("probabilities", binary_data=bin_out)
    res = triton.infer("iris", [inp], outputs=[out], request_id="t-1")
    assert_close(res.as_numpy("probabilities"), iris_reference(X3))
    resp = res.get_response()
    assert resp["model_name"] == "iris" and resp["id"] == "t-1"


def test_tritonclient_datatypes(triton):
    import tritonclient.http as httpclient
    cases = [("id_int32", "INT32", np.array([[1, -2, 3]], np.int32)),
             ("id_bool", "BOOL", np.array([[True, False, True]])),
             ("id_fp16", "FP16", np.array([[1.5, -2.0, 0.25]], np.float16)),
             ("id_bytes", "BYTES", np.array([[b"ab", b"", b"xyz"]], np.object_))]
    for model, dt, arr in cases:
        for binary in (True, False):
            if dt == "FP16" and not binary:
                continue
            inp = httpclient.InferInput("x", list(arr.shape), dt)
            inp.set_data_from_numpy(arr, binary_data=binary)
            out = httpclient.InferRequestedOutput("y", binary_data=binary or dt == "FP16")
            res = triton.infer(model, [inp], outputs=[out])
            got = res.as_numpy("y")
            if dt == "BYTES":
                got = np.array([[e if isinstance(e, bytes) else e.encode() for e in row]
                                for row in got], np.object_)
            assert got.shape == arr.shape and (got == arr).all(), (model, binary, got)


def test_tritonclient_classification_and_stats(triton):
    import tritonclient.http as httpclient
    inp = httpclient.InferInput("input", list(X3.shape), "FP32")
    inp.set_data_from_numpy(X3)
    out = httpclient.InferRequestedOutput("probabilities", class_count=1)
    res = triton.infer("iris", [inp], outputs=[out])
    top = res.as_numpy("probabilities")
    assert top.shape == (3, 1)
    ref = iris_reference(X3)
    assert [int(e.decode().split(":")[1]) for e in top[:, 0]] == np.argmax(ref, 1).tolist()
    st = triton.get_inference_statistics("iris")
    assert st["model_stats"][0]["name"] == "iris"
    assert st["model_stats"][0]["inference_count"] >= 3


def test_tritonclient_errors(triton):
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException
    inp = httpclient.InferInput("input", [1, 5], "FP32")
    inp.set_data_from_numpy(np.zeros((1, 5), np.float32))
    with pytest.raises(InferenceServerException) as e:
        triton.infer("iris", [inp])
    assert "invalid shape for input 'input': expected [-1,4], got [1,5]" in str(e.value)
    with pytest.raises(InferenceServerException) as e:
        triton.get_model_repository_index()
    assert "model control disabled" in str(e.value)
