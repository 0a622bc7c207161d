"""`axle serve` process lifecycle: start-up and readiness (PROTOCOLS.md §12,
SECURITY.md §3.1), SIGTERM drain under load with zero failed in-flight
requests (§3.5, §5.7 item 7), second signal, option and configuration
errors (D2, D3, D38), process hardening (D1, D38).
"""

import os
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

from serve_util import (AXLE, IRIS_ONNX, SLOW, TOKEN_INFER, TOKEN_MGMT, LoadLoop, Server,
                        check_binary, connect, http_req_bytes, iris_input,
                        parse_responses, put_model, recv_all, request, slow_layers, slow_model,
                        token_file, v2_json)

X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)
BODY = v2_json([iris_input(X)])


def run_axle(*args, timeout=30):
    check_binary()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AXLE_") or k == "AXLE_BIN"}
    return subprocess.run([AXLE, *[str(a) for a in args]], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout * SLOW, env=env)


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    put_model(r, "iris", 1, IRIS_ONNX)
    return r


# --------------------------------------------------------------------------
# Start-up and readiness
# --------------------------------------------------------------------------

def test_startup_log_and_loopback_listener(repo, tmp_path):
    with Server(repo, tmpdir=str(tmp_path)) as s:
        ev = s.events("listening")[0]
        assert ev["detail"].startswith("http://127.0.0.1:%d " % s.port)
        assert [e["model"] for e in s.events("ready") if "model" in e] == ["iris"]
        # D1: the listening socket is bound to 127.0.0.1 (/proc/net/tcp,
        # state 0A = LISTEN, address in little-endian hex).
        want = "0100007F:%04X" % s.port
        with open("/proc/net/tcp") as f:
            rows = [ln.split() for ln in f.readlines()[1:]]
        mine = [r for r in rows if r[1].endswith(":%04X" % s.port) and r[3] == "0A"]
        assert mine and all(r[1] == want for r in mine), mine
        # D38: no new privileges, no core dumps.
        with open("/proc/%d/status" % s.proc.pid) as f:
            assert "NoNewPrivs:\t1" in f.read()
        with open("/proc/%d/limits" % s.proc.pid) as f:
            core = [ln for ln in f if ln.startswith("Max core file size")][0].split()
        assert core[4:6] == ["0", "0"], core


def test_failed_startup_model_keeps_readiness_false(repo, tmp_path):
    put_model(repo, "broken", 1, b"this is not an onnx file")
    with Server(repo, tmpdir=str(tmp_path)) as s:
        assert s.events("not_ready")
        r = s.get("/v2/health/live")
        assert (r.status, r.json()) == (200, {"live": True})
        r = s.get("/v2/health/ready")
        assert (r.status, r.error) == (503, "models not ready")
        assert r.header("retry-after") == "1"
        assert s.post("/v2/models/iris/infer", BODY).status == 200
        r = s.post("/v2/models/broken/infer", BODY)
        assert (r.status, r.error) == (503, "model not ready")
        r = s.get("/v2/models/broken/ready")
        assert (r.status, r.error) == (503, "model not ready")
        [ev] = [e for e in s.events("load_failed") if e.get("model") == "broken"]
        assert ev["detail"].startswith("load failed: ")
        assert s.alive()


def test_single_model_file(tmp_path):
    with Server(IRIS_ONNX, "--model-name", "flowers", tmpdir=str(tmp_path)) as s:
        r = s.post("/v2/models/flowers/infer", BODY)
        assert (r.status, r.json()["model_version"]) == (200, "1")
        assert s.get("/v1/models").json() == {"models": ["flowers"]}
    with Server(IRIS_ONNX, tmpdir=str(tmp_path)) as s:  # named after the file
        assert s.post("/v2/models/model/infer", BODY).status == 200


def test_port_in_use_exits_1(repo):
    # A socket bound without SO_REUSEPORT blocks the port: run-time failure.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1)
    try:
        port = sock.getsockname()[1]
        r = run_axle("serve", repo, "--allow-root", "--http-port", port, timeout=10)
        assert r.returncode == 1, r
        assert "cannot listen on port %d" % port in r.stderr
    finally:
        sock.close()


