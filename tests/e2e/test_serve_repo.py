"""`axle serve` model repository: explicit load/unload and the index (§7),
hot reload under load in poll and explicit mode with zero failed requests,
a corrupt new version leaving the old one serving (SECURITY.md §3.4, §5.7
item 5), R6 (symlinks out of the root), R11 (concurrent loads).

Every server here gets its own throwaway repository; versions are staged
under a dot-name and rename()d into place, as operators are told to do.
"""

import json
import os
import shutil
import signal
import threading
import time

import numpy as np
import pytest

from serve_util import (IRIS_ONNX, MNIST_ONNX, SLOW, TOKEN_MGMT, LoadLoop, Server, connect,
                        http_req_bytes, iris_input,
                        iris_reference, put_model, put_version_atomic, scaled_iris_model,
                        slow_model, token_file, v2_json)

X = np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32)
BODY = v2_json([iris_input(X)])
MGMT = {"Authorization": "Bearer " + TOKEN_MGMT}


def iris_scaled_reference(scale):
    # Scaling both W and b scales the logits.
    from serve_util import _onnx
    onnx, TP, helper, numpy_helper = _onnx()
    m = onnx.load(IRIS_ONNX)
    inits = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in m.graph.initializer}
    mm = [n for n in m.graph.node if n.op_type == "MatMul"][0]
    add = [n for n in m.graph.node if n.op_type == "Add"][0]
    w = inits[[i for i in mm.input if i in inits][0]] * scale
    b = inits[[i for i in add.input if i in inits][0]] * scale
    z = X.astype(np.float64) @ w + b
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


REF = {"1": iris_scaled_reference(1.0), "2": iris_scaled_reference(2.0),
       "3": iris_scaled_reference(3.0)}
assert np.allclose(REF["1"], iris_reference(X), atol=1e-5)


def version_checker(seen):
    """A LoadLoop check: each answer is the right one for the version that
    says it answered."""
    def check(resp):
        doc = resp.json()
        v = doc["model_version"]
        got = np.array(doc["outputs"][0]["data"]).reshape(2, 3)
        assert np.allclose(got, REF[v], atol=1e-5), (v, got)
        seen.append(v)
    return check


def wait_for(pred, timeout=20, what="condition"):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def mgmt_server(d, repo, *args, **kw):
    t = token_file(d, "mgmt.token", TOKEN_MGMT)
    return Server(repo, "--model-control", "explicit", "--management-token-file", t, *args,
                  tmpdir=str(d), **kw)


def index(s, ready=None):
    r = s.post("/v2/repository/index", {} if ready is None else {"ready": ready}, headers=MGMT)
    assert r.status == 200, r
    return sorted(r.json(), key=lambda e: (e["name"], e.get("version", "")))


# --------------------------------------------------------------------------
# Explicit control: index, load, unload (§7)
# --------------------------------------------------------------------------

