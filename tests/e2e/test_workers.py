"""`axle serve --workers N` against the real binary (AXLE_BIN): a supervisor
forks N worker processes that each run the whole server on one port
(SO_REUSEPORT), restarts a worker that dies, passes signals on, and exits 0
after a clean drain of every worker (docs/serving.md#workers).

What is observed is what the kernel and the processes show: children of
the supervisor found in /proc, listening and established sockets in
/proc/net/tcp matched to a process's descriptors, each worker's own
/metrics listener (--metrics-port 0 gives each worker its own port, and
every series carries worker="K"), the supervisor's and workers' log lines,
and exit statuses.
"""

import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import numpy as np
import pytest

from serve_util import (AXLE, IRIS_ONNX, SLOW, LoadLoop, Server, check_binary, http_req_bytes,
                        iris_input, put_model, request, slow_model, token_file, v2_json,
                        _parse_one)

X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)
IRIS_BODY = v2_json([iris_input(X)])
IRIS_PATH = "/v2/models/iris/infer"


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    put_model(r, "iris", 1, IRIS_ONNX)
    return r


# --------------------------------------------------------------------------
# /proc helpers
# --------------------------------------------------------------------------

def children(pid):
    """Pids whose parent is pid (from /proc/*/stat; comm may hold spaces)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(d))
    return sorted(out)


def gone(pid):
    """No process, or nothing left of it but zombie threads."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return True
    for t in tids:
        try:
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                stat = f.read()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2:].split()[0] not in ("Z", "X"):
            return False
    return True


def socket_inodes(pid):
    out = set()
    try:
        names = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return out
    for n in names:
        try:
            t = os.readlink("/proc/%d/fd/%s" % (pid, n))
        except OSError:
            continue
        if t.startswith("socket:["):
            out.add(int(t[8:-1]))
    return out


def tcp_rows():
    rows = []
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for ln in lines:
            p = ln.split()
            rows.append({"local_port": int(p[1].rsplit(":", 1)[1], 16),
                         "remote_port": int(p[2].rsplit(":", 1)[1], 16),
                         "state": p[3], "inode": int(p[9])})
    return rows


def listeners(pid, port):
    """Listening sockets of process pid on port."""
    ino = socket_inodes(pid)
    return [r for r in tcp_rows() if r["state"] == "0A" and r["local_port"] == port
            and r["inode"] in ino]


def client_ports_of(pid, port):
    """Client-side ports of the established connections process pid
    serves on port."""
    ino = socket_inodes(pid)
    return {r["remote_port"] for r in tcp_rows() if r["state"] == "01"
            and r["local_port"] == port and r["inode"] in ino}


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


# --------------------------------------------------------------------------
# The server under test
# --------------------------------------------------------------------------

class Workers(Server):
    """A Server started with --workers; teardown also makes sure no worker
    outlives the test."""

    def __init__(self, repo, n, *args, **kw):
        super().__init__(repo, "--workers", n, *args, **kw)
        self.n = n

    def workers(self):
        return children(self.proc.pid)

    def worker_pid(self, k):
        """Pid of worker k from the supervisor's latest worker_started line."""
        pid = None
        for e in self.events("worker_started"):
            m = re.match(r"worker (\d+), pid (\d+)", e.get("detail", ""))
            if m and int(m.group(1)) == k:
                pid = int(m.group(2))
        return pid

    def metrics_ports(self):
        """{worker id: its --metrics-port listener}, latest start of each."""
        out = {}
        for e in self.events("metrics_listening"):
            out[e["worker"]] = int(re.search(r":(\d+)/metrics", e["detail"]).group(1))
        return out

    def kill(self):
        kids = children(self.proc.pid) if self.proc.poll() is None else []
        super().kill()
        for k in kids:
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass


def successes(metrics_port, model="iris"):
    """(worker label, success count) scraped from one worker's /metrics."""
    r = request(metrics_port, "GET", "/metrics")
    assert r.status == 200, r
    m = re.search(r'^axle_inference_request_success_total\{worker="(\d+)",model="%s",'
                  r'version="1"\} (\d+)$' % model, r.body.decode(), re.M)
    assert m, r.body.decode()[:2000]
    return int(m.group(1)), int(m.group(2))


