"""`axle bench`, the load generator, end to end: closed and open loop against
a real `axle serve` (serve_util.Server) with each protocol, the JSON report's
fields and invariants, inputs from metadata, --shape and .npy files, wrong
model names, tokens, request timeouts, argument errors (exit 2), a server
killed mid-run, and a small fake server (in this file) whose answers close
the connection, come chunked or delimited by EOF, or are garbage.

Every assertion is about counts and the report's consistency, never about
speed: runs are short (0.5-1 s) and bounded by a subprocess timeout.
"""

import json
import os
import re
import socket
import subprocess
import threading

import numpy as np
import pytest

from serve_util import (AXLE, IRIS_ONNX, SLOW, TOKEN_INFER, Server, check_binary,
                        multi_io_model, put_model, slow_model, token_file)

LAT_KEYS = ["count", "min", "mean", "p50", "p90", "p99", "p99.9", "max"]
TOP_KEYS = ["url", "model", "protocol", "mode", "rate", "concurrency", "connections", "threads",
            "warmup_s", "duration_s", "stopped_early", "request_bytes", "sent", "responses", "ok",
            "scheduled", "late_sends", "backlog_at_end", "max_send_lag_us", "in_flight_at_end",
            "throughput", "status", "errors", "latency_from", "latency_us", "latency_other_us"]
ERR_KEYS = ["total", "connect", "timeout", "closed", "read", "write", "parse"]


def env():
    return {k: v for k, v in os.environ.items() if not k.startswith("AXLE_") or k == "AXLE_BIN"}


def bench(url, *args, timeout=60):
    check_binary()
    return subprocess.run([AXLE, "bench", url, *[str(a) for a in args]], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout * SLOW, env=env())


def bench_json(url, *args, timeout=60):
    r = bench(url, "--json", "--quiet", *args, timeout=timeout)
    assert r.returncode == 0, "exit %d\nstdout: %s\nstderr: %s" % (r.returncode, r.stdout, r.stderr)
    d = json.loads(r.stdout)
    check_report(d)
    return d


def check_report(d):
    """Fields present, and the invariants that hold for every run."""
    for k in TOP_KEYS:
        assert k in d, "missing %r in %s" % (k, d)
    for k in ERR_KEYS:
        assert isinstance(d["errors"][k], int), d["errors"]
    for k in LAT_KEYS:
        assert k in d["latency_us"], d["latency_us"]
    assert set(d["throughput"]) == {"ok_per_s", "total_per_s"}
    assert d["errors"]["total"] == sum(d["errors"][k] for k in ERR_KEYS[1:])
    assert sum(d["status"].values()) == d["responses"]
    ok = sum(n for s, n in d["status"].items() if s.isdigit() and 200 <= int(s) < 300)
    assert d["ok"] == ok
    lat = d["latency_us"]
    assert lat["count"] == d["ok"]
    if lat["count"]:
        assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
        assert lat["min"] <= lat["mean"] <= lat["max"]
    assert d["responses"] <= d["sent"]
    # Every sent request was answered, failed with a counted error, or was
    # still in flight when the run ended.
    req_errors = d["errors"]["total"] - d["errors"]["connect"]
    assert d["sent"] - d["responses"] - d["in_flight_at_end"] <= req_errors
    if d["mode"] == "open":
        assert d["scheduled"] == d["sent"] + d["backlog_at_end"]
        assert d["latency_from"] == "intended"
    else:
        assert d["latency_from"] == "sent"
        assert d["in_flight_at_end"] <= d["connections"]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("bench")
    repo = d / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX)
    put_model(repo, "multi", 1, multi_io_model())
    put_model(repo, "slow", 1, slow_model())
    with Server(repo, tmpdir=str(d)) as s:
        yield s


@pytest.fixture(autouse=True)
def _still_alive(request):
    yield
    if "srv" in request.fixturenames:
        s = request.getfixturevalue("srv")
        assert s.alive(), "server died:\n" + s.stderr()[-4000:]


def url(s):
    return "http://127.0.0.1:%d" % s.port


def print_request_bytes(u, *args):
    check_binary()
    r = subprocess.run([AXLE, "bench", u, "--print-request", *[str(a) for a in args]],
                       capture_output=True, timeout=30 * SLOW, env=env())
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:])}
    assert int(headers["content-length"]) == len(body)
    return lines[0], headers, body


