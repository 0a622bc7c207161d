"""Horizontal scaling end to end: three `axle serve` replicas (AXLE_BIN)
behind Debian's nginx with the configuration of examples/nginx/replicas.conf,
client threads sending iris inference through nginx and counting every
failure, and mid-run one replica killed with SIGKILL and another sent
SIGTERM (docs/serving.md#replicas-behind-nginx).

Where the replicas live is decided at run time and printed (and is part of
the test id): as root with iproute2, each replica gets its own network
namespace joined to this one by a veth pair (a host of its own, as far as
TCP is concerned), and binds its veth address with --insecure-no-auth;
otherwise the replicas bind distinct loopback addresses 127.0.0.2-4 on
ephemeral ports. The loopback variant always runs too, so both paths stay
tested.

What the retry policy allows, and so what is asserted: with
`proxy_next_upstream error timeout http_503 non_idempotent` and
`proxy_next_upstream_tries 3` over three replicas, a request fails only if
all three fail it; with one replica healthy throughout, no client request
fails. Each replica runs with --drain-refuse, so once its readiness is 503
(SIGTERM) every new request it is offered is answered 503 and retried
elsewhere: nginx's access log ($upstream_addr, $upstream_status) must show
no 200 from it for any request that reached nginx after its "draining" log
line.
"""

import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

import numpy as np
import pytest

from serve_util import (AXLE, IRIS_ONNX, ROOT, SLOW, Server, check_binary, iris_input,
                        put_model, v2_json)

NGINX = "/usr/sbin/nginx"
TEMPLATE = os.path.join(ROOT, "examples", "nginx", "replicas.conf")
IRIS_PATH = "/v2/models/iris/infer"
X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)
BODY = v2_json([iris_input(X)])
DRAIN_DELAY = 2.0


# --------------------------------------------------------------------------
# Where the replicas live
# --------------------------------------------------------------------------

def _ip(*args):
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)


def netns_support():
    """(True, '') when this process can make network namespaces and veth
    pairs, else (False, why)."""
    if os.geteuid() != 0:
        return False, "not root"
    if not shutil.which("ip"):
        return False, "no iproute2"
    name, link = "axle-probe-%d" % os.getpid(), "axp%d" % (os.getpid() % 100000)
    r = _ip("netns", "add", name)
    if r.returncode != 0:
        return False, "ip netns add: " + r.stderr.strip()
    try:
        r = _ip("link", "add", link, "type", "veth", "peer", "name", link + "p")
        if r.returncode != 0:
            return False, "veth: " + r.stderr.strip()
        _ip("link", "del", link)
        return True, ""
    finally:
        _ip("netns", "del", name)


NETNS_OK, NETNS_WHY = netns_support()


