"""`axle serve` HTTP/1.1 behaviour on raw sockets and python3-requests:
keep-alive, pipelining, chunked request bodies, Expect: 100-continue,
Content-Encoding in and out, the body limit, slow clients (header, body and
reader side), idle keep-alive and the connection cap.

Limits are lowered on this module's server so the timeouts are quick:
--max-body-bytes 1 MiB, --body-timeout 1, --header-timeout 2,
--idle-timeout 1.5 (SECURITY.md §2.H lists the defaults).
"""

import gzip
import json
import socket
import threading
import time
import zlib

import numpy as np
import pytest
import requests

from serve_util import (SLOW, Server, build_zoo, chunked, connect, exchange, http_req_bytes, iris_input,
                        iris_reference, parse_responses, recv_all, v2_json)

LIMIT = 1 << 20
X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)
INFER = "/v2/models/iris/infer"
BODY = v2_json([iris_input(X)])


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("http")
    repo = d / "repo"
    repo.mkdir()
    build_zoo(repo)
    with Server(repo, "--max-body-bytes", LIMIT, "--body-timeout", "1", "--header-timeout", "2",
                "--idle-timeout", "1.5", threads=2, tmpdir=str(d)) as s:
        yield s


@pytest.fixture(autouse=True)
def _still_alive(request):
    yield
    if "srv" in request.fixturenames:
        s = request.getfixturevalue("srv")
        assert s.alive(), "server died:\n" + s.stderr()[-4000:]