# --------------------------------------------------------------------------
# Closed and open loop against axle serve
# --------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", ["v2-json", "v2-binary", "v1"])
def test_closed_loop_each_protocol_gets_only_200s(srv, protocol):
    d = bench_json(url(srv), "--model", "iris", "--protocol", protocol, "--concurrency", 4,
                   "--duration", 1)
    assert d["mode"] == "closed" and d["protocol"] == protocol
    assert d["concurrency"] == 4 and d["connections"] == 4 and d["threads"] == 1
    assert list(d["status"]) == ["200"], d["status"]
    assert d["status"]["200"] > 0
    assert d["latency_us"]["count"] == d["status"]["200"] == d["ok"] == d["responses"]
    assert d["throughput"]["ok_per_s"] > 0
    assert d["errors"]["total"] == 0
    assert d["late_sends"] == 0 and d["scheduled"] is None


def test_closed_loop_two_threads_and_warmup(srv):
    d = bench_json(url(srv), "--model", "iris", "--concurrency", 4, "--threads", 2,
                   "--warmup", 0.3, "--duration", 0.5)
    assert d["threads"] == 2 and d["warmup_s"] == 0.3
    assert list(d["status"]) == ["200"] and d["ok"] > 0


def test_open_loop_sends_rate_times_duration(srv):
    d = bench_json(url(srv), "--model", "iris", "--rate", 200, "--duration", 1,
                   "--connections", 8)
    assert d["mode"] == "open" and d["rate"] == 200 and d["connections"] == 8
    # Due times are start + k/200 for k = 0..199: a count, not a timing.
    assert d["scheduled"] == 200
    assert d["sent"] + d["backlog_at_end"] == 200
    assert d["sent"] >= 100
    assert isinstance(d["late_sends"], int) and d["late_sends"] >= 0
    assert set(d["status"]) <= {"200"}
    assert d["errors"]["total"] == 0


def test_open_loop_counts_late_sends_when_the_server_falls_behind(srv):
    # One connection, 1000 requests/s due, and a model that needs far more
    # than 1 ms per request (64 x 384 rows through 24 MatMuls): requests wait
    # for the connection, go out late, and the rest are still due at the end.
    d = bench_json(url(srv), "--model", "slow", "--protocol", "v2-binary", "--shape", "64,384",
                   "--rate", 1000, "--duration", 1, "--connections", 1)
    assert d["scheduled"] == 1000
    assert d["late_sends"] > 0
    assert d["backlog_at_end"] > 0
    assert d["max_send_lag_us"] > 1000
    assert d["ok"] > 0 and set(d["status"]) == {"200"}
    # Latency counts from the due time: the waiting shows up in it.
    assert d["latency_us"]["max"] >= d["max_send_lag_us"] - 1


def test_max_requests_ends_the_run_early(srv):
    d = bench_json(url(srv), "--model", "iris", "--concurrency", 3, "--max-requests", 50,
                   "--duration", 120, timeout=60)
    assert d["sent"] == 50 and d["responses"] == 50 and d["ok"] == 50
    assert d["in_flight_at_end"] == 0
    assert d["duration_s"] < 120
    d = bench_json(url(srv), "--model", "iris", "--rate", 500, "--max-requests", 20,
                   "--duration", 120, timeout=60)
    assert d["sent"] == 20 and d["ok"] == 20 and d["scheduled"] == 20


def test_request_timeout_is_counted(srv):
    d = bench_json(url(srv), "--model", "slow", "--protocol", "v2-binary", "--shape", "64,384",
                   "--concurrency", 1, "--duration", 0.5, "--request-timeout", 0.001)
    assert d["errors"]["timeout"] > 0


# --------------------------------------------------------------------------
# Inputs and request bodies
# --------------------------------------------------------------------------

def test_wrong_model_counts_404s(srv):
    d = bench_json(url(srv), "--model", "nosuch", "--shape", "1,4", "--input-name", "input",
                   "--concurrency", 2, "--duration", 0.5)
    assert list(d["status"]) == ["404"] and d["status"]["404"] > 0
    assert d["ok"] == 0 and d["latency_us"]["count"] == 0
    assert d["latency_other_us"]["count"] == d["status"]["404"]
    assert 0 < d["latency_other_us"]["p50"] <= d["latency_other_us"]["max"]
    assert d["throughput"]["ok_per_s"] == 0 and d["throughput"]["total_per_s"] > 0


