"""Drift served end to end: a version whose config.json names a reference
profile exports PSI per input feature (GET .../monitor and /metrics). PSI
stays near 0 for traffic drawn from the reference distribution and rises
above 0.25 when one feature is shifted."""

import json

import numpy as np
import pytest

from serve_util import IRIS_ONNX, Server, iris_input, put_model, v2_json

MEAN = np.array([5.8, 3.0, 3.8, 1.2])
STD = np.array([0.8, 0.4, 1.7, 0.7])
BINS = 10


def write_profile(path, ref):
    feats = []
    for j in range(ref.shape[1]):
        col = np.sort(ref[:, j].astype(np.float64))
        edges = [float(np.quantile(col, q)) for q in np.arange(1, BINS) / BINS]
        # bin 0: x <= e1; bin i: e_i < x <= e_{i+1}; last: x > e_{k-1}
        idx = np.searchsorted(np.array(edges), col, side="left")
        counts = np.bincount(idx, minlength=BINS).astype(np.float64)
        props = counts / counts.sum()
        props[-1] = 1.0 - props[:-1].sum()
        feats.append({"name": "f%d" % j, "edges": edges, "proportions": props.tolist(),
                      "missing": 0.0, "min": float(col[0]), "max": float(col[-1]),
                      "mean": float(col.mean())})
    with open(path, "w") as f:
        json.dump({"format": "axle-profile", "version": 1, "input": "input",
                   "rows": int(ref.shape[0]), "features": feats}, f)


def monitor(srv):
    r = srv.get("/v2/models/iris/monitor")
    assert r.status == 200
    return r.json()["drift"]


def send(srv, x):
    for i in range(0, len(x), 50):
        r = srv.post("/v2/models/iris/infer", v2_json([iris_input(x[i:i + 50])]))
        assert r.status == 200, r.body


@pytest.fixture
def srv(tmp_path):
    rng = np.random.default_rng(3)
    ref = rng.normal(MEAN, STD, (5000, 4)).astype(np.float32)
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX,
              {"monitoring": {"profile": "profile.json", "drift_window": 1000}})
    write_profile(repo / "iris" / "profile.json", ref)
    with Server(repo) as s:
        yield s, rng


def test_psi_near_zero_for_reference_traffic_and_high_when_shifted(srv):
    s, rng = srv
    d = monitor(s)
    assert d["window_rows"] == 0 and [f["name"] for f in d["features"]] == ["f0", "f1", "f2", "f3"]
    send(s, rng.normal(MEAN, STD, (1000, 4)).astype(np.float32))
    d = monitor(s)
    assert d["window_rows"] == 1000
    psi = [f["psi"] for f in d["features"]]
    assert max(psi) < 0.1, psi
    shifted = rng.normal(MEAN, STD, (1000, 4)).astype(np.float32)
    shifted[:, 2] += 1.5 * STD[2]
    send(s, shifted)
    psi = [f["psi"] for f in monitor(s)["features"]]
    assert psi[2] > 0.25, psi
    assert max(psi[0], psi[1], psi[3]) < 0.1, psi
    text = s.get("/metrics").body.decode()
    line = [l for l in text.splitlines() if l.startswith("axle_drift_psi{") and 'feature="f2"' in l]
    assert line and float(line[0].split()[-1]) > 0.25


def test_a_bad_profile_fails_the_load_with_a_clear_reason(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX, {"monitoring": {"profile": "profile.json"}})
    (repo / "iris" / "profile.json").write_text('{"format": "axle-profile", "version": 1, '
                                                '"features": [{"name": "a", "edges": [2, 1], '
                                                '"proportions": [0.5, 0.25, 0.25]}]}')
    with Server(repo, wait_ready=False) as s:
        ev = s.wait_log(lambda e: e.get("event") == "load_failed", timeout=20)
        assert "profile" in ev.get("detail", "")
        assert s.get("/v2/models/iris/ready").status != 200