# --------------------------------------------------------------------------
# Option and configuration errors: exit 2 (D2, D3, D38)
# --------------------------------------------------------------------------

def test_refuses_root_without_allow_root(repo):
    if os.geteuid() != 0:
        pytest.skip("needs to run as root")
    r = run_axle("serve", repo, "--http-port", "0")
    assert r.returncode == 2
    assert "refusing to run as root" in r.stderr


@pytest.mark.parametrize("args,needle", [
    (["--model-control", "explicit"], "config error: --model-control=explicit needs"),
    (["--model-control", "sometimes"], "--model-control must be none, poll or explicit"),
    (["--management-token", "x" * 40], "tokens are read from files only"),
    (["--inference-token=" + "x" * 40], "tokens are read from files only"),
    (["--host", "0.0.0.0"], "config error: listening on 0.0.0.0 needs --inference-token-file"),
    (["--http-port", "70000"], "invalid value for --http-port"),
    (["--threads", "0"], "invalid value for --threads"),
    (["--no-such-option"], "unknown option '--no-such-option'"),
])
def test_config_errors_exit_2(repo, args, needle):
    r = run_axle("serve", repo, "--allow-root", "--http-port", "0", *args)
    assert r.returncode == 2, r
    assert needle in r.stderr, r.stderr


def test_token_file_rules(repo, tmp_path):
    loose = token_file(tmp_path, "loose.token", TOKEN_MGMT, mode=0o644)
    r = run_axle("serve", repo, "--allow-root", "--http-port", "0", "--model-control", "explicit",
                 "--management-token-file", loose)
    assert r.returncode == 2
    assert "token file must not be readable by others or writable by the group" in r.stderr
    short = token_file(tmp_path, "short.token", "x" * 31)
    r = run_axle("serve", repo, "--allow-root", "--http-port", "0", "--inference-token-file", short)
    assert r.returncode == 2 and "token must be at least 32 bytes" in r.stderr
    r = run_axle("serve", repo, "--allow-root", "--http-port", "0", "--inference-token-file",
                 tmp_path / "missing.token")
    assert r.returncode == 2 and "token file cannot be opened" in r.stderr
    # Group-readable (0640) is allowed.
    ok = token_file(tmp_path, "ok.token", TOKEN_INFER, mode=0o640)
    with Server(repo, "--inference-token-file", ok, tmpdir=str(tmp_path)) as s:
        assert s.get("/v2/health/live").status == 200


def test_missing_repository(tmp_path):
    r = run_axle("serve", tmp_path / "nope", "--allow-root", "--http-port", "0")
    assert r.returncode == 2 and "not found" in r.stderr


def test_help():
    r = run_axle("serve", "--help")
    assert r.returncode == 0 and "usage: axle serve PATH" in r.stdout


# --------------------------------------------------------------------------
# Signals and drain (§3.5)
# --------------------------------------------------------------------------

SLOW_W = 384


def slow_body(rows=32):
    x = np.full((rows, SLOW_W), 0.01, np.float32)
    return v2_json([{"name": "x", "shape": [rows, SLOW_W], "datatype": "FP32",
                     "data": x.flatten().tolist()}], parameters={"binary_data_output": True})