def test_wrong_model_without_shape_fails_on_metadata(srv):
    r = bench(url(srv), "--model", "nosuch", "--duration", 0.5)
    assert r.returncode == 1
    assert "404" in r.stderr and "--shape" in r.stderr


def test_npy_input(srv, tmp_path):
    x = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]], np.float32)
    p = tmp_path / "x.npy"
    np.save(p, x)
    _, _, body = print_request_bytes(url(srv), "--model", "iris", "--input", p)
    doc = json.loads(body)
    assert doc["inputs"][0]["name"] == "input"
    assert doc["inputs"][0]["shape"] == [3, 4]
    assert np.allclose(doc["inputs"][0]["data"], x.flatten())
    d = bench_json(url(srv), "--model", "iris", "--input", p, "--concurrency", 2, "--duration", 0.5)
    assert list(d["status"]) == ["200"] and d["ok"] > 0
    # NAME=FILE names the input; a wrong name is the server's 400.
    d = bench_json(url(srv), "--model", "iris", "--input", "bogus=%s" % p, "--concurrency", 1,
                   "--duration", 0.3)
    assert list(d["status"]) == ["400"]
    # Binary: the raw bytes follow the JSON header.
    _, h, body = print_request_bytes(url(srv), "--model", "iris", "--input", p,
                                     "--protocol", "v2-binary")
    n = int(h["inference-header-content-length"])
    assert h["content-type"] == "application/octet-stream"
    head = json.loads(body[:n])
    assert head["inputs"][0]["parameters"]["binary_data_size"] == x.nbytes
    assert head["parameters"]["binary_data_output"] is True
    assert body[n:] == x.tobytes()


def test_multi_input_model_from_metadata(srv):
    _, _, body = print_request_bytes(url(srv), "--model", "multi")
    doc = json.loads(body)
    assert [(i["name"], i["shape"], i["datatype"]) for i in doc["inputs"]] == \
        [("a", [1, 2], "FP32"), ("b", [1, 2], "FP32")]
    for proto in ("v2-json", "v2-binary", "v1"):
        d = bench_json(url(srv), "--model", "multi", "--protocol", proto, "--concurrency", 2,
                       "--duration", 0.3)
        assert list(d["status"]) == ["200"], (proto, d["status"])


def test_request_bodies_carry_parameters_and_rows(srv):
    line, h, body = print_request_bytes(url(srv), "--model", "iris", "--timeout-us", 5000000,
                                        "--priority", 2)
    assert line == "POST /v2/models/iris/infer HTTP/1.1"
    assert h["host"] == "127.0.0.1:%d" % srv.port
    assert h["content-type"] == "application/json"
    doc = json.loads(body)
    assert doc["parameters"] == {"timeout": 5000000, "priority": 2}
    # The pseudo-random values are deterministic.
    assert print_request_bytes(url(srv), "--model", "iris")[2] == \
        print_request_bytes(url(srv), "--model", "iris")[2]
    line, _, body = print_request_bytes(url(srv), "--model", "iris", "--protocol", "v1",
                                        "--shape", "3,4")
    assert line == "POST /v1/models/iris:predict HTTP/1.1"
    inst = json.loads(body)["instances"]
    assert len(inst) == 3 and all(len(r) == 4 for r in inst)
    d = bench_json(url(srv), "--model", "iris", "--timeout-us", 5000000, "--priority", 1,
                   "--concurrency", 1, "--duration", 0.3)
    assert list(d["status"]) == ["200"]


@pytest.mark.parametrize("dtype", ["INT64", "UINT8", "BOOL", "FP64", "BYTES"])
def test_shape_and_datatype_values(srv, dtype):
    _, _, body = print_request_bytes(url(srv), "--model", "m", "--shape", "2,3", "--datatype",
                                     dtype, "--input-name", "x")
    inp = json.loads(body)["inputs"][0]
    assert inp["datatype"] == dtype and inp["shape"] == [2, 3] and len(inp["data"]) == 6
    kind = {"INT64": int, "UINT8": int, "BOOL": bool, "FP64": float, "BYTES": str}[dtype]
    assert all(isinstance(v, kind) for v in inp["data"]), inp["data"]


