"""SECURITY.md §5.8 bad-input catalogue against the real `axle serve` binary.

Each test is named after its catalogue row (H = HTTP framing, J = JSON,
T = tensors, R = repository/management, A = auth, L = logs) and asserts the
exact status, the exact {"error": "..."} body the server uses for that row's
gist, and - where the row says "close" - that the server closed the
connection after answering. Rows about gRPC, HTTP/2, metrics, batching,
the prediction log and feedback are out of scope for this server build.

HTTP framing cases use raw sockets: Python's HTTP clients would refuse to
send most of these bytes.
"""

import json
import os
import re
import select
import time

import numpy as np
import pytest

from serve_util import (TOKEN_INFER, TOKEN_MGMT, Server, binary_body, build_zoo, bytes_blob,
                        connect, exchange, gz, http_req_bytes, iris_input, put_model,
                        recv_all, token_file, v2_json)

MAX_BODY = 64 << 20
X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)
VALID = v2_json([iris_input(X)])
INFER = "/v2/models/iris/infer"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    repo = d / "repo"
    repo.mkdir()
    build_zoo(repo)
    with Server(repo, "--header-timeout", "2", "--body-timeout", "2", threads=2,
                tmpdir=str(d)) as s:
        yield s


@pytest.fixture(scope="module")
def authsrv(tmp_path_factory):
    """Explicit model control with a management and an inference token."""
    d = tmp_path_factory.mktemp("auth")
    repo = d / "repo"
    repo.mkdir()
    put_model(repo, "iris", 1, os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                                            "models", "iris", "1", "model.onnx"))
    put_model(repo, "iris2", 1, os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                                             "models", "iris", "1", "model.onnx"))
    mt = token_file(d, "mgmt.token", TOKEN_MGMT)
    it = token_file(d, "infer.token", TOKEN_INFER)
    with Server(repo, "--model-control", "explicit", "--management-token-file", mt,
                "--inference-token-file", it, tmpdir=str(d)) as s:
        for m in ("iris", "iris2"):
            r = s.post("/v2/repository/models/%s/load" % m, headers=MGMT)
            assert r.status == 200, r.body
        yield s


MGMT = {"Authorization": "Bearer " + TOKEN_MGMT}
INF = {"Authorization": "Bearer " + TOKEN_INFER}


@pytest.fixture(autouse=True)
def _still_alive(request):
    yield
    for name in ("srv", "authsrv"):
        if name in request.fixturenames:
            s = request.getfixturevalue(name)
            assert s.alive(), "server died:\n" + s.stderr()[-4000:]
            assert s.get("/v2/health/live").status == 200


def expect(port, data, status, msg, close=True, allow=None):
    """One response with exactly this status and {"error": msg}; with
    close=True the server must also say Connection: close and close."""
    resps, closed, raw = exchange(port, data, n=1, wait_close=3 if close else None)
    assert len(resps) == 1, raw[:2000]
    r = resps[0]
    assert (r.status, r.error) == (status, msg), r
    if close:
        assert r.header("connection") == "close", r.headers
        assert closed, "connection left open"
    if allow is not None:
        assert r.header("allow") == allow
    return r


def req(method, path, body=b"", headers=None, **kw):
    h = {"Content-Type": "application/json"} if body else {}
    h.update(headers or {})
    return http_req_bytes(method, path, body, h, **kw)


# --------------------------------------------------------------------------
# H: HTTP/1.1 framing (D21, D24)
# --------------------------------------------------------------------------

def test_H1_request_line_too_long(srv):
    expect(srv.port, req("GET", "/v2/health/" + "a" * 9 * 1024), 414, "request line too long")


def test_H2_header_line_too_long(srv):
    expect(srv.port, req("GET", "/v2/health/live", headers={"X-Big": "b" * 9 * 1024}),
           431, "header too large")


def test_H2_headers_total_too_large(srv):
    h = {"X-H%02d" % i: "v" * 1000 for i in range(40)}  # 40 KiB > 32 KiB, 40 fields
    expect(srv.port, req("GET", "/v2/health/live", headers=h), 431, "header too large")


def test_H3_too_many_headers(srv):
    h = {"X-H%03d" % i: "v" for i in range(100)}  # + Host = 101 fields
    expect(srv.port, req("GET", "/v2/health/live", headers=h), 431, "too many headers")
    # 100 fields is within the limit.
    h.pop("X-H000")
    r, _, _ = exchange(srv.port, req("GET", "/v2/health/live", headers=h))
    assert r[0].status == 200