def run_axle(*args, env=None, timeout=30):
    check_binary()
    e = {k: v for k, v in os.environ.items() if not k.startswith("AXLE_") or k == "AXLE_BIN"}
    e.update(env or {})
    return subprocess.run([AXLE, *[str(a) for a in args]], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout * SLOW, env=e)


# --------------------------------------------------------------------------
# Start-up and distribution
# --------------------------------------------------------------------------

def test_two_workers_each_listen_and_both_answer(repo, tmp_path):
    access = tmp_path / "access.log"
    with Workers(repo, 2, "--metrics-port", 0, "--access-log", access,
                 tmpdir=str(tmp_path)) as s:
        # One "listening" line, from the supervisor, with the port in use.
        listening = s.events("listening")
        assert len(listening) == 1 and "worker" not in listening[0], listening
        assert listening[0]["detail"].startswith("http://127.0.0.1:%d " % s.port)
        assert "workers=2" in listening[0]["detail"]
        # ... written only once both workers listen.
        log = s.log()
        at = log.index(listening[0])
        mine = [i for i, e in enumerate(log) if e.get("event") == "worker_listening"]
        assert sorted(log[i]["worker"] for i in mine) == [1, 2]
        assert all(i < at for i in mine), log
        assert len([e for e in s.events("ready") if "model" not in e and "worker" not in e]) == 1
        kids = s.workers()
        assert len(kids) == 2 and sorted(kids) == sorted([s.worker_pid(1), s.worker_pid(2)])
        # Each worker has its own listener on the port; the supervisor
        # holds the port without listening.
        for k in kids:
            assert listeners(k, s.port), "worker %d does not listen on %d" % (k, s.port)
        assert listeners(s.proc.pid, s.port) == []
        # Every worker line says which worker wrote it.
        ready = [e for e in s.events("ready") if "model" not in e and "worker" in e]
        assert sorted(e["worker"] for e in ready) == [1, 2]
        # Fresh connections: the kernel spreads them over both workers.
        n = 60
        for _ in range(n):
            r = s.post(IRIS_PATH, IRIS_BODY)
            assert r.status == 200, r
        ports = s.metrics_ports()
        assert sorted(ports) == [1, 2] and ports[1] != ports[2]
        counts = dict(successes(ports[k]) for k in (1, 2))
        assert sorted(counts) == [1, 2]
        assert counts[1] > 0 and counts[2] > 0, counts
        assert counts[1] + counts[2] == n, counts
    lines = [json.loads(ln) for ln in access.read_text().splitlines()]
    infer = [ln for ln in lines if ln["path"] == IRIS_PATH]
    assert len(infer) == n
    assert {ln["worker"] for ln in infer} == {1, 2}


def test_workers_1_has_no_supervisor(repo, tmp_path):
    with Server(repo, "--workers", 1, tmpdir=str(tmp_path)) as s:
        assert s.post(IRIS_PATH, IRIS_BODY).status == 200
        assert children(s.proc.pid) == []
        assert listeners(s.proc.pid, s.port)
        assert "workers=" not in s.events("listening")[0]["detail"]
        assert s.events("worker_started") == []
        assert all("worker" not in e for e in s.log())


def test_axle_workers_environment_variable(repo, tmp_path):
    with Server(repo, env={"AXLE_WORKERS": "2"}, tmpdir=str(tmp_path)) as s:
        assert len(children(s.proc.pid)) == 2
        assert "workers=2" in s.events("listening")[0]["detail"]
        assert s.post(IRIS_PATH, IRIS_BODY).status == 200