def test_explicit_index_load_unload(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX)
    put_model(repo, "mnist", 1, MNIST_ONNX)
    with mgmt_server(tmp_path, repo) as s:
        # Explicit mode loads nothing at start; the server is ready (no
        # startup models), the models are known but not serving.
        assert s.get("/v2/health/ready").status == 200
        r = s.post("/v2/models/iris/infer", BODY)
        assert (r.status, r.error) == (503, "model not ready")
        assert index(s) == [{"name": "iris", "state": "UNAVAILABLE", "reason": ""},
                            {"name": "mnist", "state": "UNAVAILABLE", "reason": ""}]
        r = s.post("/v2/repository/models/iris/load", headers=MGMT)
        assert (r.status, r.body, r.header("content-length")) == (200, b"", "0")
        r = s.post("/v2/models/iris/infer", BODY)
        assert r.status == 200
        assert index(s) == [{"name": "iris", "version": "1", "state": "READY", "reason": ""},
                            {"name": "mnist", "state": "UNAVAILABLE", "reason": ""}]
        assert index(s, ready=True) == [{"name": "iris", "version": "1", "state": "READY",
                                         "reason": ""}]
        assert index(s, ready=False) == index(s)
        # Body forms: empty, {}, {"parameters":{"unload_dependents":...}}.
        r = s.post("/v2/repository/models/mnist/load", {"parameters": {}}, headers=MGMT)
        assert r.status == 200
        r = s.post("/v2/repository/models/mnist/unload",
                   {"parameters": {"unload_dependents": True}}, headers=MGMT)
        assert r.status == 200
        r = s.post("/v2/repository/models/iris/unload", headers=MGMT)
        assert r.status == 200
        r = s.post("/v2/models/iris/infer", BODY)
        assert (r.status, r.error) == (503, "model not ready")
        assert index(s) == [{"name": "iris", "state": "UNAVAILABLE", "reason": "unloaded"},
                            {"name": "mnist", "state": "UNAVAILABLE", "reason": "unloaded"}]
        assert index(s, ready=True) == []
        # Unknown models and bad bodies.
        r = s.post("/v2/repository/models/nosuch/load", headers=MGMT)
        assert (r.status, r.error) == (404, "model not found")
        r = s.post("/v2/repository/models/nosuch/unload", headers=MGMT)
        assert (r.status, r.error) == (404, "model not found")
        r = s.post("/v2/repository/index", {"ready": "yes"}, headers=MGMT)
        assert (r.status, r.error) == (400, "invalid request")
        r = s.post("/v2/repository/index", b"[1,", headers=MGMT)
        assert (r.status, r.error) == (400, "invalid json")
        # A model directory added later can be loaded by name.
        put_model(repo, "late", 3, IRIS_ONNX)
        r = s.post("/v2/repository/models/late/load", headers=MGMT)
        assert r.status == 200
        r = s.post("/v2/models/late/infer", BODY)
        assert (r.status, r.json()["model_version"]) == (200, "3")
        # tritonclient drives the same API.
        import tritonclient.http as httpclient
        c = httpclient.InferenceServerClient(s.url)
        try:
            c.load_model("iris", headers=MGMT)
            assert c.is_model_ready("iris")
            names = {m["name"] for m in c.get_model_repository_index(headers=MGMT)}
            assert names == {"iris", "mnist", "late"}
            c.unload_model("iris", headers=MGMT)
            assert not c.is_model_ready("iris")
        finally:
            c.close()


# --------------------------------------------------------------------------
# Reload under load
# --------------------------------------------------------------------------

def test_reload_under_load_poll(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, scaled_iris_model(1.0))
    with Server(repo, "--model-control", "poll", "--poll-interval", "0.2", threads=2,
                tmpdir=str(tmp_path)) as s:
        seen = []
        loop = LoadLoop(s.port, "/v2/models/iris/infer", BODY, n_threads=3,
                        check=version_checker(seen)).start()
        try:
            assert loop.wait_count(50), loop.failures
            put_version_atomic(repo, "iris", 2, scaled_iris_model(2.0))
            wait_for(lambda: "2" in seen[-20:] and not loop.failures, what="version 2 serving")
            shutil.rmtree(os.path.join(str(repo), "iris", "1"))
            s.wait_log(lambda e: e.get("event") == "unloaded" and e.get("version") == "1")
            n = loop.ok
            assert loop.wait_count(n + 50)
        finally:
            loop.stop()
        assert loop.failures == []
        assert seen[-1] == "2"
        assert "1" in seen and seen.count("2") >= 50
        r = s.post("/v2/models/iris/versions/1/infer", BODY)
        assert (r.status, r.error) == (404, "model version not found")
        r = s.get("/v2/models/iris")
        assert r.json()["versions"] == ["2"]