def test_H4_cl_and_te(srv):
    data = (b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    expect(srv.port, data, 400, "conflicting content-length and transfer-encoding")


@pytest.mark.parametrize("cls", [["5", "6"], ["5, 6"], ["5", "5"]])
def test_H5_multiple_content_length(srv, cls):
    data = b"POST /v2/health/live HTTP/1.1\r\nHost: x\r\n"
    data += b"".join(b"Content-Length: %s\r\n" % c.encode() for c in cls) + b"\r\nhello6"
    expect(srv.port, data, 400, "invalid content-length")


@pytest.mark.parametrize("cl", ["-1", "+5", "0x10", "5a", "99999999999999999999", "", " 5 5"])
def test_H6_invalid_content_length(srv, cl):
    data = b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: " + \
        cl.encode() + b"\r\n\r\n12345"
    expect(srv.port, data, 400, "invalid content-length")


def test_H7_body_limit_plus_one(srv):
    # Only the head is sent: the 413 must come before any body is read.
    data = (b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b"\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1))
    rss0 = rss_kib(srv)
    expect(srv.port, data, 413, "body too large")
    assert rss_kib(srv) - rss0 < 16 * 1024  # nothing allocated at the declared size


def test_H7_body_at_limit_is_read(srv):
    # Exactly the limit is allowed (it is a bad request body, not a 413).
    s = connect(srv.port)
    try:
        s.sendall(b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                  % MAX_BODY)
        s.sendall(b" " * MAX_BODY)
        raw, _, _ = recv_all(s, 30, until_responses=1)
    finally:
        s.close()
    assert raw.startswith(b"HTTP/1.1 400 "), raw[:200]


def test_H8_chunk_size_overflow(srv):
    data = (b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"FFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n")
    expect(srv.port, data, 400, "invalid chunk size")


def test_H9_one_byte_chunks(srv):
    # ~1 MB valid infer body (mnist batch 64 with long decimals) as one-byte
    # chunks: ~6 MB on the wire. 200, and memory stays bounded.
    x = np.random.default_rng(1).random((64, 1, 28, 28)).astype(np.float32)
    body = ('{"inputs":[{"name":"image","shape":[64,1,28,28],"datatype":"FP32","data":[%s]}]}'
            % ",".join("%.17f" % v for v in x.flatten())).encode()
    assert 0.9e6 < len(body) < 1.3e6
    wire = b"".join(b"1\r\n" + body[i:i + 1] + b"\r\n" for i in range(len(body))) + b"0\r\n\r\n"
    head = (b"POST /v2/models/mnist/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    rss0 = rss_kib(srv)
    resps, _, raw = exchange(srv.port, [head, wire], timeout=60)
    assert resps and resps[0].status == 200, raw[:300]
    out = resps[0].json()["outputs"][0]
    assert out["shape"] == [64, 10]
    assert rss_kib(srv) - rss0 < 2 * len(body) / 1024 + 16 * 1024


def test_H10_chunk_extension_too_long(srv):
    data = (b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5;ext=" + b"e" * (1 << 20) + b"\r\nhello\r\n0\r\n\r\n")
    expect(srv.port, data, 400, "chunk extension too long")


def test_H10_short_chunk_extension_is_fine(srv):
    data = (b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" +
            b"%x;name=value\r\n" % len(VALID) + VALID + b"\r\n0\r\n\r\n")
    r, _, _ = exchange(srv.port, data)
    assert r[0].status == 200, r


@pytest.mark.parametrize("te,status,msg", [
    ("gzip, chunked", 501, "unsupported transfer-encoding"),
    ("xchunked", 501, "unsupported transfer-encoding"),
    ("chunked, chunked", 400, "invalid transfer-encoding"),
])
def test_H11_transfer_encoding(srv, te, status, msg):
    data = (b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " +
            te.encode() + b"\r\n\r\n0\r\n\r\n")
    expect(srv.port, data, status, msg)


@pytest.mark.parametrize("data", [
    b"GET /v2/health/live HTTP/1.1\nHost: x\n\n",                            # bare LF
    b"GET /v2/health/live HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n",              # one bare LF
    b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",      # obs-fold
    b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-A: b\x00c\r\n\r\n",       # NUL in a value
    b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",           # space before colon
], ids=["bare_lf", "one_bare_lf", "obs_fold", "nul", "space_before_colon"])
def test_H12_malformed_head(srv, data):
    expect(srv.port, data, 400, "malformed request")


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "FOOBAR"])
def test_H13_method_not_implemented(srv, method):
    target = "127.0.0.1:1" if method == "CONNECT" else "/v2/health/live"
    data = ("%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method, target)).encode()
    resps, _, raw = exchange(srv.port, data)
    assert len(resps) == 1, raw
    assert (resps[0].status, resps[0].error) == (501, "method not implemented")


def test_H13_method_not_allowed(srv):
    expect(srv.port, req("DELETE", INFER), 405, "method not allowed", close=False, allow="POST")
    expect(srv.port, req("PUT", "/v2/health/ready"), 405, "method not allowed", close=False,
           allow="GET, HEAD")


def test_H14_header_trickle_times_out(srv):
    # --header-timeout 2 here (10 s by default): one byte every 0.25 s.
    head = b"GET /v2/health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"z" * 200
    s = connect(srv.port)
    t0 = time.monotonic()
    got = b""
    try:
        for i in range(len(head)):
            try:
                s.sendall(head[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            r, _, _ = select.select([s], [], [], 0.25)
            if r:
                break
        got, closed, _ = recv_all(s, 5)
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    assert got.startswith(b"HTTP/1.1 408 "), got[:200]
    assert b'{"error":"request header timeout"}' in got
    assert b"Connection: close" in got
    assert closed
    assert 1.9 < elapsed < 4.5, elapsed  # header deadline + at most one sweep


def test_H15_gzip_bomb(srv):
    # 64 MiB + 1 of zeros (~64 KiB gzipped): over the 100:1 ratio long
    # before the body limit. 413, and memory stays bounded.
    bomb = gz(b"\0" * (MAX_BODY + 1))
    data = req("POST", INFER, bomb, {"Content-Encoding": "gzip"})
    rss0 = rss_kib(srv)
    expect(srv.port, data, 413, "decompressed body too large")
    assert rss_kib(srv) - rss0 < (MAX_BODY >> 10) + 8 * 1024
    small = gz(b" " * (1 << 20))  # ~1 KiB that inflates to 1 MiB
    assert len(small) < 2048
    expect(srv.port, req("POST", INFER, small, {"Content-Encoding": "gzip"}), 413,
           "decompressed body too large")


def test_H16_500_pipelined_gets(srv):
    paths = ["/v2/health/live", "/v2/health/ready", "/v2/models/iris/ready", "/v2"]
    data = b"".join(req("GET", paths[i % 4]) for i in range(500))
    resps, _, raw = exchange(srv.port, data, n=500, timeout=30)
    assert len(resps) == 500
    for i, r in enumerate(resps):
        assert r.status == 200
        want = {0: b'{"live":true}', 1: b'{"ready":true}', 2: b'{"name":"iris","ready":true}'}
        if i % 4 in want:
            assert r.body == want[i % 4], (i, r.body)
        else:
            assert r.json()["name"] == "axle"


def test_H17_expect_continue_oversized(srv):
    data = (b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % (MAX_BODY + 1))
    r = expect(srv.port, data, 413, "body too large")
    resps, _, raw = exchange(srv.port, data, wait_close=2)
    assert b"100 Continue" not in raw
    del r


def test_H18_unsupported_content_encoding(srv):
    expect(srv.port, req("POST", INFER, b"xxxx", {"Content-Encoding": "br"}), 415,
           "unsupported content-encoding", close=False)


def test_H19_missing_host(srv):
    expect(srv.port, b"GET /v2/health/live HTTP/1.1\r\n\r\n", 400, "missing host")
    # HTTP/1.0 needs no Host.
    r, _, _ = exchange(srv.port, b"GET /v2/health/live HTTP/1.0\r\n\r\n")
    assert r[0].status == 200


@pytest.mark.parametrize("path", ["/v2/./health/live", "/v2/health/../health/live",
                                  "/v2/health/li%2Fve", "/v2/%2E%2E/v2/health/live",
                                  "/v2/models/iris/%2e/ready", "/v2/health/live%00"])
def test_H20_dot_segments_and_encoded_slash(srv, path):
    expect(srv.port, req("GET", path), 400, "invalid path", close=False)


# --------------------------------------------------------------------------
# J: JSON (D16, D22)
# --------------------------------------------------------------------------

def post(srv, path, body, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return srv.post(path, body, headers=h)


def test_J1_deep_nesting(srv):
    r = post(srv, INFER, b'{"inputs":' + b"[" * 50000)
    assert (r.status, r.error) == (400, "json nesting too deep")
    r = post(srv, "/v1/models/iris:predict", b'{"instances":' + b"[" * 50000 + b"]" * 50000 + b"}")
    assert (r.status, r.error) == (400, "json nesting too deep")


@pytest.mark.parametrize("body", [VALID[:-7], VALID + b"x", VALID + b"{}", b"", b"{"])
def test_J2_truncated_or_trailing(srv, body):
    r = post(srv, INFER, body)
    assert (r.status, r.error) == (400, "invalid json")


@pytest.mark.parametrize("body", [
    b'{"id":"\xff\xfe","inputs":[]}', b'{"id":"\xc0\xae","inputs":[]}',
    b'{"id":"\\ud800","inputs":[]}', b'{"id":"\\udc00x","inputs":[]}',
])
def test_J3_invalid_utf8_and_lone_surrogate(srv, body):
    r = post(srv, INFER, body)
    assert (r.status, r.error) == (400, "invalid json")


def test_J4_duplicate_key(srv):
    body = b'{"inputs":[],' + VALID[1:]
    r = post(srv, INFER, body)
    assert (r.status, r.error) == (400, "duplicate key")


@pytest.mark.parametrize("model,dtype,text", [
    ("id_fp32", "FP32", "1e400"), ("id_fp32", "FP32", "-1e39"), ("id_fp64", "FP64", "1e400"),
    ("id_int32", "INT32", "NaN"), ("id_int32", "INT32", "1.5"),
    ("id_int32", "INT32", "2147483648"), ("id_uint8", "UINT8", "256"),
    ("id_uint8", "UINT8", "-1"), ("id_int64", "INT64", "9223372036854775808"),
    ("id_int8", "INT8", "-129"), ("id_bool", "BOOL", "1"),
])
def test_J5_value_out_of_range(srv, model, dtype, text):
    body = ('{"inputs":[{"name":"x","shape":[1,3],"datatype":"%s","data":[%s,0,0]}]}'
            % (dtype, text)).encode()
    if dtype == "BOOL":
        body = body.replace(b",0,0]", b",true,false]")
    r = post(srv, "/v2/models/%s/infer" % model, body)
    assert (r.status, r.error) == (400, "value out of range for datatype: input 'x'")


def test_J6_data_length_mismatch(srv):
    inp = iris_input(X)
    inp["shape"] = [3, 4]
    r = post(srv, INFER, v2_json([inp]))
    assert (r.status, r.error) == (400, "data length does not match shape: input 'input'")
    inp = iris_input(X)
    inp["data"] = inp["data"] + [1.0]
    r = post(srv, INFER, v2_json([inp]))
    assert (r.status, r.error) == (400, "data length does not match shape: input 'input'")


def test_J7_too_many_inputs(srv):
    ins = [dict(iris_input(X), name="in%d" % i) for i in range(65)]
    r = post(srv, INFER, v2_json(ins))
    assert (r.status, r.error) == (400, "too many inputs")


def test_J7_too_many_outputs(srv):
    outs = b",".join([b'{"name":"probabilities"}'] * 1000000)
    body = VALID[:-1] + b',"outputs":[' + outs + b"]}"
    r = post(srv, INFER, body)
    assert (r.status, r.error) == (400, "too many outputs")


@pytest.mark.parametrize("ct", ["text/plain", "multipart/form-data; boundary=x", "application/xml"])
def test_J8_unsupported_content_type(srv, ct):
    r = srv.post(INFER, VALID, headers={"Content-Type": ct})
    assert (r.status, r.error) == (415, "unsupported content-type")
    # application/json with parameters is fine.
    r = srv.post(INFER, VALID, headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status == 200


def test_J9_id_too_long(srv):
    long_id = "q" * (1 << 20)
    r = post(srv, INFER, v2_json([iris_input(X)], id=long_id))
    assert (r.status, r.error) == (400, "request id too long")
    assert b"qqqq" not in r.body
    r = post(srv, INFER, v2_json([iris_input(X)], id="q" * 129))
    assert (r.status, r.error) == (400, "request id too long")
    r = post(srv, INFER, v2_json([iris_input(X)], id="q" * 128))
    assert r.status == 200 and r.json()["id"] == "q" * 128


# --------------------------------------------------------------------------
# T: tensors (D13, D22)
# --------------------------------------------------------------------------

def infer1(srv, model, name, shape, dtype, data=None, params=None):
    inp = {"name": name, "shape": shape, "datatype": dtype}
    if data is not None:
        inp["data"] = data
    if params is not None:
        inp["parameters"] = params
    return post(srv, "/v2/models/%s/infer" % model, v2_json([inp]))


def test_T1_negative_dimension(srv):
    r = infer1(srv, "id_fp32", "x", [-1, 3], "FP32", [1, 2, 3])
    assert (r.status, r.error) == (400, "invalid shape for input 'x'")


def test_T2_huge_shape(srv):
    rss0 = rss_kib(srv)
    r = infer1(srv, "dyn", "x", [4294967296, 4294967296], "FP32", [1])
    assert (r.status, r.error) == (400, "tensor too large: input 'x'")
    r = infer1(srv, "dyn", "x", [65536, 65536], "FP32", [1])  # 2^32 elements > 2^31
    assert (r.status, r.error) == (400, "tensor too large: input 'x'")
    r = infer1(srv, "dyn", "x", [1, 9223372036854775807], "FP32", [1])
    assert (r.status, r.error) == (400, "tensor too large: input 'x'")
    assert rss_kib(srv) - rss0 < 16 * 1024


def test_T3_zero_sized_dimension(srv):
    r = infer1(srv, "id_fp32", "x", [0, 3], "FP32", [])
    assert r.status == 200, r.body
    out = r.json()["outputs"][0]
    assert (out["shape"], out["data"]) == ([0, 3], [])
    r = infer1(srv, "dyn", "x", [2, 0], "FP32", [])
    assert r.status == 200, r.body
    assert r.json()["outputs"][0]["shape"] == [2, 0]
    r = infer1(srv, "fixed", "x", [0, 3], "FP32", [])
    assert (r.status, r.error) == (400, "invalid shape for input 'x': expected [2,3], got [0,3]")
    # Zero rows through a real model (MatMul, Softmax): no SIGFPE.
    r = infer1(srv, "iris", "input", [0, 4], "FP32", [])
    assert r.status == 200, r.body
    assert r.json()["outputs"][0]["shape"] == [0, 3]


def test_T4_rank(srv):
    r = infer1(srv, "dyn", "x", [1] * 9, "FP32", [1])
    assert (r.status, r.error) == (400, "invalid shape for input 'x': rank above 8")
    r = infer1(srv, "iris", "input", [4], "FP32", [1, 2, 3, 4])
    assert (r.status, r.error) == (400, "invalid shape for input 'input': expected [-1,4], got [4]")
    r = infer1(srv, "iris", "input", [1, 1, 4], "FP32", [1, 2, 3, 4])
    assert (r.status, r.error) == (400, "invalid shape for input 'input': expected [-1,4], got [1,1,4]")


def test_T5_datatype(srv):
    r = infer1(srv, "iris", "input", [2, 4], "FP16", params={"binary_data_size": 16})
    assert (r.status, r.error) == (400, "unexpected datatype for input 'input': expected FP32, got FP16")
    r = infer1(srv, "iris", "input", [2, 4], "FP128", [0] * 8)
    assert (r.status, r.error) == (400, "unknown datatype for input 'input'")
    r = infer1(srv, "iris", "input", [2, 4], "INT32", [0] * 8)
    assert (r.status, r.error) == (400, "unexpected datatype for input 'input': expected FP32, got INT32")


def test_T6_batch_above_max_batch_size(srv):
    r = infer1(srv, "small_batch", "x", [5, 3], "FP32", [0] * 15)
    assert (r.status, r.error) == (400, "batch size exceeds max_batch_size")
    r = infer1(srv, "small_batch", "x", [4, 3], "FP32", [0] * 12)
    assert r.status == 200
    r = infer1(srv, "iris", "input", [65, 4], "FP32", [0] * 260)  # derived max_batch_size 64
    assert (r.status, r.error) == (400, "batch size exceeds max_batch_size")


def post_bin(srv, model, header, blob):
    body, n = binary_body(header, [blob])
    return srv.post("/v2/models/%s/infer" % model, body,
                    headers={"Inference-Header-Content-Length": str(n)})


def test_T7_binary_size_mismatch(srv):
    for size, blob in [(28, X.tobytes()[:28]), (36, X.tobytes() + b"\0" * 4)]:
        h = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                         "parameters": {"binary_data_size": size}}]}
        r = post_bin(srv, "iris", h, blob)
        assert (r.status, r.error) == (400, "binary data size mismatch: input 'input'")
    # binary_data_size beyond the body.
    h = {"inputs": [{"name": "input", "shape": [2, 4], "datatype": "FP32",
                     "parameters": {"binary_data_size": 4096}}]}
    r = post_bin(srv, "iris", h, X.tobytes())
    assert (r.status, r.error) == (400, "binary data size mismatch: input 'input'")


@pytest.mark.parametrize("blob", [
    b"\xff\xff\xff\x7f" + b"abc",                  # length prefix far past the end
    bytes_blob(["a", "b"]) + b"\x05\x00\x00\x00ab",  # last element short
    bytes_blob(["a", "b"]) + b"\x01\x00",           # truncated prefix
])
def test_T8_bytes_length_prefix(srv, blob):
    h = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "BYTES",
                     "parameters": {"binary_data_size": len(blob)}}]}
    r = post_bin(srv, "id_bytes", h, blob)
    assert (r.status, r.error) == (400, "invalid bytes element: input 'x'")


def test_T8_bytes_count_mismatch(srv):
    blob = bytes_blob(["a", "b"])
    h = {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "BYTES",
                     "parameters": {"binary_data_size": len(blob)}}]}
    r = post_bin(srv, "id_bytes", h, blob)
    assert (r.status, r.error) == (400, "data length does not match shape: input 'x'")


