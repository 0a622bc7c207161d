"""Shared helpers for the `axle serve` end-to-end tests (tests/e2e/test_serve_*.py).

The server under test is the real binary (AXLE_BIN, default build/axle),
started as

    AXLE_BIN serve REPO --http-port 0 --allow-root --drain-delay 0.2 ...

on an ephemeral loopback port. The port is read from the server's own
"listening" log line on stderr ({"event":"listening","detail":"http://127.0.0.1:PORT ..."}),
which is race-free (no pick-a-free-port-then-hope). Stderr goes to a file so a
chatty server can never block on a full pipe; when a server stops, its stderr
is checked for sanitizer reports (ASan/UBSan/LSan builds).

Repositories are throwaway trees built per module in tmp dirs: copies of
examples/models/{iris,mnist_cnn}/1/model.onnx plus small models made with
onnx.helper (Identity over each datatype, a two-input/two-output model, a
fixed-shape model, a deliberately slow MatMul chain for the drain and reload
tests).

Raw-socket helpers send exact bytes and parse exact responses, so the
malformed-request tests see what the server really wrote (status line,
headers, body, and whether it closed the connection).
"""

import gzip
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AXLE = os.environ.get("AXLE_BIN") or os.path.join(ROOT, "build", "axle")
EXAMPLES = os.path.join(ROOT, "examples", "models")
IRIS_ONNX = os.path.join(EXAMPLES, "iris", "1", "model.onnx")
MNIST_ONNX = os.path.join(EXAMPLES, "mnist_cnn", "1", "model.onnx")