@pytest.mark.parametrize("args,env,needle", [
    (["--workers", "0"], None, "--workers"),
    (["--workers", "65"], None, "--workers"),
    (["--workers", "two"], None, "--workers"),
    ([], {"AXLE_WORKERS": "0"}, "--workers"),
    (["--workers", "2", "--model-control", "explicit", "--management-token-file", "TOKEN"],
     None, "--workers 1"),
    (["--workers", "2", "--max-batch-size", "2000"], None, "--max-batch-size"),
    (["--workers", "2", "--metrics-port", "65535"], None, "--metrics-port"),
    (["--workers", "2", "--prediction-log", "MISSING"], None, "prediction log"),
    (["--workers", "2", "--prediction-log", "LINKED"], None, "not a directory"),
])
def test_bad_config_with_workers_exits_2_before_forking(repo, tmp_path, args, env, needle):
    from serve_util import TOKEN_MGMT
    tok = token_file(tmp_path, "mgmt", TOKEN_MGMT)
    logdir = tmp_path / "log"
    logdir.mkdir()
    os.symlink(str(tmp_path), str(logdir / "worker-2"))
    subst = {"TOKEN": tok, "MISSING": str(tmp_path / "nope"), "LINKED": str(logdir)}
    args = [subst.get(a, a) for a in args]
    p = run_axle("serve", repo, "--http-port", 0, "--allow-root", *args, env=env)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert needle in p.stderr, p.stderr
    assert "worker_started" not in p.stderr and "listening" not in p.stderr, p.stderr


def test_missing_repository_with_workers_exits_2(tmp_path):
    p = run_axle("serve", tmp_path / "nope", "--http-port", 0, "--allow-root", "--workers", 2)
    assert p.returncode == 2 and "not found" in p.stderr, p.stderr
    assert "worker_started" not in p.stderr


def test_worker_failing_its_first_start_fails_the_server(repo, tmp_path):
    # Worker 2's log directory holds a directory where a segment should be:
    # its recovery refuses it (exit 2) before its listener opens. Worker 1
    # is drained and the server exits with worker 2's status.
    logdir = tmp_path / "log"
    (logdir / "worker-2" / "predlog-00000000000000000001.log").mkdir(parents=True)
    p = run_axle("serve", repo, "--http-port", 0, "--allow-root", "--drain-delay", "0.2",
                 "--workers", 2, "--prediction-log", logdir)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "worker 2: prediction log recovery" in p.stderr
    events = [json.loads(ln) for ln in p.stderr.splitlines() if ln.startswith("{")]
    names = [e["event"] for e in events]
    assert "worker_failed" in names and "listening" not in names, names
    w1 = [e for e in events if e.get("worker") == 1]
    assert w1 and w1[-1]["event"] == "stopped", w1
    assert events[-1] == {**events[-1], "event": "stopped", "detail": "exit status 2"}


# --------------------------------------------------------------------------
# A worker dies
# --------------------------------------------------------------------------

class KeepAliveClients:
    """Client threads, each on one keep-alive connection for as long as it
    works. A request that fails (connection reset or closed without an
    answer) is recorded with the client port of its connection and sent
    again on a new connection (up to 5 tries), as HTTP clients retry on a
    broken pooled connection. Every logical request must end in a 200."""

    def __init__(self, port, n_threads):
        self.port = port
        self.ok = 0
        self.per_thread = [0] * n_threads
        self.failed = []    # (client port, time, error)
        self.bad = []       # answers other than 200, and retries that failed
        self.connects = []  # (client port, time)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(n_threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self.threads:
            t.join(30 * SLOW)
        assert not any(t.is_alive() for t in self.threads)

    def _connect(self):
        t = time.monotonic()  # before the SYN: what the test's window compares
        c = socket.create_connection(("127.0.0.1", self.port), timeout=30 * SLOW)
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self.connects.append((c.getsockname()[1], t))
        return c

    def _exchange(self, c, req):
        c.sendall(req)
        buf = bytearray()
        while True:
            chunk = c.recv(1 << 16)
            if not chunk:
                return None
            buf += chunk
            r, _ = _parse_one(bytes(buf), 0)
            if r is not None:
                return r

    def _run(self, i):
        req = http_req_bytes("POST", IRIS_PATH, IRIS_BODY, {"Content-Type": "application/json"})
        c = None
        while not self._stop.is_set():
            tries = 0
            while True:
                tries += 1
                try:
                    if c is None:
                        c = self._connect()
                    cport = c.getsockname()[1]
                    r = self._exchange(c, req)
                    err = "closed without an answer"
                except OSError as e:
                    r, err = None, repr(e)
                    cport = c.getsockname()[1] if c is not None else None
                if r is not None:
                    break
                with self._lock:
                    self.failed.append((cport, time.monotonic(), err))
                if c is not None:
                    c.close()
                c = None
                if tries >= 5:
                    with self._lock:
                        self.bad.append("retry failed: %s" % err)
                    break
            if r is None:
                continue
            with self._lock:
                if r.status == 200:
                    self.ok += 1
                    self.per_thread[i] += 1
                else:
                    self.bad.append("status %d %r" % (r.status, r.body[:200]))
            if (r.header("connection") or "").lower() == "close":
                c.close()
                c = None
        if c is not None:
            c.close()