@pytest.mark.parametrize("ihcl", ["99999", "18446744073709551616", "-1", "abc", ""])
def test_T9_inference_header_length(srv, ihcl):
    r = srv.post(INFER, VALID, headers={"Inference-Header-Content-Length": ihcl,
                                        "Content-Type": "application/json"})
    assert (r.status, r.error) == (400, "invalid inference header length")


# --------------------------------------------------------------------------
# R: names, repository, management (D2, D6, D7, D9, D10)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "..%2Fsecret", "%2E%2E%2Fsecret", "%252e%252e%252fsecret", "..%5C..%5Cx", "%2Fetc%2Fpasswd",
    "model%00.onnx", "%c0%ae%c0%ae", "a" * 65, "b" * 7000, ".hidden", "-dash", "a..b", "sp%20ace",
])
def test_R1_to_R5_invalid_model_name(authsrv, name):
    for path in ("/v2/repository/models/%s/load" % name, "/v2/repository/models/%s/unload" % name):
        expect(authsrv.port, req("POST", path, headers=MGMT), 400, "invalid model name",
               close=False)
    for path in ("/v2/models/%s/infer" % name, "/v2/models/%s/ready" % name,
                 "/v1/models/%s:predict" % name):
        expect(authsrv.port, req("POST" if "infer" in path or "predict" in path else "GET", path,
                                 VALID if "infer" in path else b"", INF),
               400, "invalid model name", close=False)