def _sanitized(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
        return b"__asan_init" in data or b"AddressSanitizer" in data
    except OSError:
        return False


# Sanitizer builds are several times slower: scale the waits (never the
# checks). AXLE_E2E_SLOW overrides the factor.
SANITIZED = _sanitized(AXLE)
SLOW = float(os.environ.get("AXLE_E2E_SLOW") or (3 if SANITIZED else 1))

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer")

TOKEN_MGMT = "m" * 8 + "management-token-0123456789abcdef"
TOKEN_INFER = "i" * 8 + "inference-token-0123456789abcdef"


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------

def _onnx():
    import onnx  # noqa: F401  (Debian python3-onnx, visible in the venv)
    from onnx import TensorProto, helper, numpy_helper
    return onnx, TensorProto, helper, numpy_helper


def model_bytes(nodes, inputs, outputs, inits=(), opset=13):
    onnx, TP, helper, _ = _onnx()
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def identity_model(dtype_name, shape):
    """y = Identity(x) over one ONNX datatype (FLOAT, INT32, STRING, BOOL, ...)."""
    onnx, TP, helper, _ = _onnx()
    dt = getattr(TP, dtype_name)
    x = helper.make_tensor_value_info("x", dt, shape)
    y = helper.make_tensor_value_info("y", dt, shape)
    return model_bytes([helper.make_node("Identity", ["x"], ["y"])], [x], [y])


def multi_io_model():
    """Two inputs, two outputs: sum = a + b, prod = a * b (FP32 [N,2])."""
    onnx, TP, helper, _ = _onnx()
    a = helper.make_tensor_value_info("a", TP.FLOAT, ["N", 2])
    b = helper.make_tensor_value_info("b", TP.FLOAT, ["N", 2])
    s = helper.make_tensor_value_info("sum", TP.FLOAT, ["N", 2])
    p = helper.make_tensor_value_info("prod", TP.FLOAT, ["N", 2])
    return model_bytes([helper.make_node("Add", ["a", "b"], ["sum"]),
                        helper.make_node("Mul", ["a", "b"], ["prod"])], [a, b], [s, p])


def bytes_pair_model():
    """Two BYTES inputs a, b [N], passed through as ya and yb_bytes (an
    output name ending in _bytes: V1 answers it as {"b64": ...})."""
    onnx, TP, helper, _ = _onnx()
    ins = [helper.make_tensor_value_info(n, TP.STRING, ["N"]) for n in ("a", "b")]
    outs = [helper.make_tensor_value_info(n, TP.STRING, ["N"]) for n in ("ya", "yb_bytes")]
    return model_bytes([helper.make_node("Identity", ["a"], ["ya"]),
                        helper.make_node("Identity", ["b"], ["yb_bytes"])], ins, outs)


def scaled_iris_model(scale):
    """Iris with the logits scaled, so two versions give different answers
    (lets the reload tests tell which version answered)."""
    onnx, TP, helper, numpy_helper = _onnx()
    m = onnx.load(IRIS_ONNX)
    for init in m.graph.initializer:
        arr = numpy_helper.to_array(init).astype(np.float32) * np.float32(scale)
        init.CopyFrom(numpy_helper.from_array(arr, init.name))
    return m.SerializeToString()


def slow_model(n_layers=24, width=384, rows=64):
    """x[N,width] -> n_layers x (MatMul W, Relu) -> y. One weight shared by all
    layers; roughly rows*width^2*2*n_layers flops per request (~0.15 GFLOP by
    default: tens of milliseconds on one core), enough to keep requests
    genuinely in flight during drain and reload."""
    onnx, TP, helper, numpy_helper = _onnx()
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
    nodes, prev = [], "x"
    for i in range(n_layers):
        nodes.append(helper.make_node("MatMul", [prev, "w"], ["m%d" % i]))
        out = "y" if i == n_layers - 1 else "r%d" % i
        nodes.append(helper.make_node("Relu", ["m%d" % i], [out]))
        prev = out
    x = helper.make_tensor_value_info("x", TP.FLOAT, ["N", width])
    y = helper.make_tensor_value_info("y", TP.FLOAT, ["N", width])
    return model_bytes(nodes, [x], [y], [numpy_helper.from_array(w, "w")])


def slow_layers(tmpdir, seconds, width=384, rows=32, max_layers=64):
    """The n_layers for which one slow_model(width) request of `rows` rows
    takes about `seconds` on one thread with the binary under test (at most
    max_layers), from an `axle run` of a 16-layer model. Tests whose windows
    are fixed in seconds use it so that a sanitizer build or a slower
    machine does not stretch requests past those windows."""
    probe = os.path.join(str(tmpdir), "slow_probe.onnx")
    inp = os.path.join(str(tmpdir), "slow_probe_in.npy")
    with open(probe, "wb") as f:
        f.write(slow_model(n_layers=16, width=width))
    np.save(inp, np.full((rows, width), 0.01, np.float32))
    out = subprocess.run([AXLE, "run", probe, "--input", inp, "--repeat", "3", "--threads", "1"],
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    m = re.search(r"latency_us p50=([0-9.]+)", out.stdout + out.stderr)
    assert m, out.stdout + out.stderr
    per_layer = float(m.group(1)) * 1e-6 / 16
    return max(2, min(max_layers, int(seconds / per_layer)))


def iris_reference(x):
    """softmax(x @ W + b) from the iris model's own initializers."""
    onnx, TP, helper, numpy_helper = _onnx()
    m = onnx.load(IRIS_ONNX)
    inits = {i.name: numpy_helper.to_array(i) for i in m.graph.initializer}
    mm = [n for n in m.graph.node if n.op_type == "MatMul"][0]
    add = [n for n in m.graph.node if n.op_type == "Add"][0]
    w = inits[[i for i in mm.input if i in inits][0]]
    b = inits[[i for i in add.input if i in inits][0]]
    z = np.asarray(x, np.float64) @ w.astype(np.float64) + b.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def put_model(repo, name, version, data, config=None):
    """Write REPO/name/version/model.onnx (data: bytes or a path to copy)."""
    d = os.path.join(str(repo), name, str(version))
    os.makedirs(d, exist_ok=True)
    dst = os.path.join(d, "model.onnx")
    if isinstance(data, (bytes, bytearray)):
        with open(dst, "wb") as f:
            f.write(data)
    else:
        shutil.copyfile(data, dst)
    if config is not None:
        with open(os.path.join(str(repo), name, "config.json"), "w") as f:
            f.write(config if isinstance(config, str) else json.dumps(config))
    return dst


def put_version_atomic(repo, name, version, data):
    """Stage a version under a dot-name, then rename() it into place (what
    operators are told to do; the poller never sees half a file)."""
    stage = os.path.join(str(repo), name, ".stage-%s" % version)
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    path = os.path.join(stage, "model.onnx")
    if isinstance(data, (bytes, bytearray)):
        with open(path, "wb") as f:
            f.write(data)
    else:
        shutil.copyfile(data, path)
    os.rename(stage, os.path.join(str(repo), name, str(version)))


def build_zoo(repo):
    """The shared repository most tests run against."""
    put_model(repo, "iris", 1, IRIS_ONNX)
    put_model(repo, "mnist", 1, MNIST_ONNX)
    for name, dt in [("id_fp32", "FLOAT"), ("id_fp64", "DOUBLE"), ("id_int32", "INT32"),
                     ("id_int64", "INT64"), ("id_uint8", "UINT8"), ("id_int8", "INT8"),
                     ("id_bool", "BOOL"), ("id_fp16", "FLOAT16"), ("id_bytes", "STRING")]:
        put_model(repo, name, 1, identity_model(dt, ["N", 3]))
    # One input with one variable dim: raw binary requests go here.
    put_model(repo, "id_vec", 1, identity_model("FLOAT", ["N"]))
    put_model(repo, "fixed", 1, identity_model("FLOAT", [2, 3]))
    put_model(repo, "dyn", 1, identity_model("FLOAT", ["N", "M"]))
    put_model(repo, "multi", 1, multi_io_model())
    put_model(repo, "bytes_pair", 1, bytes_pair_model())
    # max_batch_size 4 (T6).
    put_model(repo, "small_batch", 1, identity_model("FLOAT", ["N", 3]),
              config={"max_batch_size": 4})
    return repo


# --------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------

class ServerError(Exception):
    pass


def check_binary():
    if not (os.path.isfile(AXLE) and os.access(AXLE, os.X_OK)):
        pytest.fail("axle binary not found at %s: build it or set AXLE_BIN" % AXLE)


class Server:
    """One `axle serve` process. Use as a context manager or call stop()."""

    def __init__(self, repo, *args, drain_delay=0.2, threads=None, env=None,
                 wait_ready=True, tmpdir=None, allow_root=True, start_timeout=60):
        check_binary()
        self.repo = str(repo)
        self.args = [AXLE, "serve", self.repo, "--http-port", "0"]
        if allow_root:
            self.args.append("--allow-root")
        if drain_delay is not None:
            self.args += ["--drain-delay", str(drain_delay)]
        if threads is not None:
            self.args += ["--threads", str(threads)]
        self.args += [str(a) for a in args]
        # Never inside the repository (a poller would see it) or the source.
        self.tmpdir = str(tmpdir) if tmpdir else tempfile.mkdtemp(prefix="axle-e2e-")
        self.err_path = os.path.join(self.tmpdir, "axle-serve-%d-%d.stderr" % (
            os.getpid(), int(time.monotonic() * 1e6)))
        self._err = open(self.err_path, "wb")
        e = dict(os.environ)
        # Never let the caller's AXLE_* settings leak into a test server.
        for k in list(e):
            if k.startswith("AXLE_") and k not in ("AXLE_BIN",):
                del e[k]
        for k in ("HTTP_PORT", "PORT", "MODEL_NAME"):
            e.pop(k, None)
        e.setdefault("OPENBLAS_NUM_THREADS", "1")
        if env:
            e.update(env)
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self._err, env=e)
        self.port = None
        self.returncode = None
        self._checked = False
        try:
            self._wait_started(start_timeout * SLOW, wait_ready)
        except BaseException:
            self.kill()
            raise

    # -- log ----------------------------------------------------------------
    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log(self):
        """Server log events (one JSON object per stderr line)."""
        out = []
        for line in self.stderr().splitlines():
            line = line.strip()
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"event": "<unparsable>", "line": line})
        return out

    def events(self, name):
        return [e for e in self.log() if e.get("event") == name]

    def wait_log(self, pred, timeout=20):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            for e in self.log():
                if pred(e):
                    return e
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise ServerError("log event not seen within %.0fs:\n%s" % (timeout, self.stderr()[-4000:]))

    def _wait_started(self, timeout, wait_ready):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr()
            m = re.search(r'"event":"listening","detail":"http://[^:"]+:(\d+)', text)
            if m and self.port is None:
                self.port = int(m.group(1))
            if self.port is not None and (not wait_ready or
                                          re.search(r'"event":"(ready|not_ready)"}', text)):
                return
            if self.proc.poll() is not None:
                raise ServerError("axle serve exited with %d before listening:\n%s"
                                  % (self.proc.returncode, text[-4000:]))
            time.sleep(0.01)
        raise ServerError("axle serve did not start within %.0fs:\n%s" % (timeout, self.stderr()[-4000:]))

    # -- lifecycle ----------------------------------------------------------
    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout=30):
        self.returncode = self.proc.wait(timeout=timeout * SLOW)
        self._err.close()
        return self.returncode

    def stop(self, timeout=30, expect_rc=0):
        """SIGTERM, wait, then assert a clean exit and no sanitizer report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise ServerError("axle serve did not exit within %ss of SIGTERM:\n%s"
                              % (timeout, self.stderr()[-4000:]))
        self.check_sanitizers()
        if expect_rc is not None:
            assert rc == expect_rc, "exit %s, expected %s\n%s" % (rc, expect_rc, self.stderr()[-4000:])
        return rc

    def check_sanitizers(self):
        self._checked = True
        text = self.stderr()
        for mark in SANITIZER_MARKERS:
            assert mark not in text, "sanitizer report in server stderr:\n" + text[-8000:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            self._err.close()
        except Exception:
            pass

    def alive(self):
        return self.proc.poll() is None

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            self.stop()
        else:
            self.kill()
            # Still surface a sanitizer report: it is usually the real cause.
            self.check_sanitizers()
        return False

    # -- clients --------------------------------------------------------------
    @property
    def url(self):
        return "127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None, timeout=30):
        return request(self.port, method, path, body, headers, timeout)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        return self.request("POST", path, body, **kw)

    def raw(self, data, **kw):
        return raw_exchange(self.port, data, **kw)


class Resp:
    def __init__(self, status, headers, body, reason=""):
        self.status = status
        self.headers = headers  # list of (lower-case name, value)
        self.body = body
        self.reason = reason

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def json(self):
        return json.loads(self.body)

    @property
    def error(self):
        """The {"error": "..."} message (asserting the body has that shape)."""
        assert self.header("content-type") == "application/json", self.headers
        doc = json.loads(self.body)
        assert isinstance(doc, dict) and list(doc) == ["error"], doc
        return doc["error"]

    def __repr__(self):
        return "<Resp %d %r %r>" % (self.status, self.headers, self.body[:300])


def request(port, method, path, body=None, headers=None, timeout=30):
    """One request on a fresh connection (http.client)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout * SLOW)
    try:
        h = {"Content-Type": "application/json"} if body is not None else {}
        h.update(headers or {})
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        return Resp(r.status, [(k.lower(), v) for k, v in r.getheaders()], data, r.reason)
    finally:
        c.close()