def test_kill9_worker_is_restarted_and_only_its_connections_fail(repo, tmp_path):
    with Workers(repo, 2, "--metrics-port", 0, tmpdir=str(tmp_path)) as s:
        clients = KeepAliveClients(s.port, 12).start()
        try:
            wait_until(lambda: min(clients.per_thread) >= 5, 30, "every client to get answers")
            # The victim: the worker serving more of the 12 connections.
            held = {k: client_ports_of(s.worker_pid(k), s.port) for k in (1, 2)}
            assert len(held[1]) + len(held[2]) == 12, held
            victim = 1 if len(held[1]) >= len(held[2]) else 2
            other = 3 - victim
            old_pid, other_pid = s.worker_pid(victim), s.worker_pid(other)
            ok_before = clients.ok
            lst = {r["inode"] for r in listeners(old_pid, s.port)}
            assert lst
            t_kill = time.monotonic()
            os.kill(old_pid, signal.SIGKILL)
            # Dead for the network once its listeners have left the table
            # (the thread group leader turns zombie earlier).
            wait_until(lambda: not lst & {r["inode"] for r in tcp_rows()}, 10,
                       "the killed worker's listener to close")
            t_dead = time.monotonic()
            wait_until(lambda: gone(old_pid), 10, "the killed worker to go")
            wait_until(lambda: s.worker_pid(victim) != old_pid, 10, "the restart")
            new_pid = s.worker_pid(victim)
            wait_until(lambda: listeners(new_pid, s.port), 20, "the new worker to listen")
            ok_at_restart = clients.ok
            wait_until(lambda: clients.ok > ok_at_restart + 200, 30, "more answers")
        finally:
            clients.stop()
        assert clients.bad == [], clients.bad[:5]
        # Failures only on connections the killed worker held, or on ones
        # opened while it was dying (its listener was still in the group).
        window = {p for p, t in clients.connects if t_kill <= t <= t_dead}
        # A connect that failed outright (no local port: the SYN went to the
        # dying listener and was reset) counts when it failed while the
        # worker was dying; its error can surface a little after the
        # listener row is gone.
        def in_window(f):
            return f[0] is None and t_kill <= f[1] <= t_dead + 1.0
        stray = [f for f in clients.failed
                 if f[0] not in held[victim] | window and not in_window(f)]
        assert stray == [], (stray, held, clients.failed)
        assert clients.ok > ok_before
        assert s.alive() and s.worker_pid(other) == other_pid
        assert sorted(s.workers()) == sorted([new_pid, other_pid])
        exited = [e for e in s.events("worker_exited") if "pid %d," % old_pid in e["detail"]]
        assert exited and "killed by signal 9" in exited[0]["detail"], s.events("worker_exited")
        restarting = s.events("worker_restarting")
        assert restarting and "in 0.1 s" in restarting[0]["detail"], restarting
        # The restarted worker takes new connections again.
        for _ in range(40):
            assert s.post(IRIS_PATH, IRIS_BODY).status == 200
        wid, n_new = successes(s.metrics_ports()[victim])
        assert wid == victim and n_new > 0
        assert len(s.events("listening")) == 1