def test_R5_10kb_name_meets_the_request_line_limit_first(authsrv):
    # The catalogue's "10 KB name" cannot reach name validation with the
    # default limits (§2.H): its request line is over 8 KiB, so H1 answers.
    expect(authsrv.port, req("POST", "/v2/repository/models/%s/load" % ("n" * 10240),
                             headers=MGMT), 414, "request line too long")


def test_R1_literal_dotdot(authsrv):
    expect(authsrv.port, req("POST", "/v2/repository/models/../secret/load", headers=MGMT), 400,
           "invalid model name", close=False)
    expect(authsrv.port, req("POST", "/v2/repository/models/..\\..\\x/load", headers=MGMT), 400,
           "invalid model name", close=False)


def test_R4_file_override_and_uri_refused(authsrv, tmp_path):
    for body in ({"parameters": {"file:1/model.onnx": "AAAA"}},
                 {"parameters": {"config": "{}", "file:1/model.onnx": "AAAA"}},
                 {"uri": "http://127.0.0.1:1/x"},
                 {"parameters": {"uri": "http://127.0.0.1:1/x"}}):
        r = authsrv.post("/v2/repository/models/iris/load", body, headers=MGMT)
        assert (r.status, r.error) == (400, "unsupported load parameter")
    # Nothing changed: iris still serves.
    assert authsrv.get("/v2/models/iris/ready", headers=INF).status == 200


