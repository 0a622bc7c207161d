"""End-to-end: the real `axle` binary runs LightGBM text models (model.txt).

Run: .venv/bin/python -m pytest tests/e2e/test_trees_lightgbm.py   (after `make build`)
     AXLE_BIN=build-asan/axle .venv/bin/python -m pytest tests/e2e/test_trees_lightgbm.py

The fixtures are committed (tests/fixtures/trees/lightgbm/<case>/, written by
tools/gen_tree_fixtures_lightgbm.py with PyPI lightgbm), so this needs no
LightGBM: each case holds model.txt, input.npy (float32 with NaNs, zeros,
tiny values, +-inf and rows on the thresholds) and LightGBM's own outputs,
expected_<output>.npy. The CLI contract is

    axle run model.txt --input input.npy --output-dir DIR
      -> exit 0; DIR/probabilities.npy + DIR/label.npy (binary, multiclass,
         multiclassova) or DIR/predictions.npy (everything else)
      -> exit 2 and a message naming the problem for a bad model or input

Outputs must equal LightGBM's within 1e-6 relative (1e-6 absolute near 0),
labels exactly; a non-finite expected value must be matched exactly.

Environment: AXLE_BIN (binary, default build/axle), AXLE_E2E_TIMEOUT
(seconds per CLI call, default 120).
"""

import json
import os
import re

import numpy as np
import pytest

from cli_util import axle, axle_bin, describe  # noqa: F401 (axle_bin: fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "trees", "lightgbm")
RTOL = 1e-6

CASES = sorted(d for d in os.listdir(FIXTURES)
               if os.path.isfile(os.path.join(FIXTURES, d, "model.txt"))) \
    if os.path.isdir(FIXTURES) else []


def load_meta(case):
    with open(os.path.join(FIXTURES, case, "meta.json")) as f:
        return json.load(f)


def test_fixtures_are_present():
    # A suite whose parametrization came out empty could not fail.
    assert len(CASES) >= 20, "fixtures missing under %s" % FIXTURES


def assert_matches(case, name, got, want):
    assert got.shape == want.shape, "%s %s: shape %s, LightGBM %s" % (
        case, name, got.shape, want.shape)
    if want.dtype.kind in "iu":
        assert got.dtype == np.int64, "%s %s: dtype %s" % (case, name, got.dtype)
        bad = np.flatnonzero(got != want)
        assert bad.size == 0, "%s %s: %d labels differ, first at %d (%s vs %s)" % (
            case, name, bad.size, bad[0], got.flat[bad[0]], want.flat[bad[0]])
        return
    assert got.dtype == np.float32, "%s %s: dtype %s" % (case, name, got.dtype)
    g = got.astype(np.float64)
    finite = np.isfinite(want)
    same_special = (g == want) | (np.isnan(g) & np.isnan(want))
    assert np.all(same_special[~finite]), "%s %s: non-finite values differ" % (case, name)
    err = np.zeros(want.shape)
    err[finite] = np.abs(g[finite] - want[finite]) / np.maximum(np.abs(want[finite]), 1.0)
    worst = int(np.argmax(err))
    assert err.flat[worst] <= RTOL, "%s %s: element %d: axle %.9g, LightGBM %.9g (rel %.3g)" % (
        case, name, worst, g.flat[worst], want.flat[worst], err.flat[worst])


@pytest.mark.parametrize("case", CASES)
def test_run_matches_lightgbm(axle_bin, tmp_path, case):
    d = os.path.join(FIXTURES, case)
    meta = load_meta(case)
    out = tmp_path / "out"
    proc = axle("run", os.path.join(d, "model.txt"), "--input", os.path.join(d, "input.npy"),
                "--output-dir", str(out))
    assert proc.returncode == 0, describe(proc)
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(o + ".npy" for o in meta["outputs"]), written
    for name in meta["outputs"]:
        assert_matches(case, name, np.load(out / (name + ".npy")),
                       np.load(os.path.join(d, "expected_%s.npy" % name)))


@pytest.mark.parametrize("case", ["binary", "multiclass", "categorical", "linear_tree", "rf"])
def test_run_one_row_at_a_time_matches(axle_bin, tmp_path, case):
    """Batch 1 takes the single-row path of the evaluator."""
    d = os.path.join(FIXTURES, case)
    meta = load_meta(case)
    x = np.load(os.path.join(d, "input.npy"))
    for r in (0, 7, len(x) - 1):
        inp = tmp_path / ("row%d.npy" % r)
        np.save(inp, x[r:r + 1])
        out = tmp_path / ("out%d" % r)
        proc = axle("run", os.path.join(d, "model.txt"), "--input", str(inp),
                    "--output-dir", str(out))
        assert proc.returncode == 0, describe(proc)
        for name in meta["outputs"]:
            want = np.load(os.path.join(d, "expected_%s.npy" % name))[r:r + 1]
            assert_matches(case, name, np.load(out / (name + ".npy")), want)


def test_inspect_describes_the_model(axle_bin):
    d = os.path.join(FIXTURES, "multiclass")
    proc = axle("inspect", os.path.join(d, "model.txt"), "--json")
    assert proc.returncode == 0, describe(proc)
    info = json.loads(proc.stdout)
    assert info["format"] == "lightgbm"
    assert info["inputs"][0]["shape"][1] == load_meta("multiclass")["n_features"]
    assert [o["name"] for o in info["outputs"]] == ["probabilities", "label"]
    assert info["outputs"][0]["shape"][1] == 3