def test_worker_that_exits_cleanly_is_replaced_at_once(repo, tmp_path):
    with Workers(repo, 2, tmpdir=str(tmp_path)) as s:
        old = s.worker_pid(2)
        os.kill(old, signal.SIGTERM)  # a recycle: it drains and exits 0
        wait_until(lambda: s.worker_pid(2) != old, 10, "the replacement")
        ex = [e for e in s.events("worker_exited") if "pid %d," % old in e["detail"]]
        assert ex and "exited with status 0" in ex[0]["detail"]
        assert "at once" in s.events("worker_restarting")[0]["detail"]
        wait_until(lambda: listeners(s.worker_pid(2), s.port), 20, "the new worker to listen")
        assert s.post(IRIS_PATH, IRIS_BODY).status == 200


def test_crash_loop_gives_up_and_drains_the_rest(repo, tmp_path):
    s = Workers(repo, 2, tmpdir=str(tmp_path))
    try:
        survivor = s.worker_pid(2)
        killed = set()
        deadline = time.monotonic() + 60 * SLOW
        while s.alive() and time.monotonic() < deadline:
            pid = s.worker_pid(1)
            if pid and pid not in killed:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                killed.add(pid)
            time.sleep(0.01)
        assert s.wait(10) == 1
        assert len(killed) == 8, killed
        loop = s.events("crash_loop")
        assert loop and "failed 8 times" in loop[0]["detail"], s.stderr()[-3000:]
        ex = [e for e in s.events("worker_exited") if "pid %d," % survivor in e["detail"]]
        assert ex and "exited with status 0" in ex[0]["detail"]
        assert gone(survivor)
        s.check_sanitizers()
    finally:
        s.kill()


def test_workers_die_with_the_supervisor(repo, tmp_path):
    s = Workers(repo, 2, drain_delay=0.2, tmpdir=str(tmp_path))
    try:
        kids = s.workers()
        assert len(kids) == 2
        s.proc.kill()
        s.proc.wait()
        for k in kids:
            wait_until(lambda: gone(k), 10, "worker %d to exit" % k)
        stopped = [e for e in s.events("stopped") if "worker" in e]
        assert sorted(e["worker"] for e in stopped) == [1, 2]
    finally:
        s.kill()


# --------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------

SLOW_W = 384


def slow_body(rows=32):
    x = np.full((rows, SLOW_W), 0.01, np.float32)
    return v2_json([{"name": "x", "shape": [rows, SLOW_W], "datatype": "FP32",
                     "data": x.flatten().tolist()}], parameters={"binary_data_output": True})


def test_sigterm_under_load_no_failed_requests_exit_0(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "slow", 1, slow_model(n_layers=32, width=SLOW_W))
    drain_delay, drain_timeout = 1.0 * SLOW, 10.0
    s = Workers(repo, 2, "--drain-timeout", drain_timeout, "--queue-timeout-us", "0",
                drain_delay=drain_delay, tmpdir=str(tmp_path))
    try:
        def check(resp):
            n = int(resp.header("inference-header-content-length"))
            assert len(resp.body) == n + 32 * SLOW_W * 4

        loop = LoadLoop(s.port, "/v2/models/slow/infer", slow_body(), n_threads=4, check=check,
                        stop_on_refused=True).start()
        assert loop.wait_count(20), loop.failures
        kids = s.workers()
        t_sig = time.monotonic()
        s.signal(signal.SIGTERM)
        # Every worker drains: readiness 503 on whichever answers.
        s.wait_log(lambda e: e.get("event") == "draining" and e.get("worker") == 2)
        s.wait_log(lambda e: e.get("event") == "draining" and e.get("worker") == 1)
        for _ in range(6):
            r = request(s.port, "GET", "/v2/health/ready", timeout=30)
            assert r.status == 503 and r.error == "shutting down"
        rc = s.wait(timeout=drain_delay + drain_timeout + 10)
        loop.stop()
        s.check_sanitizers()
        assert rc == 0, s.stderr()[-3000:]
        assert loop.failures == [], loop.failures[:5]
        in_flight = [r for r in loop.results if r[0] < t_sig < r[1]]
        assert in_flight, "no request was in flight at SIGTERM"
        assert all(gone(k) for k in kids)
        ex = s.events("worker_exited")
        assert len(ex) == 2 and all("exited with status 0" in e["detail"] for e in ex), ex
        # No worker sends Connection: close (and so new connects) before
        # every worker's listeners are closed: the supervisor's release
        # comes after both workers' listeners_closed, each worker's
        # closing_connections after the release (lines are written in
        # causal order to the one stderr).
        names = [(e["event"], e.get("worker")) for e in s.log()]
        release = names.index(("listeners_closed", None))
        for k in (1, 2):
            assert names.index(("listeners_closed", k)) < release, names
            assert names.index(("closing_connections", k)) > release, names
        last = s.log()[-1]
        assert last["event"] == "stopped" and "worker" not in last and "detail" not in last
    finally:
        s.kill()