@pytest.mark.parametrize("ver", ["-1", "01", "1e3", "0", "1000000001", "..%2F1", "%2E%2E",
                                 "1%00", "+1", "99999999999"])
def test_R5_invalid_version(authsrv, ver):
    for method, path in [("GET", "/v2/models/iris/versions/%s/ready" % ver),
                         ("GET", "/v2/models/iris/versions/%s" % ver),
                         ("POST", "/v2/models/iris/versions/%s/infer" % ver),
                         ("GET", "/v2/models/iris/versions/%s/stats" % ver),
                         ("GET", "/v1/models/iris/versions/%s" % ver),
                         ("POST", "/v1/models/iris/versions/%s:predict" % ver)]:
        expect(authsrv.port, req(method, path, VALID if method == "POST" else b"", INF), 400,
               "invalid version", close=False)


def test_R7_no_path_setting_routes(authsrv):
    for path in ("/v2/logging", "/v2/trace/setting", "/v2/models/iris/trace/setting",
                 "/v2/repository/dump", "/v2/repository/models/iris/config",
                 "/v2/systemsharedmemory/region/x/register"):
        body = {"log_file": "/tmp/axle-r7", "trace_file": "/tmp/axle-r7"}
        r = authsrv.post(path, body, headers=MGMT)
        assert (r.status, r.error) == (404, "not found"), path
    assert not os.path.exists("/tmp/axle-r7")