# --------------------------------------------------------------------------
# Bad models and inputs: exit 2 and a message naming the problem
# --------------------------------------------------------------------------

def model_text(case="regression"):
    with open(os.path.join(FIXTURES, case, "model.txt")) as f:
        text = f.read()
    # Edited trees change their byte counts; LightGBM itself reads a model
    # without tree_sizes by scanning for "Tree=" lines.
    return re.sub(r"^tree_sizes=.*\n", "", text, flags=re.M)


def tree_block(text, i):
    m = re.search(r"^Tree=%d\n(.*?)\n\n" % i, text, flags=re.M | re.S)
    assert m, "tree %d not found" % i
    return m


def edit_tree_field(text, i, field, fn):
    """Applies fn to the value list of one field of tree i."""
    m = tree_block(text, i)
    block = m.group(1)
    fm = re.search(r"^%s=(.*)$" % field, block, flags=re.M)
    assert fm, "%s not in tree %d" % (field, i)
    new_vals = fn(fm.group(1).split(" "))
    block = block[:fm.start(1)] + " ".join(new_vals) + block[fm.end(1):]
    return text[:m.start(1)] + block + text[m.end(1):]


def expect_load_error(tmp_path, text, pattern, case="regression"):
    path = tmp_path / "model.txt"
    path.write_text(text)
    proc = axle("run", str(path), "--input", os.path.join(FIXTURES, case, "input.npy"),
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    assert re.search(pattern, proc.stderr), describe(proc)
    assert "Sanitizer" not in proc.stderr, describe(proc)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    return proc


def test_rejects_truncated_model(axle_bin, tmp_path):
    text = model_text()
    for frac in (0.5, 0.9):
        expect_load_error(tmp_path, text[: int(len(text) * frac)], r"truncated")
    expect_load_error(tmp_path, text[: text.index("end of trees")], r"truncated")


def test_rejects_split_feature_out_of_range(axle_bin, tmp_path):
    text = model_text()
    n_features = load_meta("regression")["n_features"]
    bad = edit_tree_field(text, 3, "split_feature", lambda v: [str(n_features)] + v[1:])
    expect_load_error(tmp_path, bad, r"split feature out of range: tree 3 split_feature\[0\] is %d"
                      % n_features)


def test_rejects_child_out_of_range(axle_bin, tmp_path):
    text = model_text()
    bad = edit_tree_field(text, 2, "left_child", lambda v: ["999"] + v[1:])
    expect_load_error(tmp_path, bad, r"invalid tree structure: tree 2 node 0: left_child 999 out of range")
    bad = edit_tree_field(text, 2, "right_child", lambda v: ["-999"] + v[1:])
    expect_load_error(tmp_path, bad, r"invalid tree structure: tree 2 node 0: right_child -999")


def test_rejects_child_cycle(axle_bin, tmp_path):
    text = model_text()
    # The root's left child pointing back at the root.
    bad = edit_tree_field(text, 1, "left_child", lambda v: ["0"] + v[1:])
    expect_load_error(tmp_path, bad, r"invalid tree structure: tree 1 .*cycle")
    # Some internal node k > 0 made its own child: a loop the root cannot reach.
    m = tree_block(text, 1)
    left = re.search(r"^left_child=(.*)$", m.group(1), flags=re.M).group(1).split(" ")
    k = next(i for i, c in enumerate(left) if int(c) > 0)
    target = left[k]

    def self_loop(v):
        v = list(v)
        v[int(target)] = target
        return v
    bad = edit_tree_field(text, 1, "left_child", self_loop)
    expect_load_error(tmp_path, bad, r"invalid tree structure: tree 1 .*(cycle|parent)")


def test_rejects_array_length_mismatch(axle_bin, tmp_path):
    text = model_text()
    bad = edit_tree_field(text, 0, "leaf_value", lambda v: v[:-1])
    expect_load_error(tmp_path, bad, r"tree array length mismatch: tree 0 leaf_value")
    bad = edit_tree_field(text, 4, "threshold", lambda v: v + ["0.5"])
    expect_load_error(tmp_path, bad, r"tree array length mismatch: tree 4 threshold")


def test_rejects_unsupported_objective(axle_bin, tmp_path):
    text = model_text().replace("objective=regression", "objective=cross_entropy_lambda")
    expect_load_error(tmp_path, text, r"unsupported objective 'cross_entropy_lambda'")


def test_rejects_not_a_model(axle_bin, tmp_path):
    expect_load_error(tmp_path, "tree\n" + "garbage line\n" * 10, r"truncated")
    expect_load_error(tmp_path, model_text().replace("feature_names=", "feature_names=x ", 1),
                      r"feature_names lists \d+ features")


def test_rejects_input_with_wrong_feature_count(axle_bin, tmp_path):
    d = os.path.join(FIXTURES, "binary")
    n = load_meta("binary")["n_features"]
    x = np.load(os.path.join(d, "input.npy"))[:, : n - 1]
    inp = tmp_path / "narrow.npy"
    np.save(inp, np.ascontiguousarray(x))
    proc = axle("run", os.path.join(d, "model.txt"), "--input", str(inp),
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    assert re.search(r"%d" % (n - 1), proc.stderr) and re.search(r"%d" % n, proc.stderr), \
        describe(proc)
    assert re.search(r"feature|shape|dim", proc.stderr, re.I), describe(proc)