def test_sigterm_under_load_zero_failed(tmp_path):
    repo = tmp_path / "repo"
    drain_delay, drain_timeout = 1.0 * SLOW, 10.0
    # Four clients queue on one worker, so a request takes about four runs:
    # size the model so that is a quarter of the drain delay.
    layers = slow_layers(tmp_path, drain_delay / 16, width=SLOW_W)
    put_model(repo, "slow", 1, slow_model(n_layers=layers, width=SLOW_W))
    s = Server(repo, "--drain-timeout", drain_timeout, "--intra-op-threads", "1", "--queue-timeout-us", "0",
               drain_delay=drain_delay, threads=2, tmpdir=str(tmp_path))
    try:
        def check(resp):
            n = int(resp.header("inference-header-content-length"))
            assert len(resp.body) == n + 32 * SLOW_W * 4

        loop = LoadLoop(s.port, "/v2/models/slow/infer", slow_body(), n_threads=4, check=check,
                        stop_on_refused=True).start()
        assert loop.wait_count(20), loop.failures
        t_sig = time.monotonic()
        s.signal(signal.SIGTERM)
        # Readiness goes false within 100 ms: every probe sent 100 ms or
        # more after the signal answers 503 (a probe may wait behind
        # inference on its I/O thread; what counts is when it was sent).
        # Liveness stays 200 until the listener closes.
        ready, live_codes = [], []
        while time.monotonic() - t_sig < drain_delay * 0.8:
            t_probe = time.monotonic() - t_sig
            r = request(s.port, "GET", "/v2/health/ready", timeout=30)
            ready.append((t_probe, r.status))
            if r.status == 503:
                assert r.error == "shutting down"
            live_codes.append(request(s.port, "GET", "/v2/health/live", timeout=30).status)
            time.sleep(0.01)
        late_probes = [st for t, st in ready if t >= 0.1]
        assert late_probes and set(late_probes) == {503}, ready
        assert set(live_codes) == {200}
        # New connections are still served during the drain delay.
        during = [r for r in loop.results if r[0] > t_sig + 0.1 and r[1] < t_sig + drain_delay - 0.1]
        assert during, "no requests completed during the drain delay"
        rc = s.wait(timeout=drain_delay + drain_timeout + 5)
        t_exit = time.monotonic() - t_sig
        loop.stop()
        s.check_sanitizers()
        assert rc == 0, s.stderr()[-3000:]
        assert t_exit < drain_delay + drain_timeout + 1, t_exit
        assert loop.failures == [], loop.failures[:5]
        in_flight = [r for r in loop.results if r[0] < t_sig < r[1]]
        assert in_flight, "no request was in flight at SIGTERM"
        late = [r for r in loop.results if r[0] > t_sig + drain_delay + 0.3]
        assert all(r[4] for r in late), "answers after the listener closed must say Connection: close"
        events = [e["event"] for e in s.log()]
        assert events[-2:] == ["draining", "stopped"] or events[-1] == "stopped", events[-5:]
    finally:
        s.kill()


def test_drain_refuse_answers_new_inference_503_and_finishes_in_flight(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "slow", 1, slow_model(n_layers=64, width=SLOW_W))
    put_model(repo, "iris", 1, IRIS_ONNX)
    s = Server(repo, "--drain-refuse", "--intra-op-threads", "1", drain_delay=2 * SLOW,
               threads=2, tmpdir=str(tmp_path))
    try:
        assert s.post("/v2/models/iris/infer", BODY).status == 200
        # A slow request in flight when the signal comes still gets its 200.
        c = connect(s.port)
        c.sendall(http_req_bytes("POST", "/v2/models/slow/infer", slow_body(),
                                 {"Content-Type": "application/json"}))
        time.sleep(0.05)
        s.signal(signal.SIGTERM)
        s.wait_log(lambda e: e.get("event") == "draining")
        r = s.post("/v2/models/iris/infer", BODY)
        assert r.status == 503 and r.error == "shutting down"
        assert r.header("retry-after") == "1"
        r = s.post("/v1/models/iris:predict", {"instances": X.tolist()})
        assert r.status == 503 and r.error == "shutting down"
        assert s.get("/v2/health/live").status == 200
        assert s.get("/v2/health/ready").status == 503
        assert s.get("/v2/models/iris").status == 200  # metadata is still served
        raw, _, _ = recv_all(c, 30, until_responses=1)
        c.close()
        assert parse_responses(raw)[0].status == 200
        assert s.wait(20) == 0
        s.check_sanitizers()
    finally:
        s.kill()