def post_bytes(path, body, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return http_req_bytes("POST", path, body, h)


def recv_until(s, marker, timeout):
    s.settimeout(timeout)
    buf = b""
    while marker not in buf:
        chunk = s.recv(4096)
        if not chunk:
            break
        buf += chunk
    return buf


def check_iris(resp, n=2):
    assert resp.status == 200, resp
    out = resp.json()["outputs"][0]
    assert out["shape"] == [n, 3]
    assert np.allclose(np.array(out["data"]).reshape(n, 3), iris_reference(X[:n]), atol=1e-5)


# --------------------------------------------------------------------------
# Keep-alive and pipelining
# --------------------------------------------------------------------------

def test_keep_alive_sequential(srv):
    s = connect(srv.port)
    try:
        for i in range(5):
            s.sendall(post_bytes(INFER, BODY))
            raw, closed, _ = recv_all(s, 10, until_responses=1)
            [r] = parse_responses(raw)
            check_iris(r)
            assert r.header("connection") is None
            assert not closed
        s.sendall(http_req_bytes("GET", "/v2/health/live", headers={"Connection": "close"}))
        raw, closed, _ = recv_all(s, 5)
        [r] = parse_responses(raw)
        assert r.status == 200 and r.header("connection") == "close"
        assert closed
    finally:
        s.close()


def test_http10(srv):
    resps, closed, _ = exchange(srv.port, b"GET /v2/health/live HTTP/1.0\r\n\r\n", wait_close=3)
    assert resps[0].status == 200 and resps[0].header("connection") == "close" and closed
    data = b"GET /v2/health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" * 2
    resps, _, _ = exchange(srv.port, data, n=2)
    assert [r.status for r in resps] == [200, 200]


def test_pipelined_infers_answer_in_order(srv):
    reqs = []
    for i in range(40):
        if i % 3 == 2:
            reqs.append(http_req_bytes("GET", "/v2/models/iris/ready"))
        else:
            reqs.append(post_bytes(INFER, v2_json([iris_input(X[:1 + i % 2])], id="p%d" % i)))
    resps, _, _ = exchange(srv.port, b"".join(reqs), n=40)
    assert len(resps) == 40
    for i, r in enumerate(resps):
        assert r.status == 200
        if i % 3 == 2:
            assert r.json() == {"name": "iris", "ready": True}
        else:
            assert r.json()["id"] == "p%d" % i
            check_iris(r, 1 + i % 2)


def test_pipelined_chunked_and_errors(srv):
    # A bad request in the middle gets its 400 and the pipeline goes on.
    reqs = [http_req_bytes("POST", INFER, chunked(BODY, 7),
                           {"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
                           cl=False),
            post_bytes(INFER, b"{not json"),
            http_req_bytes("POST", INFER, chunked(BODY, 1000),
                           {"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
                           cl=False),
            http_req_bytes("GET", "/v2/health/live")]
    resps, _, _ = exchange(srv.port, b"".join(reqs), n=4)
    assert [r.status for r in resps] == [200, 400, 200, 200]
    assert resps[1].error == "invalid json"
    check_iris(resps[0])
    check_iris(resps[2])


def test_pipeline_split_at_every_byte(srv):
    # The same two requests, delivered in 1..n byte pieces: the parser must
    # resume anywhere (head, chunk-size line, chunk data, trailer).
    data = (http_req_bytes("POST", INFER, chunked(BODY, 50),
                           {"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
                           cl=False) + post_bytes(INFER, BODY))
    for step in (1, 3, 17, 251):
        pieces = [data[i:i + step] for i in range(0, len(data), step)]
        s = connect(srv.port)
        try:
            for p in pieces:
                s.sendall(p)
            raw, _, _ = recv_all(s, 20, until_responses=2)
        finally:
            s.close()
        resps = parse_responses(raw)
        assert len(resps) == 2, (step, raw[:300])
        for r in resps:
            check_iris(r)


# --------------------------------------------------------------------------
# Request bodies: chunked, 100-continue, Content-Encoding
# --------------------------------------------------------------------------

@pytest.mark.parametrize("size", [1, 5, 64, 4096])
def test_chunked_body(srv, size):
    body = chunked(BODY, size)
    if size == 5:  # chunk extensions and a trailer are allowed
        body = body.replace(b"5\r\n", b"5;a=b\r\n", 1)[:-2] + b"X-Trailer: 1\r\n\r\n"
    data = http_req_bytes("POST", INFER, body, {"Transfer-Encoding": "chunked",
                                                "Content-Type": "application/json"}, cl=False)
    resps, _, raw = exchange(srv.port, data)
    assert resps, raw
    check_iris(resps[0])


def test_chunked_with_requests(srv):
    def gen():
        for i in range(0, len(BODY), 10):
            yield BODY[i:i + 10]
    r = requests.post("http://%s%s" % (srv.url, INFER), data=gen(),
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 200
    assert r.json()["outputs"][0]["shape"] == [2, 3]


def test_expect_100_continue(srv):
    s = connect(srv.port)
    try:
        s.sendall(b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(BODY))
        raw = recv_until(s, b"\r\n\r\n", 5)
        assert raw == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(BODY)
        raw, _, _ = recv_all(s, 10, until_responses=1)
        [r] = parse_responses(raw)
        check_iris(r)
    finally:
        s.close()


def test_expect_100_continue_with_curl_style_client(srv):
    # requests does not send Expect; http.client does not either. The
    # server must not wait for one: a large plain POST is fine.
    body = v2_json([iris_input(np.tile(X, (32, 1)))])
    r = requests.post("http://%s%s" % (srv.url, INFER), data=body, timeout=10)
    assert r.status_code == 200 and r.json()["outputs"][0]["shape"] == [64, 3]


@pytest.mark.parametrize("enc", ["gzip", "x-gzip", "deflate", "identity", "GZIP"])
def test_content_encoding_request(srv, enc):
    body = {"gzip": gzip.compress, "x-gzip": gzip.compress, "GZIP": gzip.compress,
            "deflate": zlib.compress, "identity": bytes}[enc](BODY)
    r = srv.post(INFER, body, headers={"Content-Encoding": enc, "Content-Type": "application/json"})
    check_iris(r)


def test_corrupt_gzip_body(srv):
    r = srv.post(INFER, gzip.compress(BODY)[:-12], headers={"Content-Encoding": "gzip"})
    assert (r.status, r.error) == (400, "invalid compressed body")


def test_gzip_response(srv):
    x = np.random.default_rng(2).random((64, 300)).astype(np.float32)
    body = v2_json([{"name": "x", "shape": [64, 300], "datatype": "FP32",
                     "data": x.flatten().tolist()}])
    r = srv.post("/v2/models/dyn/infer", body, headers={"Accept-Encoding": "gzip, br"})
    assert r.status == 200
    assert r.header("content-encoding") == "gzip"
    assert r.header("vary") == "Accept-Encoding"
    assert int(r.header("content-length")) == len(r.body)
    doc = json.loads(gzip.decompress(r.body))
    assert np.array_equal(np.array(doc["outputs"][0]["data"], np.float32), x.flatten())
    # Without Accept-Encoding: identity. Small answers are never compressed.
    r = srv.post("/v2/models/dyn/infer", body)
    assert r.header("content-encoding") is None
    assert len(json.loads(r.body)["outputs"][0]["data"]) == 64 * 300
    r = srv.get("/v2/health/live", headers={"Accept-Encoding": "gzip"})
    assert r.header("content-encoding") is None and r.body == b'{"live":true}'
    # requests decodes it transparently.
    rr = requests.post("http://%s/v2/models/dyn/infer" % srv.url, data=body, timeout=10)
    assert rr.headers.get("Content-Encoding") == "gzip" and rr.json()["outputs"][0]["shape"] == [64, 300]


# --------------------------------------------------------------------------
# Oversize
# --------------------------------------------------------------------------

def test_body_over_limit_content_length(srv):
    s = connect(srv.port)
    try:
        s.sendall(b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1))
        raw, closed, _ = recv_all(s, 5)  # nothing of the body was sent
    finally:
        s.close()
    [r] = parse_responses(raw)
    assert (r.status, r.error) == (413, "body too large")
    assert closed and r.header("connection") == "close"


def test_body_at_limit_accepted(srv):
    pad = b" " * (LIMIT - len(BODY))
    r = srv.post(INFER, BODY + pad)
    check_iris(r)


def test_body_over_limit_chunked(srv):
    body = chunked(b" " * (LIMIT + 100), 64 * 1024)
    data = http_req_bytes("POST", INFER, body, {"Transfer-Encoding": "chunked"}, cl=False)
    resps, closed, raw = exchange(srv.port, data, wait_close=3)
    assert len(resps) == 1, raw[:300]
    assert (resps[0].status, resps[0].error) == (413, "body too large")
    assert closed


def test_body_over_limit_after_inflate(srv):
    body = gzip.compress(BODY + b" " * LIMIT)
    assert len(body) < LIMIT
    resps, closed, _ = exchange(srv.port, http_req_bytes("POST", INFER, body,
                                                         {"Content-Encoding": "gzip"}), wait_close=3)
    assert (resps[0].status, resps[0].error) == (413, "decompressed body too large")
    assert closed


def test_oversize_header_with_requests(srv):
    r = requests.get("http://%s/v2/health/live" % srv.url, headers={"X-Big": "a" * 9000},
                     timeout=10)
    assert r.status_code == 431 and r.json() == {"error": "header too large"}


# --------------------------------------------------------------------------
# Slow clients
# --------------------------------------------------------------------------

def test_slow_body_times_out_and_others_are_served(srv):
    s = connect(srv.port)
    t0 = time.monotonic()
    try:
        s.sendall(b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY[:10])
        # While it stalls, other clients are answered at once.
        for _ in range(5):
            t1 = time.monotonic()
            check_iris(srv.post(INFER, BODY))
            assert time.monotonic() - t1 < 0.5 * SLOW
        raw, closed, _ = recv_all(s, 5)
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    [r] = parse_responses(raw)
    assert (r.status, r.error) == (408, "request body timeout")
    assert closed and r.header("connection") == "close"
    assert 0.9 < elapsed < 3.5, elapsed


def test_slow_body_that_keeps_moving_is_served(srv):
    # body-timeout is an idle timeout: a client that keeps sending (every
    # 0.3 s, < 1 s) is not cut off even though the whole body takes longer.
    s = connect(srv.port)
    try:
        s.sendall(b"POST " + INFER.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                  b"\r\nContent-Length: %d\r\n\r\n" % len(BODY))
        step = len(BODY) // 6 + 1
        for i in range(0, len(BODY), step):
            s.sendall(BODY[i:i + step])
            time.sleep(0.3)
        raw, _, _ = recv_all(s, 5, until_responses=1)
    finally:
        s.close()
    [r] = parse_responses(raw)
    check_iris(r)


def test_slow_header_times_out(srv):
    s = connect(srv.port)
    t0 = time.monotonic()
    try:
        s.sendall(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n")
        raw, closed, _ = recv_all(s, 5)
    finally:
        s.close()
    [r] = parse_responses(raw)
    assert (r.status, r.error) == (408, "request header timeout")
    assert closed
    assert 1.9 < time.monotonic() - t0 < 4.5 * SLOW


def test_idle_keepalive_closed_silently(srv):
    s = connect(srv.port)
    try:
        s.sendall(http_req_bytes("GET", "/v2/health/live"))
        raw, _, _ = recv_all(s, 5, until_responses=1)
        assert parse_responses(raw)[0].status == 200
        t0 = time.monotonic()
        more, closed, _ = recv_all(s, 5)
    finally:
        s.close()
    assert closed and more == b""
    assert 1.4 < time.monotonic() - t0 < 4.0 * SLOW


def test_slow_reader_does_not_block_others(srv):
    # A client pipelines ~8 MiB of answers and reads nothing: the server
    # stops reading it (unsent output is capped), everybody else is served,
    # and once it reads, every answer arrives complete and in order.
    x = np.zeros((64, 300), np.float32)
    req = post_bytes("/v2/models/dyn/infer",
                     v2_json([{"name": "x", "shape": [64, 300], "datatype": "FP32",
                               "data": x.flatten().tolist()}]))
    n = 60
    s = connect(srv.port)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    sender = threading.Thread(target=lambda: _send_quietly(s, req * n), daemon=True)
    try:
        sender.start()
        time.sleep(0.5)
        for _ in range(5):
            t1 = time.monotonic()
            check_iris(srv.post(INFER, BODY))
            assert time.monotonic() - t1 < 0.5 * SLOW
        raw, _, _ = recv_all(s, 30, until_responses=n)
    finally:
        sender.join(10)
        s.close()
    resps = parse_responses(raw)
    assert len(resps) == n
    assert all(r.status == 200 for r in resps)
    assert all(len(r.json()["outputs"][0]["data"]) == 64 * 300 for r in resps)


def _send_quietly(s, data):
    try:
        s.sendall(data)
    except OSError:
        pass


def test_connection_cap(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    build_zoo(repo)
    with Server(repo, "--max-connections", "3", tmpdir=str(tmp_path)) as srv:
        held = [connect(srv.port) for _ in range(3)]
        try:
            for h in held:  # each is really being served
                h.sendall(http_req_bytes("GET", "/v2/health/live"))
                raw, _, _ = recv_all(h, 5, until_responses=1)
                assert parse_responses(raw)[0].status == 200
            extra = connect(srv.port)
            try:
                extra.sendall(http_req_bytes("GET", "/v2/health/live"))
                raw, closed, _ = recv_all(extra, 5)
            except (ConnectionResetError, BrokenPipeError):
                raw, closed = b"", True
            finally:
                extra.close()
            assert closed and raw == b""  # accepted and closed at once
        finally:
            for h in held:
                h.close()
        time.sleep(0.2)
        assert srv.get("/v2/health/live").status == 200