def test_second_signal_exits_1(repo, tmp_path):
    s = Workers(repo, 2, drain_delay=10, tmpdir=str(tmp_path))
    try:
        kids = s.workers()
        s.signal(signal.SIGTERM)
        for k in (1, 2):
            s.wait_log(lambda e: e.get("event") == "draining" and e.get("worker") == k)
        assert s.get("/v2/health/ready").status == 503
        t0 = time.monotonic()
        s.signal(signal.SIGTERM)
        assert s.wait(5) == 1
        assert time.monotonic() - t0 < 1.5 * SLOW
        assert all(gone(k) for k in kids)
        sup = [e for e in s.events("stopped") if "worker" not in e]
        assert sup and sup[-1]["detail"] == "second signal"
    finally:
        s.kill()


def test_sighup_reaches_every_worker_and_logs_are_per_worker(repo, tmp_path):
    logdir = tmp_path / "log"
    logdir.mkdir()
    n = 40
    with Workers(repo, 2, "--prediction-log", logdir, "--metrics-port", 0,
                 tmpdir=str(tmp_path)) as s:
        assert sorted(os.listdir(logdir)) == ["worker-1", "worker-2"]
        for _ in range(n):
            assert s.post(IRIS_PATH, IRIS_BODY).status == 200
        s.signal(signal.SIGHUP)
        for k in (1, 2):
            s.wait_log(lambda e: e.get("event") == "predlog_rotated" and e.get("worker") == k)
        assert s.alive() and len(s.workers()) == 2
        counts = dict(successes(p) for p in s.metrics_ports().values())
    total = 0
    for k in (1, 2):
        d = logdir / ("worker-%d" % k)
        segs = [f for f in os.listdir(d) if f.startswith("predlog-") and f.endswith(".log")]
        assert len(segs) == 2, segs  # rotated by SIGHUP
        p = subprocess.run([AXLE, "log", "cat", str(d), "--verify"], capture_output=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr.decode()
        preds = [ln for ln in p.stdout.decode().splitlines()
                 if json.loads(ln)["type"] == "prediction"]
        assert len(preds) == counts[k]
        total += len(preds)
    assert total == n


def test_feedback_finds_its_prediction_on_any_worker_through_the_log(repo, tmp_path):
    """Each worker logs to its own directory; feedback that reaches a worker
    which did not answer the prediction is joined from the other's log
    (without the join, about half of these labels would be 404)."""
    logdir = tmp_path / "log"
    logdir.mkdir()
    n = 24
    with Workers(repo, 2, "--prediction-log", logdir, "--metrics-port", 0,
                 tmpdir=str(tmp_path)) as s:
        for i in range(n):  # a new connection each: the kernel spreads them
            r = s.post(IRIS_PATH, v2_json([iris_input(X[:1])], id="w-%d" % i))
            assert r.status == 200, r.body
        counts = dict(successes(p) for p in s.metrics_ports().values())
        assert sorted(counts) == [1, 2] and min(counts.values()) > 0, counts
        time.sleep(0.5)  # past the writer's batch: the records are in the files
        for i in range(n):
            r = s.post("/v2/models/iris/feedback", json.dumps({"id": "w-%d" % i, "label": 0}))
            assert r.status == 202 and r.json() == {"accepted": 1}, (i, r.status, r.body)
        r = s.post("/v2/models/iris/feedback", json.dumps({"id": "w-none", "label": 0}))
        assert (r.status, r.error) == (404, "unknown request id")