def test_reload_under_load_explicit_all_versions(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, scaled_iris_model(1.0),
              config={"version_policy": {"all": {}}})
    with mgmt_server(tmp_path, repo, threads=2) as s:
        assert s.post("/v2/repository/models/iris/load", headers=MGMT).status == 200
        seen = []
        loop = LoadLoop(s.port, "/v2/models/iris/infer", BODY, n_threads=3,
                        check=version_checker(seen)).start()
        try:
            assert loop.wait_count(50), loop.failures
            put_version_atomic(repo, "iris", 2, scaled_iris_model(2.0))
            r = s.post("/v2/repository/models/iris/load", headers=MGMT)
            assert r.status == 200, r
            wait_for(lambda: seen[-1:] == ["2"], what="version 2 serving")
            # Both versions serve now; the unversioned route picks the newest.
            assert s.post("/v2/models/iris/versions/1/infer", BODY).status == 200
            assert s.get("/v2/models/iris").json()["versions"] == ["2", "1"]
            shutil.rmtree(os.path.join(str(repo), "iris", "1"))
            r = s.post("/v2/repository/models/iris/load", headers=MGMT)
            assert r.status == 200, r
            n = loop.ok
            assert loop.wait_count(n + 50)
        finally:
            loop.stop()
        assert loop.failures == []
        assert "1" in seen and seen[-1] == "2"
        r = s.post("/v2/models/iris/versions/1/infer", BODY)
        assert (r.status, r.error) == (404, "model version not found")
        assert index(s) == [{"name": "iris", "version": "2", "state": "READY", "reason": ""}]


def test_reload_under_load_slow_model_in_flight(tmp_path):
    # Requests that take tens of milliseconds are in flight on v1 while v2
    # replaces it; they finish on the version they started on.
    repo = tmp_path / "repo"
    put_model(repo, "slow", 1, slow_model(n_layers=48, width=384))
    x = np.full((32, 384), 0.01, np.float32)
    body = v2_json([{"name": "x", "shape": [32, 384], "datatype": "FP32", "data": x.flatten().tolist()}],
                   parameters={"binary_data_output": True})
    versions = []

    def check(resp):
        n = int(resp.header("inference-header-content-length"))
        versions.append(json.loads(resp.body[:n])["model_version"])
        assert len(resp.body) == n + 32 * 384 * 4

    with Server(repo, "--model-control", "poll", "--poll-interval", "0.1", "--queue-timeout-us", "0",
                "--intra-op-threads", "1", threads=2, tmpdir=str(tmp_path)) as s:
        loop = LoadLoop(s.port, "/v2/models/slow/infer", body, n_threads=4, check=check).start()
        try:
            assert loop.wait_count(10), loop.failures
            for v in (2, 3, 4):
                put_version_atomic(repo, "slow", v, slow_model(n_layers=48, width=384))
                wait_for(lambda: versions[-1:] == [str(v)], what="version %d serving" % v)
            n = loop.ok
            assert loop.wait_count(n + 10)
        finally:
            loop.stop()
        assert loop.failures == []
        assert {"1", "4"} <= set(versions)
        unloaded = {e["version"] for e in s.events("unloaded")}
        assert unloaded == {"1", "2", "3"}


# --------------------------------------------------------------------------
# A corrupt new version leaves the old one serving
# --------------------------------------------------------------------------

def corrupt_cases():
    good = scaled_iris_model(2.0)
    return {"truncated": good[:len(good) // 2], "garbage": bytes(range(256)) * 3,
            "flipped_tag": b"\xff" + good[1:], "empty": b""}


@pytest.mark.parametrize("case", ["truncated", "garbage", "empty"])
def test_corrupt_version_poll_keeps_old_serving(tmp_path, case):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, scaled_iris_model(1.0))
    with Server(repo, "--model-control", "poll", "--poll-interval", "0.2", threads=2,
                tmpdir=str(tmp_path)) as s:
        seen = []
        loop = LoadLoop(s.port, "/v2/models/iris/infer", BODY, n_threads=3,
                        check=version_checker(seen)).start()
        try:
            assert loop.wait_count(30), loop.failures
            put_version_atomic(repo, "iris", 2, corrupt_cases()[case])
            ev = s.wait_log(lambda e: e.get("event") == "load_failed" and e.get("version") == "2")
            assert ev["detail"].startswith("load failed: "), ev
            n = loop.ok
            assert loop.wait_count(n + 30)
            time.sleep(1.0)  # five more scans: the same bad file is not retried
            assert len([e for e in s.events("load_failed") if e.get("version") == "2"]) == 1
            assert set(seen) == {"1"}
            assert s.get("/v2/health/ready").status == 200
            r = s.get("/v2/models/iris/versions/2/ready")
            assert (r.status, r.error) == (503, "model not ready")
            assert s.get("/v2/models/iris/versions/1/ready").status == 200
            # A good file in its place is picked up: the retry succeeds.
            shutil.rmtree(os.path.join(str(repo), "iris", "2"))
            put_version_atomic(repo, "iris", 2, scaled_iris_model(2.0))
            wait_for(lambda: seen[-1:] == ["2"], what="fixed version 2 serving")
            n = loop.ok
            assert loop.wait_count(n + 20)
        finally:
            loop.stop()
        assert loop.failures == []
        assert s.get("/v2/models/iris/versions/2/ready").status == 200