MGMT_ROUTES = ["/v2/repository/index", "/v2/repository/models/iris/load",
               "/v2/repository/models/iris/unload"]


@pytest.mark.parametrize("route", MGMT_ROUTES)
def test_R8_management_auth(authsrv, route):
    r = authsrv.post(route)
    assert (r.status, r.error) == (401, "missing token")
    assert r.header("www-authenticate") == "Bearer"
    r = authsrv.post(route, headers={"Authorization": "Bearer " + "x" * 40})
    assert (r.status, r.error) == (403, "invalid token")
    r = authsrv.post(route, headers=INF)
    assert (r.status, r.error) == (403, "insufficient scope")
    r = authsrv.post(route, headers={"Authorization": "Basic " + TOKEN_MGMT})
    assert (r.status, r.error) == (401, "missing token")


@pytest.mark.parametrize("route", MGMT_ROUTES)
def test_R9_cross_origin_and_host(authsrv, route):
    h = dict(MGMT, Origin="http://evil.example")
    r = authsrv.post(route, headers=h)
    assert (r.status, r.error) == (403, "cross-origin request refused")
    data = (("POST %s HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer %s\r\n"
             "Content-Length: 0\r\n\r\n") % (route, TOKEN_MGMT)).encode()
    expect(authsrv.port, data, 403, "host not allowed", close=False)
    for host in ("localhost:%d" % authsrv.port, "127.0.0.1", "[::1]:%d" % authsrv.port):
        data = (("POST /v2/repository/index HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
                 "Content-Length: 0\r\n\r\n") % (host, TOKEN_MGMT)).encode()
        resps, _, _ = exchange(authsrv.port, data)
        assert resps[0].status == 200, (host, resps[0])


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "GET"])
@pytest.mark.parametrize("route", MGMT_ROUTES)
def test_R9_management_verbs(authsrv, route, method):
    r = authsrv.request(method, route, headers=MGMT)
    assert (r.status, r.error) == (405, "method not allowed")
    assert r.header("allow") == "POST"