def test_sigterm_with_idle_connections_exits_promptly(repo, tmp_path):
    s = Server(repo, "--drain-timeout", "20", drain_delay=0.2, tmpdir=str(tmp_path))
    conns = []
    try:
        for _ in range(3):
            c = connect(s.port)
            c.sendall(http_req_bytes("GET", "/v2/health/live"))
            raw, _, _ = recv_all(c, 5, until_responses=1)
            assert parse_responses(raw)[0].status == 200
            conns.append(c)
        t0 = time.monotonic()
        s.signal(signal.SIGTERM)
        assert s.wait(10) == 0
        assert time.monotonic() - t0 < (0.2 + 1.5) * SLOW  # idle keep-alive closed, no 20 s wait
        for c in conns:
            more, closed, _ = recv_all(c, 2)
            assert closed and more == b""
        s.check_sanitizers()
    finally:
        for c in conns:
            c.close()
        s.kill()


def test_drain_timeout_bounds_exit(repo, tmp_path):
    # A client stuck mid-body keeps its connection; the drain gives up
    # after --drain-timeout and the process still exits 0.
    s = Server(repo, "--drain-timeout", "1", "--body-timeout", "60", drain_delay=0.2,
               tmpdir=str(tmp_path))
    c = connect(s.port)
    try:
        c.sendall(b"POST /v2/models/iris/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        time.sleep(0.2)
        t0 = time.monotonic()
        s.signal(signal.SIGTERM)
        assert s.wait(10) == 0
        assert time.monotonic() - t0 < (0.2 + 1 + 1.5) * SLOW
        s.check_sanitizers()
    finally:
        c.close()
        s.kill()


def test_second_signal_exits_1_within_1s(repo, tmp_path):
    s = Server(repo, drain_delay=10, tmpdir=str(tmp_path))
    try:
        s.signal(signal.SIGTERM)
        s.wait_log(lambda e: e.get("event") == "draining")
        assert s.get("/v2/health/ready").status == 503
        t0 = time.monotonic()
        s.signal(signal.SIGTERM)
        assert s.wait(5) == 1
        assert time.monotonic() - t0 < 1.0
        assert s.events("stopped")[-1]["detail"] == "second signal"
    finally:
        s.kill()


def test_sigint_drains_like_sigterm(repo, tmp_path):
    s = Server(repo, tmpdir=str(tmp_path))
    try:
        s.signal(signal.SIGINT)
        assert s.wait(10) == 0
        s.check_sanitizers()
    finally:
        s.kill()


def test_sighup_is_not_fatal(repo, tmp_path):
    with Server(repo, tmpdir=str(tmp_path)) as s:
        s.signal(signal.SIGHUP)
        time.sleep(0.2)
        assert s.alive()
        assert s.post("/v2/models/iris/infer", BODY).status == 200


def test_sigterm_during_startup_load(tmp_path):
    # Signals are blocked before the listener opens (D40), so a SIGTERM
    # that arrives while models load is taken once loading is done: the
    # process still drains and exits 0, never dies of the default action.
    repo = tmp_path / "repo"
    put_model(repo, "heavy", 1, slow_model(n_layers=32, width=2048), config={"warmup": 100})
    s = Server(repo, drain_delay=0, wait_ready=False, tmpdir=str(tmp_path))
    try:
        s.wait_log(lambda e: e.get("event") == "loading")
        s.signal(signal.SIGTERM)
        assert s.wait(120) == 0
        s.check_sanitizers()
    finally:
        s.kill()


def test_server_survives_client_disconnects(repo, tmp_path):
    # Clients that vanish mid-request, mid-body and before reading the
    # answer cost nothing but their connection.
    with Server(repo, threads=2, tmpdir=str(tmp_path)) as s:
        for i in range(50):
            c = connect(s.port)
            req = http_req_bytes("POST", "/v2/models/iris/infer", BODY,
                                 {"Content-Type": "application/json"})
            c.sendall(req[: (i * 37) % len(req)] if i % 2 else req)
            c.close()
        results = []

        def hammer():
            for _ in range(20):
                results.append(request(s.port, "POST", "/v2/models/iris/infer", BODY).status)

        ts = [threading.Thread(target=hammer) for _ in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert results == [200] * 60