def test_token_file(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX)
    tok = token_file(tmp_path, "infer.token", TOKEN_INFER)
    with Server(repo, "--inference-token-file", tok, tmpdir=str(tmp_path)) as s:
        d = bench_json(url(s), "--model", "iris", "--shape", "1,4", "--input-name", "input",
                       "--concurrency", 1, "--duration", 0.3)
        assert list(d["status"]) == ["401"]
        d = bench_json(url(s), "--model", "iris", "--token-file", tok, "--concurrency", 2,
                       "--duration", 0.3)
        assert list(d["status"]) == ["200"] and d["ok"] > 0


# --------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------

BAD_ARGS = [
    ([], "no URL"),
    (["URL"], "--model is required"),
    (["URL", "--model", "iris", "--rate", "10", "--concurrency", "2"], "exclude"),
    (["URL", "--model", "iris", "--rate", "0"], "--rate"),
    (["URL", "--model", "iris", "--rate", "abc"], "--rate"),
    (["URL", "--model", "iris", "--concurrency", "0"], "--concurrency"),
    (["URL", "--model", "iris", "--duration", "-1"], "--duration"),
    (["URL", "--model", "iris", "--warmup", "x"], "--warmup"),
    (["URL", "--model", "iris", "--threads", "0"], "--threads"),
    (["URL", "--model", "iris", "--concurrency", "2", "--threads", "3"], "more threads"),
    (["URL", "--model", "iris", "--concurrency", "2", "--connections", "3"], "must equal"),
    (["URL", "--model", "iris", "--max-requests", "0"], "--max-requests"),
    (["URL", "--model", "iris", "--protocol", "grpc"], "--protocol"),
    (["URL", "--model", "iris", "--shape", "1,x"], "--shape"),
    (["URL", "--model", "iris", "--shape", "1,4", "--datatype", "FLOAT"], "--datatype"),
    (["URL", "--model", "iris", "--datatype", "FP32"], "--datatype"),
    (["URL", "--model", "iris", "--shape", "1,4", "--input", "x.npy"], "exclude"),
    (["URL", "--model", "iris", "--protocol", "v1", "--priority", "1"], "v1"),
    (["URL", "--model", "iris", "--timeout-us", "-3"], "--timeout-us"),
    (["URL", "--model", "iris", "--bogus"], "unknown option"),
    (["URL", "--model"], "needs a value"),
    (["URL", "--model", "iris", "--json=yes"], "takes no value"),
    (["URL", "URL", "--model", "iris"], "one URL"),
    (["https://127.0.0.1:1", "--model", "iris"], "https"),
    (["ftp://127.0.0.1:1", "--model", "iris"], "http://"),
    (["http://127.0.0.1:99999", "--model", "iris"], "port"),
    (["http://:80", "--model", "iris"], "host"),
    (["URL", "--model", "iris", "--input", "/nonexistent/x.npy"], "cannot open"),
    (["URL", "--model", "iris", "--token-file", "/nonexistent/token"], "token"),
    (["URL", "--model", "iris", "--shape", "1,4", "--datatype", "FP16", "--input-name", "x"],
     "binary"),
]


@pytest.mark.parametrize("args,needle", BAD_ARGS, ids=[" ".join(a) or "none" for a, _ in BAD_ARGS])
def test_bad_arguments_exit_2(args, needle):
    check_binary()
    # A closed port: a test that got past validation would fail otherwise.
    args = [("http://127.0.0.1:9" if a == "URL" else a) for a in args]
    r = subprocess.run([AXLE, "bench", *args], capture_output=True, text=True, timeout=30 * SLOW,
                       env=env())
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stderr.startswith("axle bench: "), r.stderr
    assert needle in r.stderr, r.stderr
    assert r.stdout == ""


