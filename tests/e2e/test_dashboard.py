"""GET /dashboard: the monitoring page embedded in the binary, checked in a
real browser against the real server.

The server (AXLE_BIN) serves a copy of examples/models/iris with monitoring
on (config.json "monitoring": {"output": "probabilities", "task":
"classification"}); the test sends inference requests with ids and feedback
labels for them, in two rounds more than one poll period apart, then loads
http://127.0.0.1:PORT/dashboard in headless Chromium (--dump-dom with
--virtual-time-budget=8000, about four polls of virtual time) while more
traffic runs, and reads the state the page publishes for tests:
body[data-polls] (successful polls), body[data-state], and one
<svg class="chart" data-model data-version data-series data-points> per
chart. A screenshot is taken too and must be a real picture (> 10 KB).

It also checks the page as bytes: served without auth, byte-identical to
src/serve/dashboard.html (the embedding is exact), with the
Content-Security-Policy header, and with no http:// or https:// URL in it
(self-contained). With an inference token configured, the page without a
token shows the error state, and #token=... in the fragment makes the polls
succeed.

Chromium is required (Debian package `chromium`): without it these tests
fail, they are never skipped. See docs/dashboard.md.
"""

import html.parser
import os
import shutil
import subprocess
import tempfile
import threading
import time

import numpy as np
import pytest

from serve_util import (IRIS_ONNX, ROOT, SLOW, TOKEN_INFER, Server, iris_input, put_model,
                        token_file, v2_json)

PAGE_SRC = os.path.join(ROOT, "src", "serve", "dashboard.html")
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "connect-src 'self'; img-src data:")
MONITORING = {"monitoring": {"output": "probabilities", "task": "classification"}}
POLL_S = 2.0
# Headless Chromium as root on a machine without a network: without the
# background-networking flags it keeps trying to reach the internet.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def chromium_bin():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("chromium not found on PATH: the dashboard tests need headless Chromium "
                    "(Debian package `chromium`)")
    return path


def chromium(args, url, timeout=90):
    """Run headless Chromium once with a throwaway profile; returns stdout."""
    profile = tempfile.mkdtemp(prefix="axle-chromium-")
    try:
        cmd = [chromium_bin()] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + args + [url]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=timeout * SLOW)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert p.returncode == 0, "chromium exited %d:\n%s" % (p.returncode, p.stderr[-3000:])
    return p.stdout.decode("utf-8", "replace")


def dump_dom(url, budget_ms=8000):
    return chromium(["--virtual-time-budget=%d" % budget_ms, "--dump-dom"], url)


class Dom(html.parser.HTMLParser):
    """The attributes the page publishes for tests, from a --dump-dom."""

    def __init__(self, text):
        super().__init__()
        self.body = {}
        self.sections = []  # attrs of each <section class="model">
        self.charts = []    # attrs of each <svg class="chart">
        self.error_text = []
        self._in_error = 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get("class") or "").split()
        if tag == "body":
            self.body = a
        elif tag == "section" and "model" in classes:
            self.sections.append(a)
        elif tag == "svg" and "chart" in classes:
            self.charts.append(a)
        if self._in_error:
            self._in_error += 1
        elif a.get("id") == "error":
            self._in_error = 1 if "hidden" not in a else 0

    def handle_endtag(self, tag):
        if self._in_error:
            self._in_error -= 1

    def handle_data(self, data):
        if self._in_error:
            self.error_text.append(data)

    @property
    def polls(self):
        return int(self.body.get("data-polls", "0"))

    def chart(self, model, version, series):
        found = [c for c in self.charts if (c.get("data-model"), c.get("data-version"),
                                            c.get("data-series")) == (model, version, series)]
        assert len(found) == 1, "%d %s charts for %s v%s; charts: %r" % (
            len(found), series, model, version, self.charts)
        return int(found[0]["data-points"])


# --------------------------------------------------------------------------
# Traffic
# --------------------------------------------------------------------------

RNG = np.random.default_rng(7)
# Rough per-class feature means of the iris data set.
CLASS_MEANS = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]], np.float32)


def infer(srv, rid, headers=None):
    """One request with an id; returns the predicted class."""
    x = CLASS_MEANS[RNG.integers(0, 3)] + RNG.normal(0, 0.3, 4).astype(np.float32)
    r = srv.post("/v2/models/iris/infer", v2_json([iris_input(x[None, :])], id=rid),
                 headers=headers)
    assert r.status == 200, r
    doc = r.json()
    assert doc.get("id") == rid, doc
    return int(np.argmax(doc["outputs"][0]["data"]))


def traffic_round(srv, tag, n=50, headers=None):
    """n requests with ids, then a label for each: right for four in five, so
    online accuracy is 0.8."""
    preds = [(("%s-%03d" % (tag, i)), infer(srv, "%s-%03d" % (tag, i), headers)) for i in range(n)]
    for i, (rid, pred) in enumerate(preds):
        label = pred if i % 5 else (pred + 1) % 3
        for _ in range(10):
            r = srv.post("/v2/models/iris/feedback", {"id": rid, "label": label}, headers=headers)
            if r.status != 429:  # feedback is rate-limited per token: wait as told
                break
            time.sleep(float(r.header("retry-after") or 1))
        assert 200 <= r.status < 300, r


