"""The prediction log against the real server (AXLE_BIN) and `axle log cat`:
every request that reached a model leaves one record whatever its outcome,
server-made ids are returned and logged, big tensors are truncated and
marked, feedback is logged, SIGHUP rotates, sampling samples; after kill -9
under load `axle log cat --verify` reads every complete record and reports
the torn tail, the next start moves it aside, and in sync mode every
answered request is in the log (SECURITY.md 4.6 b)."""

import http.client
import json
import os
import signal
import subprocess
import threading
import time

import numpy as np
import pytest

from serve_util import AXLE, IRIS_ONNX, Server, iris_input, iris_reference, put_model, v2_json

RNG = np.random.default_rng(11)
MON = {"monitoring": {"output": "probabilities", "task": "classification"}}


def log_cat(logdir, *args, expect_rc=0):
    p = subprocess.run([AXLE, "log", "cat", str(logdir)] + list(args), capture_output=True,
                       timeout=120)
    assert p.returncode == expect_rc, (p.returncode, p.stderr.decode()[-2000:])
    recs = [json.loads(line) for line in p.stdout.decode().splitlines()]
    summary = json.loads(p.stderr.decode().strip().splitlines()[-1])
    return recs, summary


def segments(logdir):
    return sorted(f for f in os.listdir(logdir) if f.startswith("predlog-") and f.endswith(".log"))


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    put_model(r, "iris", 1, IRIS_ONNX, MON)
    return r


def test_every_request_is_logged_with_its_outcome(repo, tmp_path):
    logdir = tmp_path / "log"
    logdir.mkdir()
    x = RNG.normal(5, 1, (6, 4)).astype(np.float32)
    answered = {}
    with Server(repo, "--prediction-log", logdir) as s:
        for i in range(5):
            r = s.post("/v2/models/iris/infer", v2_json([iris_input(x[i:i + 1])]))
            assert r.status == 200
            answered[r.json()["id"]] = r.json()
        r = s.post("/v2/models/iris/infer", v2_json([iris_input(x[5:6])], id="client-id-1"))
        assert r.status == 200 and r.json()["id"] == "client-id-1"
        answered["client-id-1"] = r.json()
        bad = s.post("/v2/models/iris/infer",
                     v2_json([{"name": "input", "shape": [1, 3], "datatype": "FP32",
                               "data": [1, 2, 3]}], id="bad-1"))
        assert bad.status == 400
        m = s.get("/metrics").body.decode()
        assert "axle_predlog_healthy 1" in m
    recs, summary = log_cat(logdir, "--verify")
    assert summary["verified"] is True and summary["torn_tails"] == []
    preds = [r for r in recs if r["type"] == "prediction"]
    assert len(preds) == 7
    by_id = {r["request_id"]: r for r in preds}
    assert set(by_id) == set(answered) | {"bad-1"}
    # Server-made ids are version-4 UUIDs, unique.
    made = [k for k in answered if k != "client-id-1"]
    assert len(set(made)) == 5 and all(len(k) == 36 and k[14] == "4" for k in made)
    want = iris_reference(x)
    for i, rid in enumerate(made + ["client-id-1"]):
        rec = by_id[rid]
        assert rec["model"] == "iris" and rec["version"] == "1" and rec["protocol"] == "v2"
        assert rec["status"] == 200 and rec["latency_us"] >= 0 and rec["ts"].endswith("Z")
        (inp,) = rec["inputs"]
        assert inp["name"] == "input" and inp["shape"] == [1, 4] and not inp["truncated"]
        np.testing.assert_allclose(inp["data"], x[i], rtol=1e-6)
        got = {o["name"]: o for o in rec["outputs"]}
        for o in answered[rid]["outputs"]:
            assert got[o["name"]]["shape"] == o["shape"]
            assert got[o["name"]]["data"] == o["data"]
    np.testing.assert_allclose(
        [o for o in by_id[made[0]]["outputs"] if o["datatype"] == "FP32"][0]["data"],
        want[0].ravel(), rtol=1e-4, atol=1e-5)
    b = by_id["bad-1"]
    assert b["status"] == 400 and "input" in b["error"] and "inputs" not in b
    # Filters.
    only, _ = log_cat(logdir, "--model", "nope")
    assert [r for r in only if r["type"] == "prediction"] == []
    later, _ = log_cat(logdir, "--since", "2999-01-01T00:00:00Z")
    assert [r for r in later if r["type"] == "prediction"] == []
    allr, _ = log_cat(logdir, "--since", "0", "--all")
    assert allr[0]["type"] == "segment_start" and allr[-1]["type"] == "shutdown"
    assert allr[0]["format_version"] == 1
    seqs = [r["seq"] for r in allr]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))