# --------------------------------------------------------------------------
# Raw sockets
# --------------------------------------------------------------------------

def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout * SLOW)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_all(s, timeout=10, until_responses=None):
    """Read until EOF (or until `until_responses` complete responses have
    arrived, or the timeout). Returns (bytes, closed, reset)."""
    s.settimeout(0.05)
    buf = bytearray()
    closed = reset = False
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        try:
            chunk = s.recv(1 << 20)
        except socket.timeout:
            if until_responses is not None and count_responses(bytes(buf)) >= until_responses:
                break
            continue
        except ConnectionResetError:
            closed = reset = True
            break
        if not chunk:
            closed = True
            break
        buf += chunk
        if until_responses is not None and count_responses(bytes(buf)) >= until_responses:
            break
    return bytes(buf), closed, reset


def raw_exchange(port, data, timeout=10, until_responses=None, shut_wr=False):
    """Send `data` (bytes or a list of byte chunks), read the answer.
    Returns (list of Resp, closed-by-server, raw bytes)."""
    s = connect(port, timeout)
    try:
        try:
            if isinstance(data, (bytes, bytearray)):
                s.sendall(data)
            else:
                for chunk in data:
                    s.sendall(chunk)
            if shut_wr:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before it read everything
        raw, closed, _ = recv_all(s, timeout, until_responses)
        return parse_responses(raw), closed, raw
    finally:
        s.close()