def test_poll_non_atomic_copy_is_retried(tmp_path):
    # §5.7 item 5: a version written in place (not renamed in) is read half
    # written: that load fails, v1 keeps serving, and once the file is
    # complete (it changed) the poller loads it.
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, scaled_iris_model(1.0))
    good = scaled_iris_model(2.0)
    with Server(repo, "--model-control", "poll", "--poll-interval", "0.2", threads=2,
                tmpdir=str(tmp_path)) as s:
        seen = []
        loop = LoadLoop(s.port, "/v2/models/iris/infer", BODY, n_threads=2,
                        check=version_checker(seen)).start()
        try:
            assert loop.wait_count(20), loop.failures
            os.makedirs(os.path.join(str(repo), "iris", "2"))
            path = os.path.join(str(repo), "iris", "2", "model.onnx")
            with open(path, "wb") as f:
                f.write(good[:len(good) // 3])
                f.flush()
                s.wait_log(lambda e: e.get("event") == "load_failed" and e.get("version") == "2")
                f.write(good[len(good) // 3:])
            wait_for(lambda: seen[-1:] == ["2"], what="completed version 2 serving")
            n = loop.ok
            assert loop.wait_count(n + 20)
        finally:
            loop.stop()
        assert loop.failures == []
        # One failure for the partial file (two if a scan also caught the
        # file empty, between its creation and the first write).
        assert len([e for e in s.events("load_failed") if e.get("version") == "2"]) in (1, 2)


@pytest.mark.parametrize("case", ["truncated", "garbage", "flipped_tag", "empty"])
def test_corrupt_version_explicit_keeps_old_serving(tmp_path, case):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, scaled_iris_model(1.0))
    with mgmt_server(tmp_path, repo, threads=2) as s:
        assert s.post("/v2/repository/models/iris/load", headers=MGMT).status == 200
        seen = []
        loop = LoadLoop(s.port, "/v2/models/iris/infer", BODY, n_threads=3,
                        check=version_checker(seen)).start()
        try:
            assert loop.wait_count(30), loop.failures
            put_version_atomic(repo, "iris", 2, corrupt_cases()[case])
            r = s.post("/v2/repository/models/iris/load", headers=MGMT)
            assert r.status == 400, r
            reason = r.error
            assert reason.startswith("load failed: "), reason
            assert index(s) == [{"name": "iris", "version": "1", "state": "READY", "reason": ""},
                                {"name": "iris", "version": "2", "state": "UNAVAILABLE",
                                 "reason": reason}]
            n = loop.ok
            assert loop.wait_count(n + 30)
            assert set(seen) == {"1"}
            assert s.get("/v2/health/ready").status == 200
            # Retry with a good file.
            shutil.rmtree(os.path.join(str(repo), "iris", "2"))
            put_version_atomic(repo, "iris", 2, scaled_iris_model(2.0))
            r = s.post("/v2/repository/models/iris/load", headers=MGMT)
            assert r.status == 200, r
            wait_for(lambda: seen[-1:] == ["2"], what="version 2 serving")
            n = loop.ok
            assert loop.wait_count(n + 20)
        finally:
            loop.stop()
        assert loop.failures == []
        assert index(s) == [{"name": "iris", "version": "2", "state": "READY", "reason": ""}]


def test_corrupt_config_keeps_old_serving(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX)
    with mgmt_server(tmp_path, repo) as s:
        assert s.post("/v2/repository/models/iris/load", headers=MGMT).status == 200
        with open(os.path.join(str(repo), "iris", "config.json"), "w") as f:
            f.write('{"max_batch_size": -1}')
        r = s.post("/v2/repository/models/iris/load", headers=MGMT)
        assert (r.status, r.error) == (400, "invalid config: max_batch_size")
        assert s.post("/v2/models/iris/infer", BODY).status == 200
        with open(os.path.join(str(repo), "iris", "config.json"), "w") as f:
            f.write('{"instance_count": 1000000}')
        r = s.post("/v2/repository/models/iris/load", headers=MGMT)
        assert (r.status, r.error) == (400, "invalid config: instance_count")
        with open(os.path.join(str(repo), "iris", "config.json"), "w") as f:
            f.write('{"no_such_key": 1}')
        r = s.post("/v2/repository/models/iris/load", headers=MGMT)
        assert (r.status, r.error) == (400, "invalid config: no_such_key")
        assert s.post("/v2/models/iris/infer", BODY).status == 200
        assert s.get("/v2/health/ready").status == 200


# --------------------------------------------------------------------------
# Poll mode: models come and go
# --------------------------------------------------------------------------

def test_poll_new_and_removed_model(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX)
    with Server(repo, "--model-control", "poll", "--poll-interval", "0.2",
                tmpdir=str(tmp_path)) as s:
        r = s.post("/v2/models/newcomer/infer", BODY)
        assert (r.status, r.error) == (404, "model not found")
        os.makedirs(os.path.join(str(repo), "newcomer"))
        put_version_atomic(repo, "newcomer", 1, IRIS_ONNX)
        wait_for(lambda: s.post("/v2/models/newcomer/infer", BODY).status == 200,
                 what="new model serving")
        shutil.rmtree(os.path.join(str(repo), "newcomer"))
        wait_for(lambda: s.post("/v2/models/newcomer/infer", BODY).status == 503,
                 what="removed model unloaded")
        r = s.post("/v2/models/newcomer/infer", BODY)
        assert (r.status, r.error) == (503, "model not ready")
        assert s.post("/v2/models/iris/infer", BODY).status == 200


# --------------------------------------------------------------------------
# R6: nothing outside the root; R11: one load at a time
# --------------------------------------------------------------------------

def test_R6_symlinks_and_hardlinks_refused(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX)
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copyfile(IRIS_ONNX, outside / "model.onnx")
    os.makedirs(repo / "link_file" / "1")
    os.symlink(str(outside / "model.onnx"), str(repo / "link_file" / "1" / "model.onnx"))
    os.makedirs(repo / "link_dir")
    os.symlink(str(outside), str(repo / "link_dir" / "1"))
    os.makedirs(repo / "hard" / "1")
    os.link(str(outside / "model.onnx"), str(repo / "hard" / "1" / "model.onnx"))
    with mgmt_server(tmp_path, repo) as s:
        for name in ("link_file", "link_dir", "hard"):
            r = s.post("/v2/repository/models/%s/load" % name, headers=MGMT)
            assert (r.status, r.error) == (400, "load failed: not a regular file"), name
            r = s.post("/v2/models/%s/infer" % name, BODY)
            assert (r.status, r.error) == (503, "model not ready")
        r = s.post("/v2/repository/models/iris/load", headers=MGMT)
        assert r.status == 200


def test_R11_load_in_progress(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "heavy", 1, slow_model(n_layers=32, width=2048))
    with mgmt_server(tmp_path, repo, "--intra-op-threads", "1") as s:
        assert s.post("/v2/repository/models/heavy/load", headers=MGMT).status == 200
        x = {"name": "x", "shape": [1, 2048], "datatype": "FP32", "data": [0.0] * 2048}
        t0 = time.monotonic()
        for _ in range(5):
            assert s.post("/v2/models/heavy/infer", v2_json([x])).status == 200
        per_run = (time.monotonic() - t0) / 5
        # Warm-up runs (at most 100, D31) make the next load take ~2 s.
        warm = max(2, min(100, int(2.0 / per_run)))
        with open(os.path.join(str(repo), "heavy", "config.json"), "w") as f:
            f.write('{"warmup": %d}' % warm)
        result = {}

        def first():
            result["r"] = s.post("/v2/repository/models/heavy/load", headers=MGMT, timeout=120)

        th = threading.Thread(target=first)
        th.start()
        s.wait_log(lambda e: e.get("event") == "loading" and
                   len([x for x in s.events("loading") if x.get("model") == "heavy"]) >= 2)
        r = s.post("/v2/repository/models/heavy/load", headers=MGMT)
        assert (r.status, r.error) == (409, "load in progress")
        r = s.post("/v2/repository/models/heavy/unload", headers=MGMT)
        assert (r.status, r.error) == (409, "load in progress")
        # The old version keeps serving during the reload, and the server
        # stays live and responsive (the load does not hold the I/O loop:
        # this server has a single I/O thread).
        assert s.post("/v2/models/heavy/infer", v2_json([x])).status == 200
        t1 = time.monotonic()
        assert s.get("/v2/health/live").status == 200
        assert time.monotonic() - t1 < 0.5 * SLOW
        assert th.is_alive(), "the load finished too early to test anything"
        th.join(120 * SLOW)
        assert result["r"].status == 200, result["r"]
        # A client that gives up on its load request costs nothing: the load
        # completes, its answer is dropped.
        c = connect(s.port)
        c.sendall(http_req_bytes("POST", "/v2/repository/models/heavy/load", headers=MGMT))
        s.wait_log(lambda e: len([x for x in s.events("loading") if x.get("model") == "heavy"]) >= 3)
        c.close()
        deadline = time.monotonic() + 120 * SLOW
        while True:
            r = s.post("/v2/repository/models/heavy/load", headers=MGMT, timeout=120)
            if r.status == 200 or time.monotonic() > deadline:
                break
            assert (r.status, r.error) == (409, "load in progress")
            time.sleep(0.1)
        assert r.status == 200, r
        assert s.post("/v2/models/heavy/infer", v2_json([x])).status == 200


def test_sigterm_during_api_load_drains(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "heavy", 1, slow_model(n_layers=32, width=2048), config={"warmup": 100})
    s = mgmt_server(tmp_path, repo, "--intra-op-threads", "1", drain_delay=0.1)
    try:
        result = {}
        th = threading.Thread(target=lambda: result.setdefault(
            "r", s.post("/v2/repository/models/heavy/load", headers=MGMT, timeout=120)))
        th.start()
        s.wait_log(lambda e: e.get("event") == "loading")
        s.signal(signal.SIGTERM)
        assert s.wait(120) == 0
        th.join(10)
        # The load finished and was answered before the process exited.
        assert result["r"].status == 200, result["r"]
        s.check_sanitizers()
    finally:
        s.kill()


def test_repository_with_only_a_loose_model_file_is_refused_and_the_file_named(tmp_path):
    # REPO/foo.onnx is not REPO/MODEL/VERSION/model.onnx: with nothing
    # servable and no way to add a model later, serving nothing while
    # reporting ready would be a silent failure.
    import subprocess
    from serve_util import AXLE
    repo = tmp_path / "repo"
    repo.mkdir()
    shutil.copy(IRIS_ONNX, repo / "foo.onnx")
    p = subprocess.run([AXLE, "serve", str(repo), "--http-port", "0", "--allow-root"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=30 * SLOW)
    err = p.stderr.decode()
    assert p.returncode == 2, err
    assert "no models in" in err and "MODEL/VERSION/model.onnx" in err, err
    assert "a model file at the top of a repository is not served" in err, err
    # With polling an empty repository is legitimate: it starts, and a model
    # put in place later is served.
    with Server(repo, "--model-control", "poll", "--poll-interval", "0.2",
                tmpdir=str(tmp_path), wait_ready=False) as s:
        put_model(repo, "iris", 1, IRIS_ONNX)
        wait_for(lambda: s.get("/v2/models/iris/ready").status == 200, what="iris ready")