def test_big_tensors_are_truncated_and_marked(repo, tmp_path):
    logdir = tmp_path / "log"
    logdir.mkdir()
    x = RNG.normal(5, 1, (40, 4)).astype(np.float32)
    with Server(repo, "--prediction-log", logdir, "--log-max-tensor-bytes", "64") as s:
        assert s.post("/v2/models/iris/infer", v2_json([iris_input(x)])).status == 200
    recs, _ = log_cat(logdir)
    (rec,) = [r for r in recs if r["type"] == "prediction"]
    (inp,) = rec["inputs"]
    assert inp["truncated"] is True and inp["shape"] == [40, 4]
    assert 0 < len(inp["data"]) < 160
    np.testing.assert_allclose(inp["data"], x.ravel()[:len(inp["data"])], rtol=1e-6)


def test_logged_inputs_are_the_values_the_client_sent(repo, tmp_path):
    """A flat JSON array is logged with the client's own number texts; nested
    arrays, and texts longer than the cap, are logged as formatted values -
    either way the values are the tensor's, flat, in row-major order."""
    logdir = tmp_path / "log"
    logdir.mkdir()
    bodies = {
        "flat": b'{"id":"flat","inputs":[{"name":"input","shape":[1,4],"datatype":"FP32",'
                b'"data":[ 5.10, 3.5e0 ,1.4,-0.2]}]}',
        "nested": b'{"id":"nested","inputs":[{"name":"input","shape":[2,4],"datatype":"FP32",'
                  b'"data":[[5.1,3.5,1.4,0.2],[6.2,2.9,4.3,1.3]]}]}',
        "long": b'{"id":"long","inputs":[{"name":"input","shape":[1,4],"datatype":"FP32",'
                b'"data":[5.1000000000000000000000000000000000000000000000000000000001,3.5,1.4,0.2]}]}',
    }
    with Server(repo, "--prediction-log", logdir, "--log-max-tensor-bytes", "48") as s:
        for body in bodies.values():
            assert s.post("/v2/models/iris/infer", body).status == 200
    recs, _ = log_cat(logdir)
    by_id = {r["request_id"]: r for r in recs if r["type"] == "prediction"}
    want = {
        "flat": [5.1, 3.5, 1.4, -0.2],
        "nested": [5.1, 3.5, 1.4, 0.2, 6.2, 2.9, 4.3, 1.3],
        "long": [5.1, 3.5, 1.4, 0.2],
    }
    for rid, vals in want.items():
        (inp,) = by_id[rid]["inputs"]
        assert inp["truncated"] is False, rid
        np.testing.assert_array_equal(np.float32(inp["data"]), np.float32(vals), err_msg=rid)
    raw = b"".join(open(os.path.join(logdir, f), "rb").read() for f in segments(logdir))
    assert b'"data":[5.10,3.5e0,1.4,-0.2]' in raw  # the client's spelling, spaces dropped


def test_feedback_is_logged_and_acknowledged_as_queued(repo, tmp_path):
    logdir = tmp_path / "log"
    logdir.mkdir()
    x = RNG.normal(5, 1, (1, 4)).astype(np.float32)
    with Server(repo, "--prediction-log", logdir) as s:
        rid = s.post("/v2/models/iris/infer", v2_json([iris_input(x)])).json()["id"]
        fb = s.post("/v2/models/iris/feedback", {"id": rid, "label": 2})
        assert fb.status == 202, fb.body
        assert fb.json() == {"accepted": 1}
    recs, _ = log_cat(logdir)
    (f,) = [r for r in recs if r["type"] == "feedback"]
    assert f["request_id"] == rid and f["label"] == 2 and f["model"] == "iris"
    assert f["version"] == "1" and f["label_delay_s"] >= 0