def exchange(port, data, n=1, wait_close=None, timeout=10):
    """Send `data` on a fresh connection and read `n` complete responses.
    With wait_close (seconds), then wait that long for the server to close
    the connection. Returns (responses, closed, raw bytes)."""
    s = connect(port, timeout)
    try:
        try:
            if isinstance(data, (bytes, bytearray)):
                s.sendall(data)
            else:
                for chunk in data:
                    s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed before everything was read
        raw, closed, _ = recv_all(s, timeout, until_responses=n)
        if not closed and wait_close:
            more, closed, _ = recv_all(s, wait_close)
            raw += more
        return parse_responses(raw), closed, raw
    finally:
        s.close()


def _parse_one(buf, pos):
    end = buf.find(b"\r\n\r\n", pos)
    if end < 0:
        return None, pos
    head = buf[pos:end].decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.1 (\d{3}) ?(.*)$", head[0])
    if not m:
        raise AssertionError("bad status line %r" % head[0])
    status = int(m.group(1))
    headers = []
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip().lower(), v.strip()))
    body_start = end + 4
    cl = [v for k, v in headers if k == "content-length"]
    if 100 <= status < 200:
        return Resp(status, headers, b"", m.group(2)), body_start
    if not cl:
        raise AssertionError("response without Content-Length: %r" % head)
    n = int(cl[0])
    if len(buf) < body_start + n:
        return None, pos
    return Resp(status, headers, buf[body_start:body_start + n], m.group(2)), body_start + n