@pytest.mark.parametrize("route", MGMT_ROUTES)
def test_R10_model_control_disabled(srv, route):
    for headers in ({}, {"Authorization": "Bearer " + TOKEN_MGMT}):
        r = srv.post(route, headers=headers)
        assert (r.status, r.error) == (403, "model control disabled")
    r = srv.post(route, {"ready": True})
    assert (r.status, r.error) == (403, "model control disabled")
    assert srv.get("/v2/models/iris/ready").status == 200


def test_R12_unknown_and_unloaded_model(authsrv):
    body = v2_json([iris_input(X)])
    r = authsrv.post("/v2/models/nosuchmodel/infer", body, headers=INF)
    assert (r.status, r.error) == (404, "model not found")
    assert authsrv.post("/v2/models/iris2/infer", body, headers=INF).status == 200
    assert authsrv.post("/v2/repository/models/iris2/unload", headers=MGMT).status == 200
    try:
        r = authsrv.post("/v2/models/iris2/infer", body, headers=INF)
        assert (r.status, r.error) == (503, "model not ready")
        assert r.header("retry-after") == "1"
        r = authsrv.get("/v2/models/iris2/ready", headers=INF)
        assert (r.status, r.error) == (503, "model not ready")
        r = authsrv.post("/v1/models/iris2:predict", {"instances": X.tolist()}, headers=INF)
        assert (r.status, r.error) == (503, "model not ready")
    finally:
        assert authsrv.post("/v2/repository/models/iris2/load", headers=MGMT).status == 200
    assert authsrv.post("/v2/models/iris2/infer", body, headers=INF).status == 200


# --------------------------------------------------------------------------
# A: inference authentication (D3-D5)
# --------------------------------------------------------------------------

INFER_ROUTES = [("POST", INFER), ("GET", "/v2/models/iris"), ("GET", "/v2/models/iris/ready"),
                ("GET", "/v2/models/stats"), ("GET", "/v2"), ("GET", "/v1/models"),
                ("GET", "/v1/models/iris"), ("POST", "/v1/models/iris:predict")]


@pytest.mark.parametrize("method,path", INFER_ROUTES)
def test_A1_missing_token(authsrv, method, path):
    r = authsrv.request(method, path, VALID if method == "POST" else None)
    assert (r.status, r.error) == (401, "missing token")
    assert r.header("www-authenticate") == "Bearer"


@pytest.mark.parametrize("tok", [
    "X" + TOKEN_INFER[1:], TOKEN_INFER[:-1] + "X", TOKEN_INFER[:-1], TOKEN_INFER + "f",
    TOKEN_INFER.upper(), "x",
])
def test_A2_wrong_token(authsrv, tok):
    r = authsrv.post(INFER, VALID, headers={"Authorization": "Bearer " + tok})
    assert (r.status, r.error) == (403, "invalid token")