def test_sighup_rotates_and_sampling_samples(repo, tmp_path):
    logdir = tmp_path / "log"
    logdir.mkdir()
    body = v2_json([iris_input(RNG.normal(5, 1, (1, 4)))])
    with Server(repo, "--prediction-log", logdir, "--log-sample-rate", "0.5") as s:
        for _ in range(200):
            assert s.post("/v2/models/iris/infer", body).status == 200
        assert len(segments(logdir)) == 1
        s.signal(signal.SIGHUP)
        s.wait_log(lambda e: e.get("event") == "predlog_rotated")
        for _ in range(10):
            assert s.post("/v2/models/iris/infer", body).status == 200
    assert len(segments(logdir)) == 2
    recs, summary = log_cat(logdir, "--verify")
    assert summary["verified"] is True and summary["segments"] == 2
    n = len([r for r in recs if r["type"] == "prediction"])
    # Binomial(210, 0.5): 5 standard deviations either side.
    assert 105 - 37 < n < 105 + 37
    off = tmp_path / "log0"
    off.mkdir()
    with Server(repo, "--prediction-log", off, "--log-sample-rate", "0") as s:
        r = s.post("/v2/models/iris/infer", body)
        assert r.status == 200
    recs, _ = log_cat(off)
    assert [r for r in recs if r["type"] == "prediction"] == []