def parse_responses(buf, include_interim=False):
    out, pos = [], 0
    while pos < len(buf):
        r, npos = _parse_one(buf, pos)
        if r is None:
            break
        if include_interim or r.status >= 200:
            out.append(r)
        pos = npos
    return out


def count_responses(buf):
    try:
        return len(parse_responses(buf))
    except AssertionError:
        return 0


def http_req_bytes(method, path, body=b"", headers=None, host=True, cl=True):
    """Bytes of one well-formed HTTP/1.1 request."""
    lines = ["%s %s HTTP/1.1" % (method, path)]
    if host:
        lines.append("Host: 127.0.0.1")
    for k, v in (headers or {}).items():
        lines.append("%s: %s" % (k, v))
    if cl and (body or method in ("POST", "PUT", "PATCH")):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body, size):
    out = bytearray()
    for i in range(0, len(body), size):
        piece = body[i:i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    out += b"0\r\n\r\n"
    return bytes(out)


def peer_closed(sock):
    """True if the server has closed this idle connection (EOF readable)."""
    r, _, _ = select.select([sock], [], [], 0)
    if not r:
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except (ConnectionResetError, OSError):
        return True


# --------------------------------------------------------------------------
# V2 request builders
# --------------------------------------------------------------------------

def v2_json(inputs, outputs=None, id=None, parameters=None):
    doc = {"inputs": inputs}
    if outputs is not None:
        doc["outputs"] = outputs
    if id is not None:
        doc["id"] = id
    if parameters is not None:
        doc["parameters"] = parameters
    return json.dumps(doc).encode()


def iris_input(x):
    x = np.asarray(x, np.float32)
    return {"name": "input", "shape": list(x.shape), "datatype": "FP32",
            "data": x.flatten().tolist()}


def binary_body(header, blobs):
    """(body, Inference-Header-Content-Length) of a binary-extension request."""
    h = json.dumps(header).encode()
    return h + b"".join(blobs), len(h)


def split_binary(resp):
    """Split a binary-extension response into (json header, [blobs])."""
    n = int(resp.header("inference-header-content-length"))
    head = json.loads(resp.body[:n])
    blobs, pos = [], n
    for o in head["outputs"]:
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            blobs.append(resp.body[pos:pos + size])
            pos += size
        else:
            blobs.append(None)
    assert pos == len(resp.body), "blob sizes do not add up to the body"
    return head, blobs


def bytes_blob(elems):
    """BYTES serialization: uint32 LE length + raw bytes per element."""
    out = bytearray()
    for e in elems:
        if isinstance(e, str):
            e = e.encode()
        out += struct.pack("<I", len(e)) + e
    return bytes(out)


def gz(data):
    return gzip.compress(data)


# --------------------------------------------------------------------------
# Token files and load loops
# --------------------------------------------------------------------------

def token_file(dirpath, name, token, mode=0o600):
    p = os.path.join(str(dirpath), name)
    with open(p, "w") as f:
        f.write(token + "\n")
    os.chmod(p, mode)
    return p


class LoadLoop:
    """Client threads that hammer one request in a loop over keep-alive
    connections and record every outcome.

    A request is only sent on a connection the server has not closed
    (checked just before sending, as HTTP clients do for pooled
    connections). `stop_on_refused` ends a thread once new connections are
    refused (the server stopped listening). Every sent request must get a
    complete response; anything else is a failure.
    """

    def __init__(self, port, path, body, n_threads=3, check=None, stop_on_refused=False,
                 headers=None):
        self.port, self.path, self.body = port, path, body
        self.check = check
        self.stop_on_refused = stop_on_refused
        self.headers = {"Content-Type": "application/json"}
        self.headers.update(headers or {})
        self.ok = 0
        self.failures = []
        self.results = []  # (t_sent, t_done, status, parsed-or-None, connection-close)
        self.refused = 0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(n_threads)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self, timeout=30):
        self._stop.set()
        for t in self.threads:
            t.join(timeout * SLOW)
        assert not any(t.is_alive() for t in self.threads), "client threads hung"
        return self

    def wait_count(self, n, timeout=30):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline and self.ok < n and not self.failures:
            time.sleep(0.01)
        return self.ok >= n

    def _fail(self, what):
        with self._lock:
            self.failures.append(what)

    def _run(self):
        conn = None
        uses = 0
        req = http_req_bytes("POST", self.path, self.body, self.headers)
        while not self._stop.is_set():
            if conn is None:
                uses = 0
                try:
                    conn = connect(self.port)
                except ConnectionRefusedError:
                    with self._lock:
                        self.refused += 1
                    if self.stop_on_refused:
                        return
                    time.sleep(0.01)
                    continue
            elif peer_closed(conn):
                conn.close()
                conn = None
                continue
            t0 = time.monotonic()
            uses += 1
            try:
                conn.sendall(req)
                conn.settimeout(60 * SLOW)
                buf = bytearray()
                resp = None
                while resp is None:
                    chunk = conn.recv(1 << 16)
                    if not chunk:
                        break
                    buf += chunk
                    resp, _ = _parse_one(bytes(buf), 0)
            except OSError as e:
                resp = None
                err = repr(e)
            else:
                err = "connection closed without a (complete) response"
            t1 = time.monotonic()
            if resp is None:
                self._fail("%s after %.3fs (request %d on its connection, at %.3f)"
                           % (err, t1 - t0, uses, t0))
                conn.close()
                conn = None
                continue
            close = (resp.header("connection") or "").lower() == "close"
            with self._lock:
                self.results.append((t0, t1, resp.status, resp, close))
            if resp.status != 200:
                self._fail("status %d: %r" % (resp.status, resp.body[:200]))
            elif self.check is not None:
                try:
                    self.check(resp)
                except AssertionError as e:
                    self._fail("bad answer: %s" % e)
                else:
                    with self._lock:
                        self.ok += 1
            else:
                with self._lock:
                    self.ok += 1
            if close:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()
