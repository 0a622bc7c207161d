"""`axle profile` end to end: the reference profile of training data (CSV
with a header, or .npy) for the iris model, checked against numpy's own
quantiles and bin counts, then served: PSI stays near 0 for traffic from
the training distribution and rises above 0.25 for a shifted feature.
Bad data (ragged rows, text, a feature count the model does not take)
exits 2 with a message that names the problem, and writes nothing."""

import json
import os
import subprocess

import numpy as np
import pytest

from serve_util import AXLE, IRIS_ONNX, Server, iris_input, put_model, v2_json

MEAN = np.array([5.8, 3.0, 3.8, 1.2])
STD = np.array([0.8, 0.4, 1.7, 0.7])
NAMES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def axle_profile(*args):
    return subprocess.run([AXLE, "profile", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def write_csv(path, x, header=True):
    with open(path, "w") as f:
        if header:
            f.write(",".join(NAMES) + "\n")
        for row in x:
            # str() of a float32 is its shortest decimal, which reads back as
            # the same float32
            f.write(",".join("" if np.isnan(v) else str(v) for v in row) + "\n")


def expected(col, bins):
    """Edges and shares as profile.h defines them, computed with numpy."""
    ok = col[~np.isnan(col)].astype(np.float64)
    q = np.quantile(ok, np.arange(1, bins) / bins, method="inverted_cdf")
    edges = np.unique(q)
    idx = np.searchsorted(edges, ok, side="left")  # x == edge goes left
    props = np.bincount(idx, minlength=len(edges) + 1) / len(col)
    return edges, props, 1.0 - len(ok) / len(col)


def check_against_numpy(prof, x, bins):
    assert prof["format"] == "axle-profile" and prof["version"] == 1
    assert prof["input"] == "input" and prof["rows"] == len(x)
    assert len(prof["features"]) == x.shape[1]
    for j, f in enumerate(prof["features"]):
        edges, props, missing = expected(x[:, j], bins)
        assert np.array_equal(np.array(f["edges"]), edges), (j, f["edges"], edges)
        assert np.allclose(f["proportions"], props, rtol=0, atol=1e-12), (j, f["proportions"])
        assert abs(f["missing"] - missing) < 1e-12
        assert abs(sum(f["proportions"]) + f["missing"] - 1) < 1e-9


@pytest.fixture(scope="module")
def ref():
    rng = np.random.default_rng(11)
    return rng.normal(MEAN, STD, (5000, 4)).astype(np.float32)


def test_csv_profile_matches_numpy_quantiles_and_counts(tmp_path, ref):
    write_csv(tmp_path / "train.csv", ref)
    r = axle_profile(IRIS_ONNX, "--data", tmp_path / "train.csv", "-o", tmp_path / "p.json")
    assert r.returncode == 0, r.stderr
    assert "4 features, 5000 rows" in r.stdout
    prof = json.loads((tmp_path / "p.json").read_text())
    assert [f["name"] for f in prof["features"]] == NAMES
    check_against_numpy(prof, ref, 10)
    for f in prof["features"]:
        assert len(f["edges"]) == 9
        assert np.allclose(f["proportions"], 0.1, atol=1e-3)
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_npy_profile_equals_the_csv_profile_but_for_names(tmp_path, ref):
    write_csv(tmp_path / "train.csv", ref)
    np.save(tmp_path / "train.npy", ref)
    for src, out in (("train.csv", "c.json"), ("train.npy", "n.json")):
        r = axle_profile(IRIS_ONNX, "--data", tmp_path / src, "-o", tmp_path / out,
                         "--bins", 16)
        assert r.returncode == 0, r.stderr
    c = json.loads((tmp_path / "c.json").read_text())
    n = json.loads((tmp_path / "n.json").read_text())
    assert [f["name"] for f in n["features"]] == ["f0", "f1", "f2", "f3"]
    check_against_numpy(n, ref, 16)
    for fc, fn in zip(c["features"], n["features"]):
        assert fc["edges"] == fn["edges"] and fc["proportions"] == fn["proportions"]


def test_missing_values_and_a_constant_feature(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(MEAN, STD, (400, 4)).astype(np.float32)
    x[rng.random(400) < 0.25, 1] = np.nan
    x[:, 3] = 0.5
    write_csv(tmp_path / "train.csv", x, header=False)
    r = axle_profile(IRIS_ONNX, "--data", tmp_path / "train.csv", "-o", tmp_path / "p.json",
                     "--no-header")
    assert r.returncode == 0, r.stderr
    prof = json.loads((tmp_path / "p.json").read_text())
    check_against_numpy(prof, x, 10)
    assert abs(prof["features"][1]["missing"] - np.isnan(x[:, 1]).mean()) < 1e-12
    assert prof["features"][3]["edges"] == [0.5]
    assert prof["features"][3]["proportions"] == [1, 0]


def monitor(srv):
    r = srv.get("/v2/models/iris/monitor")
    assert r.status == 200
    return r.json()["drift"]


def send(srv, x):
    for i in range(0, len(x), 50):
        r = srv.post("/v2/models/iris/infer", v2_json([iris_input(x[i:i + 50])]))
        assert r.status == 200, r.body


def test_served_with_the_generated_profile_psi_is_low_then_high_when_shifted(tmp_path, ref):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX,
              {"monitoring": {"profile": "profile.json", "drift_window": 1000}})
    write_csv(tmp_path / "train.csv", ref)
    r = axle_profile(IRIS_ONNX, "--data", tmp_path / "train.csv", "-o",
                     repo / "iris" / "profile.json")
    assert r.returncode == 0, r.stderr
    rng = np.random.default_rng(12)
    with Server(repo) as s:
        d = monitor(s)
        assert d["window_rows"] == 0 and [f["name"] for f in d["features"]] == NAMES
        send(s, rng.normal(MEAN, STD, (1000, 4)).astype(np.float32))
        psi = [f["psi"] for f in monitor(s)["features"]]
        assert max(psi) < 0.1, psi
        shifted = rng.normal(MEAN, STD, (1000, 4)).astype(np.float32)
        shifted[:, 2] += 1.5 * STD[2]
        send(s, shifted)
        psi = [f["psi"] for f in monitor(s)["features"]]
        assert psi[2] > 0.25, psi
        assert max(psi[0], psi[1], psi[3]) < 0.1, psi


def expect_usage_error(tmp_path, data, want, *extra):
    out = tmp_path / "bad.json"
    r = axle_profile(IRIS_ONNX, "--data", data, "-o", out, *extra)
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert want in r.stderr, r.stderr
    assert "axle profile" in r.stderr
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if ".tmp" in p]


def test_ragged_csv_exits_2_naming_the_line(tmp_path):
    (tmp_path / "r.csv").write_text("a,b,c,d\n1,2,3,4\n5,6,7\n")
    expect_usage_error(tmp_path, tmp_path / "r.csv", "line 3: 3 fields, but the header")


def test_text_and_infinite_values_exit_2_naming_line_and_field(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,c,d\n1,2,3,4\n5,6,seven,8\n")
    expect_usage_error(tmp_path, tmp_path / "t.csv", "line 3, field 3: 'seven' is not a number")
    (tmp_path / "i.csv").write_text("1,2,3,4\n5,6,inf,8\n")
    expect_usage_error(tmp_path, tmp_path / "i.csv", "line 2, field 3: 'inf' is infinite")


def test_wrong_feature_count_exits_2(tmp_path):
    (tmp_path / "three.csv").write_text("a,b,c\n1,2,3\n4,5,6\n")
    expect_usage_error(tmp_path, tmp_path / "three.csv", "has 3 features (columns), but input "
                       "'input'")
    np.save(tmp_path / "five.npy", np.zeros((10, 5), np.float32))
    expect_usage_error(tmp_path, tmp_path / "five.npy", "has 5 features")
    np.save(tmp_path / "flat.npy", np.zeros(10, np.float32))
    expect_usage_error(tmp_path, tmp_path / "flat.npy", "[rows, features]")


def test_bad_usage_exits_2(tmp_path):
    (tmp_path / "ok.csv").write_text("1,2,3,4\n")
    expect_usage_error(tmp_path, tmp_path / "ok.csv", "--bins wants 2..64", "--bins", "1")
    expect_usage_error(tmp_path, tmp_path / "ok.csv", "no input 'nope'", "--input", "nope")
    expect_usage_error(tmp_path, tmp_path / "missing.csv", "cannot open")
    (tmp_path / "empty.csv").write_text("")
    expect_usage_error(tmp_path, tmp_path / "empty.csv", "no rows")
    r = axle_profile(IRIS_ONNX, "-o", tmp_path / "x.json")
    assert r.returncode == 2 and "usage: axle profile" in r.stderr


def test_help_describes_the_command_and_axle_help_lists_it():
    r = axle_profile("--help")
    assert r.returncode == 0 and "usage: axle profile MODEL --data FILE" in r.stdout
    assert "--bins" in r.stdout and "--no-header" in r.stdout
    r = subprocess.run([AXLE, "--help"], capture_output=True, text=True)
    assert "profile" in r.stdout