def test_A2_right_tokens(authsrv):
    assert authsrv.post(INFER, VALID, headers=INF).status == 200
    # The management token also grants inference; the inference token
    # does not grant management (R8).
    assert authsrv.post(INFER, VALID, headers=MGMT).status == 200
    assert authsrv.post(INFER, VALID, headers={"Authorization": "bearer " + TOKEN_INFER}).status == 200


def test_A4_duplicate_authorization_and_basic(authsrv):
    data = (("POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
             "Authorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d"
             "\r\n\r\n") % (INFER, TOKEN_INFER, TOKEN_INFER, len(VALID))).encode() + VALID
    expect(authsrv.port, data, 400, "duplicate authorization header", close=False)
    r = authsrv.post(INFER, VALID, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert (r.status, r.error) == (401, "missing token")
    r = authsrv.post(INFER, VALID, headers={"Authorization": "Bearer"})
    assert (r.status, r.error) == (401, "missing token")


def test_A5_health_needs_no_token(authsrv):
    r = authsrv.get("/v2/health/live")
    assert (r.status, r.body) == (200, b'{"live":true}')
    r = authsrv.get("/v2/health/ready")
    assert (r.status, r.body) == (200, b'{"ready":true}')


# --------------------------------------------------------------------------
# L: logs and error text (D33, D34)
# --------------------------------------------------------------------------

def test_L1_forged_id_and_log_lines(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    build_zoo_min(repo)
    forged = 'a\n{"forged":1}\u001b[31m"\\'
    with Server(repo, "--access-log", "-", tmpdir=str(tmp_path)) as s:
        n0 = len(s.events("access"))
        r = s.post(INFER, v2_json([iris_input(X)], id=forged))
        assert r.status == 200
        assert r.json()["id"] == forged
        assert b"\n" not in r.body and b"\x1b" not in r.body
        # A path carrying escapes (percent-encoded; raw bytes are refused).
        r = s.get("/v2/models/%0A%7B%22forged%22%3A1%7D/ready")
        assert (r.status, r.error) == (400, "invalid model name")
        s.wait_log(lambda e: e.get("event") == "access" and e.get("status") == 400)
        time.sleep(0.1)
    lines = [ln for ln in s.stderr().splitlines() if ln.strip()]
    for ln in lines:
        doc = json.loads(ln)  # every line is one JSON object
        assert isinstance(doc, dict) and "forged" not in doc
    access = [json.loads(ln) for ln in lines if '"event":"access"' in ln]
    assert len(access) - n0 >= 2
    assert sum(1 for ln in lines if "forged" in ln) == 1  # only the 400's path, escaped


def build_zoo_min(repo):
    put_model(repo, "iris", 1, os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                                            "models", "iris", "1", "model.onnx"))


PATHY = re.compile(r"/\w+/|0x[0-9a-fA-F]{6,}|No such file|Permission denied|"
                   r"Invalid argument|errno|Is a directory")


def test_L2_messages_name_no_paths(authsrv, tmp_path):
    r = authsrv.post("/v2/models/nosuchmodel/infer", VALID, headers=INF)
    assert (r.status, r.error) == (404, "model not found")
    # A failed load through the API: truncated, garbage, empty, a directory.
    root = authsrv.repo
    cases = {"trunc": open(os.path.join(root, "iris", "1", "model.onnx"), "rb").read()[:150],
             "garbage": os.urandom(300), "empty": b""}
    for name, data in cases.items():
        put_model(root, "bad_" + name, 1, data)
    os.makedirs(os.path.join(root, "bad_dir", "1", "model.onnx"))
    for name in ["bad_trunc", "bad_garbage", "bad_empty", "bad_dir"]:
        r = authsrv.post("/v2/repository/models/%s/load" % name, headers=MGMT)
        assert r.status == 400, (name, r)
        msg = r.error
        assert msg.startswith("load failed: "), msg
        assert not PATHY.search(msg), msg
        assert root not in msg and "model.onnx" not in msg, msg
    r = authsrv.post("/v2/repository/index", headers=MGMT)
    for e in r.json():
        assert not PATHY.search(e["reason"]), e
    for ev in authsrv.events("load_failed"):
        assert not PATHY.search(ev.get("detail", "")), ev


def rss_kib(srv):
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0



def test_411_infer_without_length(srv):
    """An inference POST whose body is framed neither by Content-Length nor
    by chunked encoding gets 411; the connection stays usable."""
    for path in ("/v2/models/iris/infer", "/v1/models/iris:predict"):
        data = ("POST %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode()
        expect(srv.port, data, 411, "length required", close=False)