class Hammer:
    """Client threads that record the id of every answered request."""

    def __init__(self, port, body, n=3):
        self.port, self.body = port, body
        self.answered = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.run, daemon=True) for _ in range(n)]
        for t in self.threads:
            t.start()

    def run(self):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("POST", "/v2/models/iris/infer", self.body,
                             {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status == 200:
                    with self.lock:
                        self.answered.append(json.loads(data)["id"])
            except (OSError, http.client.HTTPException, ValueError):
                conn = None
                time.sleep(0.01)

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(30)


@pytest.mark.parametrize("durability", ["async", "sync"])
def test_kill9_under_load_leaves_only_whole_records(repo, tmp_path, durability):
    logdir = tmp_path / "log"
    logdir.mkdir()
    body = v2_json([iris_input(RNG.normal(5, 1, (8, 4)))])
    s = Server(repo, "--prediction-log", logdir, "--log-durability", durability,
               "--log-segment-bytes", "262144")
    h = Hammer(s.port, body)
    deadline = time.monotonic() + 20
    while len(h.answered) < 1500 and time.monotonic() < deadline:
        time.sleep(0.05)
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    h.join()
    s.kill()
    assert len(h.answered) > 100
    # Before any restart: every complete record reads; a torn tail, if the
    # kill left one, is reported for the newest segment only.
    recs, summary = log_cat(logdir, "--verify")
    assert summary["verified"] is True
    for t in summary["torn_tails"]:
        assert t["segment"] == segments(logdir)[-1]
    assert summary["segments"] >= 2  # rotated by size under load
    logged = {r["request_id"] for r in recs if r["type"] == "prediction"}
    seqs = [r["seq"] for r in recs]
    assert len(seqs) == len(set(seqs)) and seqs == sorted(seqs)
    if durability == "sync":
        missing = set(h.answered) - logged
        assert not missing, "%d answered requests not in the log" % len(missing)
    else:
        # Async loses at most the unwritten backlog of the last moments.
        assert len(logged) >= len(h.answered) * 0.5

    # Tear the newest segment mid-record, as a kill in mid-write leaves it:
    # log cat reports it, the next start moves it aside and seals.
    newest = os.path.join(logdir, segments(logdir)[-1])
    with open(newest, "ab") as f:
        f.write(b"AXLR\x40\x00\x00\x00partial")
    _, summary = log_cat(logdir, "--verify")
    assert summary["torn_tails"][-1]["segment"] == os.path.basename(newest)
    assert summary["torn_tails"][-1]["bytes"] >= 15
    with Server(repo, "--prediction-log", logdir) as s2:
        s2.wait_log(lambda e: e.get("event") == "predlog_torn_tail")
        assert s2.post("/v2/models/iris/infer", body).status == 200
    assert os.path.exists(newest + ".torn")
    recs2, summary = log_cat(logdir, "--verify")
    assert summary["verified"] is True and summary["torn_tails"] == []
    assert summary["torn_files"] >= 1
    assert {r["request_id"] for r in recs2 if r["type"] == "prediction"} >= logged


def test_bad_log_options_are_usage_errors(repo, tmp_path):
    for args in (["--prediction-log", tmp_path / "nope"],
                 ["--prediction-log", tmp_path, "--log-durability", "maybe"],
                 ["--prediction-log", tmp_path, "--log-sample-rate", "1.5"]):
        p = subprocess.run([AXLE, "serve", str(repo), "--http-port", "0", "--allow-root"] +
                           [str(a) for a in args], capture_output=True, timeout=60)
        assert p.returncode == 2, p.stderr
    p = subprocess.run([AXLE, "log", "cat", str(tmp_path / "nope")], capture_output=True)
    assert p.returncode == 2 and b"cannot open" in p.stderr
    p = subprocess.run([AXLE, "log", "--help"], capture_output=True)
    assert p.returncode == 0 and b"axle log cat DIR" in p.stdout


def test_feedback_joins_with_the_log_after_a_restart(repo, tmp_path):
    """The in-memory index is empty after a restart: feedback for ids answered
    by the previous process is joined with their PREDICTION records, and a
    FEEDBACK record already in the log makes a second label a duplicate."""
    logdir = tmp_path / "log"
    logdir.mkdir()
    x = RNG.normal([5.8, 3.0, 4.0, 1.2], [0.8, 0.4, 1.7, 0.7], (3, 4)).astype(np.float32)
    preds = np.argmax(iris_reference(x), axis=1)
    with Server(repo, "--prediction-log", logdir) as s:
        for i in range(3):
            r = s.post("/v2/models/iris/infer", v2_json([iris_input(x[i:i + 1])], id="old-%d" % i))
            assert r.status == 200
    time.sleep(0.2)
    with Server(repo, "--prediction-log", logdir) as s:
        r = s.post("/v2/models/iris/feedback", json.dumps({"id": "old-0", "label": int(preds[0])}))
        assert r.status == 202 and r.json() == {"accepted": 1}, r.body
        r = s.post("/v2/models/iris/feedback",
                   json.dumps([{"id": "old-1", "label": int(preds[1] + 1) % 3},
                               {"id": "old-2", "label": int(preds[2])}]))
        assert r.status == 202 and r.json() == {"accepted": 2}, r.body
        q = s.get("/v2/models/iris/monitor").json()["quality"]
        assert q["labelled"] == 3 and abs(q["accuracy"] - 2 / 3) < 1e-12, q
        r = s.post("/v2/models/iris/feedback", json.dumps({"id": "old-0", "label": 0}))
        assert (r.status, r.error) == (409, "feedback already recorded")
        r = s.post("/v2/models/iris/feedback", json.dumps({"id": "never-sent", "label": 0}))
        assert (r.status, r.error) == (404, "unknown request id")
        # Wrong version: the logged prediction was answered by version 1.
        r = s.post("/v2/models/iris/versions/1/feedback", json.dumps({"id": "old-0", "label": 0}))
        assert r.status == 409
    time.sleep(0.2)
    with Server(repo, "--prediction-log", logdir) as s:
        r = s.post("/v2/models/iris/feedback", json.dumps({"id": "old-2", "label": 1}))
        assert (r.status, r.error) == (409, "feedback already recorded"), r.body
        q = s.get("/v2/models/iris/monitor").json()["quality"]
        assert q["labelled"] == 0
    recs, _ = log_cat(logdir)
    fb = [r for r in recs if r["type"] == "feedback"]
    assert sorted(r["request_id"] for r in fb) == ["old-0", "old-1", "old-2"]