class Hosts:
    """Addresses for n replicas, and the command prefix that puts a
    process in replica k's network."""

    def __init__(self, mode, n):
        self.mode, self.n = mode, n
        self.ns, self.links, self.addrs, self.prefixes = [], [], [], []
        if mode == "loopback":
            self.addrs = ["127.0.0.%d" % (k + 2) for k in range(n)]
            self.prefixes = [[] for _ in range(n)]
            return
        tag = os.getpid()
        net = "10.%d.%d" % (100 + (tag >> 8) % 100, tag % 256)
        try:
            for k in range(n):
                ns = "axle-r%d-%d" % (tag, k)
                host_if, ns_if = "axh%d_%d" % (tag % 100000, k), "axn%d_%d" % (tag % 100000, k)
                self._run("netns", "add", ns)
                self.ns.append(ns)
                self._run("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
                self.links.append(host_if)
                self._run("link", "set", ns_if, "netns", ns)
                self._run("addr", "add", "%s.%d/30" % (net, 4 * k + 1), "dev", host_if)
                self._run("link", "set", host_if, "up")
                self._run("-n", ns, "addr", "add", "%s.%d/30" % (net, 4 * k + 2), "dev", ns_if)
                self._run("-n", ns, "link", "set", ns_if, "up")
                self._run("-n", ns, "link", "set", "lo", "up")
                self.addrs.append("%s.%d" % (net, 4 * k + 2))
                # `ip netns exec` execs the command: the pid is the server's.
                self.prefixes.append(["ip", "netns", "exec", ns])
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _run(*args):
        r = _ip(*args)
        assert r.returncode == 0, "ip %s: %s" % (" ".join(args), r.stderr)

    def describe(self):
        if self.mode == "loopback":
            return "replicas on distinct loopback addresses %s" % ", ".join(self.addrs)
        return "replicas in network namespaces %s, joined by veth pairs, at %s" % (
            ", ".join(self.ns), ", ".join(self.addrs))

    def close(self):
        for link in self.links:
            _ip("link", "del", link)  # takes its peer along
        for ns in self.ns:
            _ip("netns", "del", ns)
        self.links, self.ns = [], []


# --------------------------------------------------------------------------
# Replicas and nginx
# --------------------------------------------------------------------------

class Replica(Server):
    """`axle serve` in the given network (prefix), on host:ephemeral port."""

    def __init__(self, repo, host, prefix, tmpdir, name):
        check_binary()
        self.repo, self.host, self.name, self.tmpdir = str(repo), host, name, str(tmpdir)
        self.access_path = os.path.join(self.tmpdir, name + ".access")
        self.args = list(prefix) + [
            AXLE, "serve", self.repo, "--host", host, "--http-port", "0", "--allow-root",
            "--drain-delay", str(DRAIN_DELAY), "--drain-refuse", "--drain-timeout", "10",
            "--access-log", self.access_path]
        if not host.startswith("127."):
            self.args.append("--insecure-no-auth")
        self.err_path = os.path.join(self.tmpdir, name + ".stderr")
        self._err = open(self.err_path, "wb")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AXLE_") and k not in ("HTTP_PORT", "PORT", "MODEL_NAME")}
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._err, env=env)
        self.port = None
        self.returncode = None
        self._checked = False
        try:
            self._wait_started(60 * SLOW, True)
        except BaseException:
            self.kill()
            raise

    @property
    def addr(self):
        return "%s:%d" % (self.host, self.port)

    def direct(self, method, path):
        c = http.client.HTTPConnection(self.host, self.port, timeout=10 * SLOW)
        try:
            c.request(method, path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def answered(self):
        """Inference requests this replica answered 200 (its access log)."""
        n = 0
        try:
            with open(self.access_path) as f:
                for line in f:
                    d = json.loads(line)
                    n += d["path"] == IRIS_PATH and d["status"] == 200
        except FileNotFoundError:
            pass
        return n

    def event_time(self, name):
        """Unix time of this replica's first log event `name`."""
        e = self.wait_log(lambda e: e.get("event") == name)
        return datetime.datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx as a non-daemon master with one worker, its prefix a temp dir,
    the config made from examples/nginx/replicas.conf."""

    def __init__(self, replicas, tmpdir):
        self.prefix = os.path.join(str(tmpdir), "nginx")
        os.makedirs(os.path.join(self.prefix, "tmp"), exist_ok=True)
        with open(TEMPLATE) as f:
            template = f.read()
        servers = "\n        ".join("server %s max_fails=1 fail_timeout=2s;" % r.addr
                                   for r in replicas)
        last = None
        for _ in range(3):  # a port picked free may be taken by the time nginx binds
            self.port = free_port()
            conf = (template.replace("@SERVERS@", servers)
                    .replace("@LISTEN@", "127.0.0.1:%d" % self.port)
                    .replace("@ACCESS_LOG@", "access_log access.log upstreams;")
                    .replace("@TRIES@", str(len(replicas))))
            with open(os.path.join(self.prefix, "nginx.conf"), "w") as f:
                f.write(conf)
            args = [NGINX, "-p", self.prefix, "-c", "nginx.conf", "-e", "error.log"]
            if os.geteuid() == 0:
                args += ["-g", "user root;"]  # workers may read the temp dir
            self.out = open(os.path.join(self.prefix, "stdout"), "wb")
            self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=self.out,
                                         stderr=subprocess.STDOUT)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    c.request("GET", "/v2/health/live")
                    if c.getresponse().status == 200:
                        return
                except OSError as e:
                    last = e
                time.sleep(0.05)
            self.stop()
            last = self.errors()[-2000:] or last
        raise AssertionError("nginx did not start: %s" % last)

    def errors(self):
        try:
            with open(os.path.join(self.prefix, "error.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def access(self):
        """[(start, end, status, request, [(upstream, status), ...])] per request."""
        out = []
        with open(os.path.join(self.prefix, "access.log")) as f:
            for line in f:
                m = re.match(r'^(\S+) (\S+) (\d+) "([^"]*)" "([^"]*)" "([^"]*)"$', line.rstrip("\n"))
                assert m, line
                msec, rtime, status, request, addrs, stats = m.groups()
                # $upstream_addr: ", " between tries, " : " between upstream groups.
                a = [x.strip() for x in addrs.replace(" : ", ", ").split(",") if x.strip()]
                s = [x.strip() for x in stats.replace(" : ", ", ").split(",") if x.strip()]
                out.append((float(msec) - float(rtime), float(msec), int(status), request,
                            list(zip(a, s))))
        return out

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful: finish, then exit
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


class Clients:
    """Client threads, each on its own keep-alive connection to nginx,
    sending iris inference in a closed loop. Anything but a 200 with the
    right outputs is a failure, and every failure is kept."""

    def __init__(self, port, n_threads):
        self.port = port
        self.ok = 0
        self.failures = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n_threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self._stop.set()
        for t in self.threads:
            t.join(60 * SLOW)
        assert not any(t.is_alive() for t in self.threads), "client threads hung"

    def wait_ok(self, n, timeout=60):
        deadline = time.monotonic() + timeout * SLOW
        while self.ok < n and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.ok >= n, (self.ok, self.failures[:5])

    def _run(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60 * SLOW)
        hdr = {"Content-Type": "application/json"}
        while not self._stop.is_set():
            t0 = time.time()
            try:
                c.request("POST", IRIS_PATH, body=BODY, headers=hdr)
                r = c.getresponse()
                data = r.read()
                status = r.status
            except (OSError, http.client.HTTPException) as e:
                with self._lock:
                    self.failures.append((t0, repr(e)))
                c.close()
                continue
            good = status == 200
            if good:
                try:
                    out = json.loads(data)["outputs"]
                    good = [o["shape"] for o in out][0] == [2, 3]
                except (ValueError, KeyError, IndexError):
                    good = False
            with self._lock:
                if good:
                    self.ok += 1
                else:
                    self.failures.append((t0, "status %d %r" % (status, data[:200])))
        c.close()


# --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["netns", "loopback"])
def test_replicas_behind_nginx_survive_kill_and_drain(mode, tmp_path):
    if mode == "netns" and not NETNS_OK:
        pytest.skip("network namespaces not available here (%s): the loopback variant runs"
                    % NETNS_WHY)
    if not os.access(NGINX, os.X_OK):
        pytest.skip("Debian's nginx is not installed")
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX)
    hosts = Hosts(mode, 3)
    print("test_replicas: " + hosts.describe())
    replicas, nginx, clients = [], None, None
    try:
        for k in range(3):
            replicas.append(Replica(repo, hosts.addrs[k], hosts.prefixes[k], tmp_path,
                                    "replica-%d" % k))
        killed, drained, kept = replicas
        nginx = Nginx(replicas, tmp_path)
        clients = Clients(nginx.port, 6).start()
        clients.wait_ok(300)
        deadline = time.monotonic() + 30 * SLOW
        while min(r.answered() for r in replicas) == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert min(r.answered() for r in replicas) > 0, [r.answered() for r in replicas]

        time.sleep(1)

        # SIGKILL one replica: its in-flight requests and the connections
        # nginx then tries to it fail, and are retried on the others.
        ok = clients.ok
        t_kill = time.time()
        killed.proc.kill()
        killed.proc.wait()
        clients.wait_ok(ok + 300)
        time.sleep(1)

        # SIGTERM another: readiness 503 at once, new requests refused
        # (retried elsewhere) during the drain delay, then its listener
        # closes; it exits 0.
        ok = clients.ok
        drained.signal(signal.SIGTERM)
        t_drain = drained.event_time("draining")
        status, _ = drained.direct("GET", "/v2/health/ready")
        assert status == 503
        clients.wait_ok(ok + 300)
        assert drained.wait(DRAIN_DELAY + 20) == 0, drained.stderr()[-3000:]
        drained.check_sanitizers()
        # Past fail_timeout (2 s): nginx offers both gone replicas a
        # request again, and retries it on the one left.
        # Wait (bounded) until nginx has tried the drained one again after
        # its listener closed, which the checks below look at.
        ok = clients.ok
        t_gone = t_drain + DRAIN_DELAY + 0.5
        deadline = time.monotonic() + 15 * SLOW
        while time.monotonic() < deadline and not [
                1 for e in nginx.access() if e[0] > t_gone
                for a, _ in e[4] if a == drained.addr]:
            time.sleep(0.2)
        clients.wait_ok(ok + 300)
    finally:
        if clients is not None:
            clients.stop()
        if nginx is not None:
            nginx.stop()
        for r in replicas:
            r.kill()
        hosts.close()

    # Nothing failed at the client: the policy allows no failure while one
    # replica is healthy.
    assert clients.failures == [], clients.failures[:10]
    log = nginx.access()
    infer = [e for e in log if IRIS_PATH in e[3]]
    assert len(infer) >= 1500 and all(e[2] == 200 for e in infer), \
        [e for e in infer if e[2] != 200][:5]
    # At most one try per replica.
    assert max(len(e[4]) for e in infer) <= 3
    for e in infer:
        tried = [a for a, _ in e[4]]
        assert len(set(tried)) == len(tried), e
        assert e[4][-1][1] == "200", e
    # The killed replica: tried after the kill (refused or broken: 502),
    # never answering, every such request answered by another replica.
    after_kill = [e for e in infer if e[0] > t_kill + 0.003]
    on_killed = [s for e in after_kill for a, s in e[4] if a == killed.addr]
    assert on_killed and set(on_killed) <= {"502", "504"}, on_killed[:10]
    assert not [e for e in infer if e[0] > t_kill + 3 and e[4][-1][0] != kept.addr]
    # The drained replica: no 200 for any request that reached nginx after
    # its readiness went 503; it turned the first ones away with 503.
    after_drain = [e for e in infer if e[0] > t_drain + 0.003]
    on_drained = [s for e in after_drain for a, s in e[4] if a == drained.addr]
    assert "200" not in on_drained, on_drained
    # nginx's times are in milliseconds: the first refused request may
    # appear to start just before the log line that announced the drain.
    around = [s for e in infer if e[0] > t_drain - 0.005 for a, s in e[4] if a == drained.addr]
    assert "503" in around, around
    # After its drain delay its listener is closed: refused (502).
    late = [s for e in infer if e[0] > t_drain + DRAIN_DELAY + 0.5
            for a, s in e[4] if a == drained.addr]
    assert late and set(late) == {"502"}, late
    # And the one replica left served everything at the end.
    tail = infer[-100:]
    assert all(e[4][-1][0] == kept.addr for e in tail)
    print("test_replicas: %d requests through nginx, %d retried, %d offered to the killed "
          "replica, %d to the drained one after its readiness went 503"
          % (len(infer), sum(len(e[4]) > 1 for e in infer), len(on_killed), len(on_drained)))