def test_help_documents_every_option():
    check_binary()
    r = subprocess.run([AXLE, "bench", "--help"], capture_output=True, text=True, timeout=30,
                       env=env())
    assert r.returncode == 0
    for opt in ["--model", "--rate", "--concurrency", "--duration", "--warmup", "--max-requests",
                "--connections", "--threads", "--input", "--shape", "--datatype", "--input-name",
                "--protocol", "--token-file", "--timeout-us", "--priority", "--request-timeout",
                "--json", "--quiet", "--print-request"]:
        assert opt + " " in r.stdout or opt + "\n" in r.stdout, opt
    r = subprocess.run([AXLE, "--help"], capture_output=True, text=True, timeout=30, env=env())
    assert re.search(r"^\s+bench\s+load-test", r.stdout, re.M), r.stdout


# --------------------------------------------------------------------------
# A server that goes away
# --------------------------------------------------------------------------

def test_server_killed_mid_run_is_reported_as_errors(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX)
    s = Server(repo, tmpdir=str(tmp_path))
    p = None
    try:
        p = subprocess.Popen([AXLE, "bench", url(s), "--model", "iris", "--concurrency", "4",
                              "--duration", "4", "--json"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env())
        lines = []
        first_ok = threading.Event()

        def read_progress():
            for line in p.stderr:
                lines.append(line)
                m = re.search(r"(\d+) ok/s", line)
                if m and int(m.group(1)) > 0:
                    first_ok.set()
        t = threading.Thread(target=read_progress, daemon=True)
        t.start()
        assert first_ok.wait(30 * SLOW), "no progress line with answers:\n" + "".join(lines)
        s.kill()  # SIGKILL: connections are reset, reconnects refused
        out, _ = p.communicate(timeout=60 * SLOW)
        t.join(10)
    finally:
        s.kill()
        if p is not None and p.poll() is None:
            p.kill()
    assert p.returncode == 0, "".join(lines)
    d = json.loads(out)
    check_report(d)
    assert d["ok"] > 0
    assert d["errors"]["connect"] > 0
    assert set(d["status"]) == {"200"}
    assert any("errors" in l for l in lines)


# --------------------------------------------------------------------------
# A fake server with unusual answers
# --------------------------------------------------------------------------

class FakeServer:
    """Answers every request on a loopback socket in one of several ways."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        self.n_conns = 0
        self.threads = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        self.sock.settimeout(0.1)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.n_conns += 1
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()

    def _answer(self):
        m = self.mode
        if m == "close":
            return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", True
        if m == "503close":
            return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n"), True
        if m == "chunked":
            return (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"), False
        if m == "eof":
            return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until EOF", True
        if m == "garbage":
            return b"this is not HTTP\r\n\r\n", True
        if m == "extra":  # two answers to one request
            one = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
            return one + one, False
        if m == "half":  # a head, then the connection ends mid-body
            return b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", True
        raise AssertionError(m)

    def _serve(self, c):
        c.settimeout(5)
        buf = b""
        try:
            while not self.stop:
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, rest = buf.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                n = int(m.group(1)) if m else 0
                while len(rest) < n:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    rest += chunk
                buf = rest[n:]
                data, close = self._answer()
                c.sendall(data)
                if close:
                    return
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop = True
        self.sock.close()


@pytest.mark.parametrize("mode,status", [("close", "200"), ("503close", "503"),
                                         ("chunked", "200"), ("eof", "200")])
def test_unusual_but_valid_answers(mode, status):
    f = FakeServer(mode)
    try:
        d = bench_json("http://127.0.0.1:%d" % f.port, "--model", "m", "--shape", "1,4",
                       "--input-name", "x", "--concurrency", 2, "--duration", 0.5)
    finally:
        f.close()
    assert list(d["status"]) == [status] and d["status"][status] > 0, d
    assert d["errors"]["total"] == 0, d["errors"]
    if mode in ("close", "503close", "eof"):
        # A new connection per answer: reconnects happened.
        assert f.n_conns >= d["responses"]


@pytest.mark.parametrize("mode,kind", [("garbage", "parse"), ("extra", "parse"),
                                       ("half", "closed")])
def test_malformed_answers_are_errors_not_crashes(mode, kind):
    f = FakeServer(mode)
    try:
        d = bench_json("http://127.0.0.1:%d" % f.port, "--model", "m", "--shape", "1,4",
                       "--input-name", "x", "--concurrency", 2, "--duration", 0.5)
    finally:
        f.close()
    assert d["errors"][kind] > 0, d["errors"]
    if mode != "extra":
        assert d["responses"] == 0
