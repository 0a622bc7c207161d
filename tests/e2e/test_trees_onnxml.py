"""End-to-end: the real `axle` binary runs ONNX-ML tree models
(ai.onnx.ml TreeEnsembleClassifier / TreeEnsembleRegressor / TreeEnsemble)
and must give ONNX Runtime's outputs.

Run: .venv/bin/python -m pytest tests/e2e/test_trees_onnxml.py   (after `make build`)

Fixtures: tests/fixtures/trees/onnxml/<case>/ (tools/gen_tree_fixtures_onnxml.py,
committed): model.onnx, input.npy, expected_<output>.npy from ONNX Runtime,
optional mask_<output>.npy (elements ONNX Runtime leaves unwritten, not
compared) and meta.json. For every case

    axle run model.onnx --input input.npy --output-dir DIR
      -> exit 0; DIR/<output>.npy equal to ONNX Runtime's within 1e-6
         relative (1e-6 absolute near zero); labels exactly

and for every tests/fixtures/trees/onnxml/bad/<case>/ -> exit 2 with the
message fragment of its meta.json on stderr.

Environment: AXLE_BIN (binary, default build/axle), AXLE_E2E_TIMEOUT.
"""

import json
import os
import re
import subprocess

import numpy as np
import pytest

from cli_util import axle_bin, describe, TIMEOUT  # noqa: F401 (axle_bin: fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "trees", "onnxml")
RTOL = 1e-6
ATOL = 1e-6


def _cases(sub=""):
    d = os.path.join(FIXTURES, sub)
    if not os.path.isdir(d):
        return []
    return sorted(c for c in os.listdir(d)
                  if os.path.isfile(os.path.join(d, c, "meta.json")))


CASES = _cases()
BAD = _cases("bad")


def sanitize(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def run_axle(binary, case_dir, out_dir):
    return subprocess.run(
        [binary, "run", os.path.join(case_dir, "model.onnx"),
         "--input", os.path.join(case_dir, "input.npy"), "--output-dir", str(out_dir)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=TIMEOUT)


def test_fixtures_are_present():
    # a suite that silently finds nothing cannot fail
    assert len(CASES) >= 100, "expected the committed fixtures under %s" % FIXTURES
    assert len(BAD) >= 5
    sources = " ".join(json.load(open(os.path.join(FIXTURES, c, "meta.json")))["source"]
                       for c in CASES)
    for lib in ("scikit-learn", "xgboost", "lightgbm", "TreeEnsemble-5"):
        assert lib in sources or lib.lower() in sources.lower(), lib


def close(got, want, mask):
    """Indices where got and want differ beyond the tolerance."""
    g = got.astype(np.float64)
    w = want.astype(np.float64)
    same = (g == w) | (np.isnan(g) & np.isnan(w))
    tol = np.maximum(ATOL, RTOL * np.abs(w))
    with np.errstate(invalid="ignore"):  # inf - inf where both are inf
        ok = same | (np.abs(g - w) <= tol)
    if mask is not None:
        ok |= mask
    return np.argwhere(~ok)


@pytest.mark.parametrize("case", CASES)
def test_matches_onnxruntime(axle_bin, case, tmp_path):
    d = os.path.join(FIXTURES, case)
    meta = json.load(open(os.path.join(d, "meta.json")))
    proc = run_axle(axle_bin, d, tmp_path)
    assert proc.returncode == 0, describe(proc)
    for name in meta["outputs"]:
        f = sanitize(name)
        want = np.load(os.path.join(d, "expected_%s.npy" % f))
        path = tmp_path / ("%s.npy" % f)
        assert path.is_file(), "no %s.npy\n%s" % (f, describe(proc))
        got = np.load(path)
        assert got.shape == want.shape, (name, got.shape, want.shape)
        if want.dtype.kind in "SU" or want.dtype.kind in "iub":
            assert got.dtype.kind == want.dtype.kind, (name, got.dtype, want.dtype)
            bad = np.argwhere(got != want)
            assert bad.size == 0, "%s: %d of %d differ, first at %s: got %r want %r" % (
                name, len(bad), want.size, tuple(bad[0]), got[tuple(bad[0])], want[tuple(bad[0])])
            continue
        assert got.dtype == want.dtype, (name, got.dtype, want.dtype)
        mpath = os.path.join(d, "mask_%s.npy" % f)
        mask = np.load(mpath) if os.path.exists(mpath) else None
        bad = close(got, want, mask)
        assert bad.size == 0, "%s: %d of %d differ, first at %s: got %r want %r" % (
            name, len(bad), want.size, tuple(bad[0]), got[tuple(bad[0])], want[tuple(bad[0])])


@pytest.mark.parametrize("case", BAD)
def test_bad_model_is_refused(axle_bin, case, tmp_path):
    d = os.path.join(FIXTURES, "bad", case)
    meta = json.load(open(os.path.join(d, "meta.json")))
    proc = run_axle(axle_bin, d, tmp_path)
    assert proc.returncode == meta["expect_exit"], describe(proc)
    assert meta["message"] in proc.stderr, describe(proc)