class Background:
    """Inference requests every 50 ms while the browser polls, so consecutive
    polls see the counters move."""

    def __init__(self, srv, headers=None):
        self.srv, self.headers = srv, headers
        self.stop_ev = threading.Event()
        self.errors = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        i = 0
        while not self.stop_ev.is_set():
            try:
                infer(self.srv, "bg-%05d" % i, self.headers)
            except AssertionError as e:
                self.errors.append(str(e))
            i += 1
            self.stop_ev.wait(0.05)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        self.thread.join(30 * SLOW)
        assert not self.errors, self.errors[:3]
        return False


def monitored_repo(d):
    repo = d / "repo"
    repo.mkdir()
    put_model(repo, "iris", 1, IRIS_ONNX, config=MONITORING)
    return repo


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("dash")
    with Server(monitored_repo(d), threads=2, tmpdir=str(d)) as s:
        yield s


@pytest.fixture(scope="module")
def tokensrv(tmp_path_factory):
    d = tmp_path_factory.mktemp("dashtok")
    tok = token_file(d, "infer.token", TOKEN_INFER)
    with Server(monitored_repo(d), "--inference-token-file", tok, threads=2, tmpdir=str(d)) as s:
        yield s


@pytest.fixture(autouse=True)
def _still_alive(request):
    yield
    for name in ("srv", "tokensrv"):
        if name in request.fixturenames:
            s = request.getfixturevalue(name)
            assert s.alive(), "server died:\n" + s.stderr()[-4000:]


# --------------------------------------------------------------------------
# The page as bytes
# --------------------------------------------------------------------------

def test_dashboard_is_served_byte_exact_with_csp(srv):
    r = srv.get("/dashboard")
    assert r.status == 200, r
    assert r.header("content-type") == "text/html; charset=utf-8"
    assert r.header("content-security-policy") == CSP
    with open(PAGE_SRC, "rb") as f:
        assert r.body == f.read(), "GET /dashboard differs from src/serve/dashboard.html"


def test_dashboard_page_references_no_external_url(srv):
    text = srv.get("/dashboard").body.decode("utf-8").lower()
    for scheme in ("http://", "https://"):
        assert scheme not in text, "the page must be self-contained, found %r at %d" % (
            scheme, text.index(scheme))
    # Data is fetched from the same origin only.
    assert "fetch('v2/monitor'" in text


# --------------------------------------------------------------------------
# The page in a browser
# --------------------------------------------------------------------------

def test_dashboard_shows_iris_charts_in_chromium(srv, tmp_path):
    url = "http://127.0.0.1:%d/dashboard" % srv.port
    traffic_round(srv, "a")
    time.sleep(POLL_S + 0.3)
    traffic_round(srv, "b")
    r = srv.get("/v2/monitor")
    assert r.status == 200, r
    with Background(srv):
        dom = Dom(dump_dom(url))
        shot = tmp_path / "dashboard.png"
        chromium(["--virtual-time-budget=8000", "--screenshot=%s" % shot,
                  "--window-size=1280,900"], url)

    assert dom.body.get("data-state") == "ok", "page in error state: %s" % "".join(dom.error_text)
    assert dom.polls >= 1, dom.body
    # Rates need two polls; 8 s of virtual time at one poll per 2 s gives ~4.
    assert dom.polls >= 2, "only %d poll(s) in 8 s of virtual time" % dom.polls
    assert [(s.get("data-model"), s.get("data-version")) for s in dom.sections] == [("iris", "1")]
    for series in ("rate", "p50", "p99"):
        assert dom.chart("iris", "1", series) >= 1, series
    for series in ("error_rate", "batch", "queue"):
        assert dom.chart("iris", "1", series) >= 1, series
    assert dom.chart("iris", "1", "accuracy") >= 1
    # Classifier: no regression chart.
    assert not [c for c in dom.charts if c.get("data-series") == "mae"]

    assert shot.is_file(), "no screenshot written"
    assert shot.stat().st_size > 10 * 1024, "screenshot only %d bytes" % shot.stat().st_size
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_dashboard_without_token_shows_error_and_fragment_token_works(tokensrv):
    # The page is public; its data needs the inference token.
    assert tokensrv.get("/dashboard").status == 200
    assert tokensrv.get("/v2/monitor").status == 401
    auth = {"Authorization": "Bearer " + TOKEN_INFER}
    assert tokensrv.get("/v2/monitor", headers=auth).status == 200
    traffic_round(tokensrv, "t", n=10, headers=auth)

    url = "http://127.0.0.1:%d/dashboard" % tokensrv.port
    dom = Dom(dump_dom(url, 3000))
    assert dom.polls == 0, dom.body
    assert dom.body.get("data-state") == "error", dom.body
    assert "401" in "".join(dom.error_text), dom.error_text
    assert not dom.sections

    dom = Dom(dump_dom(url + "#token=" + TOKEN_INFER, 3000))
    assert dom.body.get("data-state") == "ok", "".join(dom.error_text)
    assert dom.polls >= 1, dom.body
    assert [s.get("data-model") for s in dom.sections] == ["iris"]
    assert dom.chart("iris", "1", "accuracy") >= 1
