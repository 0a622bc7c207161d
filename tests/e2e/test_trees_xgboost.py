"""End-to-end: the real `axle` binary runs XGBoost models (JSON and UBJSON)
and agrees with the library that wrote them.

Fixtures: tests/fixtures/trees/xgboost/<case>/ written by
tools/gen_tree_fixtures_xgboost.py with both Debian's xgboost 1.7.4 and
PyPI's 3.x (meta.json records the versions). For every case

    axle run MODEL --input input.npy --output-dir DIR
      -> exit 0; DIR/<output>.npy equals expected_<output>.npy within 1e-6
         relative (1e-6 absolute near 0); bit for bit for the outputs the
         case lists as "exact" (the float32 sum with no transform after it);
         labels exactly.

Bad models (SECURITY.md D30, X1-X5) -> exit 2 and a message naming the
problem, never a crash.

Environment: AXLE_BIN (default build/axle), AXLE_E2E_TIMEOUT (seconds per CLI
call, default 120).
"""

import copy
import json
import os
import re
import struct

import numpy as np
import pytest

from cli_util import axle, axle_bin, describe  # noqa: F401 (axle_bin: fixture)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "trees", "xgboost")
RTOL = 1e-6
ATOL = 1e-6

CASES = sorted(d for d in os.listdir(FIXTURES)
               if os.path.isfile(os.path.join(FIXTURES, d, "meta.json")))

# forest.c's categorical test reads any x in (-1, 0) as category 0 (LightGBM's
# rule: truncate, then test); XGBoost calls every x < 0 invalid and goes left.
# These cases feed such values; they pass once the forest has XGBoost's rule.
KNOWN_DIFFERENCES = {}  # case -> reason, for an xfail


def load_meta(case):
    with open(os.path.join(FIXTURES, case, "meta.json")) as f:
        return json.load(f)


def test_fixtures_cover_both_generators_and_formats():
    metas = [load_meta(c) for c in CASES]
    majors = {m["generator"]["xgboost"].split(".")[0] for m in metas}
    assert {"1", "3"} <= majors, majors
    assert any(m["model"] == "model.ubj" for m in metas)
    objectives = {m["objective"] for m in metas}
    for o in ("binary:logistic", "multi:softprob", "multi:softmax", "reg:squarederror",
              "count:poisson", "reg:gamma", "reg:tweedie", "binary:hinge", "binary:logitraw",
              "reg:logistic", "rank:pairwise"):
        assert o in objectives, o
    boosters = {m["booster"] for m in metas}
    assert {"gbtree", "dart", "gblinear"} <= boosters, boosters


def run_case(case, tmp_path, model=None, inp=None):
    meta = load_meta(case)
    mdir = os.path.join(FIXTURES, case)
    out = tmp_path / "out"
    proc = axle("run", model or os.path.join(mdir, meta["model"]),
                "--input", inp or os.path.join(mdir, "input.npy"), "--output-dir", str(out))
    return meta, out, proc


def compare(case, meta, out):
    mdir = os.path.join(FIXTURES, case)
    for name, fname in sorted(meta["outputs"].items()):
        path = out / (name + ".npy")
        assert path.is_file(), "%s: output %r missing; dir has %s" % (
            case, name, sorted(p.name for p in out.iterdir()))
        got = np.load(path)
        ref = np.load(os.path.join(mdir, fname))
        assert got.shape == ref.shape, "%s %s: shape %s, library %s" % (
            case, name, got.shape, ref.shape)
        if ref.dtype.kind in "iu":
            bad = np.flatnonzero(got.ravel() != ref.ravel())
            assert bad.size == 0, "%s %s: %d labels differ, first at %d: %s vs %s" % (
                case, name, bad.size, bad[0], got.ravel()[bad[0]], ref.ravel()[bad[0]])
            continue
        assert got.dtype == np.float32, "%s %s: dtype %s" % (case, name, got.dtype)
        if name in meta.get("exact", []):
            bad = np.flatnonzero(got.view(np.uint32).ravel() != ref.view(np.uint32).ravel())
            assert bad.size == 0, "%s %s: %d values not bit-identical, first at %d: %r vs %r" % (
                case, name, bad.size, bad[0], got.ravel()[bad[0]], ref.ravel()[bad[0]])
        g = got.astype(np.float64)
        r = ref.astype(np.float64)
        err = np.abs(g - r)
        tol = np.maximum(ATOL, RTOL * np.abs(r))
        worst = int(np.argmax(err - tol))
        assert np.all(err <= tol), "%s %s: |%r - %r| = %.3g > %.3g at %d" % (
            case, name, g.ravel()[worst], r.ravel()[worst], err.ravel()[worst],
            tol.ravel()[worst], worst)


@pytest.mark.parametrize("case", CASES)
def test_run_matches_xgboost(axle_bin, tmp_path, case):
    if case in KNOWN_DIFFERENCES:
        pytest.xfail(KNOWN_DIFFERENCES[case])
    meta, out, proc = run_case(case, tmp_path)
    assert proc.returncode == 0, describe(proc)
    compare(case, meta, out)


@pytest.mark.parametrize("case", [c for c in CASES if load_meta(c)["model"] == "model.json"][:4])
def test_one_row_at_a_time_matches_the_batch(axle_bin, tmp_path, case):
    """Single rows take the unblocked path; the answer must not change."""
    meta = load_meta(case)
    x = np.load(os.path.join(FIXTURES, case, "input.npy"))
    for r in (0, 1, len(x) - 1):
        inp = tmp_path / ("row%d.npy" % r)
        np.save(inp, x[r:r + 1])
        out = tmp_path / ("out%d" % r)
        proc = axle("run", os.path.join(FIXTURES, case, meta["model"]), "--input", str(inp),
                    "--output-dir", str(out))
        assert proc.returncode == 0, describe(proc)
        for name, fname in meta["outputs"].items():
            got = np.load(out / (name + ".npy"))
            ref = np.load(os.path.join(FIXTURES, case, fname))[r:r + 1]
            np.testing.assert_allclose(got.astype(np.float64), ref.astype(np.float64),
                                       rtol=RTOL, atol=ATOL)


# --------------------------------------------------------------------------
# Bad models: exit 2 and a message naming the problem (SECURITY.md D30, X1-X5)
# --------------------------------------------------------------------------

BASE_CASE = next(c for c in CASES if c.startswith("reg_squarederror_xgb17"))


def base_doc():
    with open(os.path.join(FIXTURES, BASE_CASE, "model.json")) as f:
        return json.load(f)


def first_split(tree):
    return next(i for i, l in enumerate(tree["left_children"]) if l != -1)


def write(tmp_path, doc, name="model.json"):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return str(p)


def expect_bad(tmp_path, path, pattern):
    proc = axle("run", path, "--input", os.path.join(FIXTURES, BASE_CASE, "input.npy"),
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    assert re.search(pattern, proc.stderr, re.I), describe(proc)
    assert "Sanitizer" not in proc.stderr, describe(proc)
    return proc


def trees(doc):
    return doc["learner"]["gradient_booster"]["model"]["trees"]


def test_truncated_json_model_is_refused(axle_bin, tmp_path):
    data = open(os.path.join(FIXTURES, BASE_CASE, "model.json"), "rb").read()
    p = tmp_path / "model.json"
    p.write_bytes(data[: len(data) // 2])
    expect_bad(tmp_path, str(p), r"malformed|truncated")


def test_truncated_ubjson_model_is_refused(axle_bin, tmp_path):
    case = next(c for c in CASES if load_meta(c)["model"] == "model.ubj")
    data = open(os.path.join(FIXTURES, case, "model.ubj"), "rb").read()
    p = tmp_path / "model.ubj"
    p.write_bytes(data[: len(data) // 3])
    expect_bad(tmp_path, str(p), r"truncated ubjson")


def test_X4_split_feature_out_of_range_is_refused(axle_bin, tmp_path):
    doc = base_doc()
    t = trees(doc)[2]
    t["split_indices"][first_split(t)] = 99
    expect_bad(tmp_path, write(tmp_path, doc), r"split feature out of range.*tree 2.*feature 99")


def test_X2_child_cycle_is_refused(axle_bin, tmp_path):
    doc = base_doc()
    t = trees(doc)[1]
    # the last split node points back at the root's first child
    splits = [i for i, l in enumerate(t["left_children"]) if l != -1]
    t["left_children"][splits[-1]] = t["left_children"][0]
    expect_bad(tmp_path, write(tmp_path, doc), r"invalid tree structure.*tree 1.*reached twice")


def test_X2_child_pointing_at_root_is_refused(axle_bin, tmp_path):
    doc = base_doc()
    t = trees(doc)[0]
    t["right_children"][first_split(t)] = 0
    expect_bad(tmp_path, write(tmp_path, doc), r"invalid tree structure.*tree 0.*child 0")


def test_X1_child_out_of_range_is_refused(axle_bin, tmp_path):
    doc = base_doc()
    t = trees(doc)[3]
    t["right_children"][0] = len(t["left_children"]) + 5
    expect_bad(tmp_path, write(tmp_path, doc), r"invalid tree structure.*tree 3.*out of range")


def test_X1_negative_child_other_than_minus_one_is_refused(axle_bin, tmp_path):
    doc = base_doc()
    t = trees(doc)[0]
    t["left_children"][0] = -7
    expect_bad(tmp_path, write(tmp_path, doc), r"invalid tree structure.*tree 0.*-7")


def test_X3_array_length_mismatch_is_refused(axle_bin, tmp_path):
    doc = base_doc()
    trees(doc)[4]["split_conditions"].pop()
    expect_bad(tmp_path, write(tmp_path, doc), r"tree array length mismatch.*tree 4.*split_conditions")


def test_X5_unknown_objective_is_refused(axle_bin, tmp_path):
    doc = base_doc()
    doc["learner"]["objective"]["name"] = "survival:cox"
    expect_bad(tmp_path, write(tmp_path, doc), r"unsupported objective 'survival:cox'")


def test_X5_nan_base_score_is_refused(axle_bin, tmp_path):
    doc = base_doc()
    doc["learner"]["learner_model_param"]["base_score"] = "NaN"
    expect_bad(tmp_path, write(tmp_path, doc), r"base_score")


def test_X5_deep_tree_is_refused(axle_bin, tmp_path):
    """A 200-level chain (D30: depth <= 128)."""
    doc = base_doc()
    depth = 200
    n = 2 * depth + 1
    left = [-1] * n
    right = [-1] * n
    for d in range(depth):
        left[2 * d] = 2 * d + 1
        right[2 * d] = 2 * d + 2
    t = trees(doc)[0]
    t.update(left_children=left, right_children=right, parents=[0] * n,
             split_indices=[0] * n, split_conditions=[0.5] * n, default_left=[0] * n,
             split_type=[0] * n, base_weights=[0.0] * n, loss_changes=[0.0] * n,
             sum_hessian=[1.0] * n)
    t["tree_param"]["num_nodes"] = str(n)
    expect_bad(tmp_path, write(tmp_path, doc), r"invalid tree structure.*deeper than 128")


def test_missing_field_is_named(axle_bin, tmp_path):
    doc = base_doc()
    del trees(doc)[0]["default_left"]
    expect_bad(tmp_path, write(tmp_path, doc), r"missing field 'default_left' in tree 0")


def test_tree_info_length_mismatch_is_refused(axle_bin, tmp_path):
    doc = base_doc()
    doc["learner"]["gradient_booster"]["model"]["tree_info"].pop()
    expect_bad(tmp_path, write(tmp_path, doc), r"tree_info")


def test_wrong_input_feature_count_is_refused_at_run_time(axle_bin, tmp_path):
    meta = load_meta(BASE_CASE)
    x = np.load(os.path.join(FIXTURES, BASE_CASE, "input.npy"))
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((3, x.shape[1] + 1), np.float32))
    proc = axle("run", os.path.join(FIXTURES, BASE_CASE, meta["model"]), "--input", str(wrong),
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    # the session checks the declared [batch, num_feature] shape (or the
    # Forest op its own: "input has 7 features, the model expects 6")
    n, m = x.shape[1] + 1, x.shape[1]
    assert re.search(r"input.*(expected %d, got %d|%d features.*expects %d)" % (m, n, n, m),
                     proc.stderr), describe(proc)


def ubj_string(s):
    b = s.encode()
    return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"l" + struct.pack(">i", len(b)) + b


def test_ubjson_with_negative_length_is_refused(axle_bin, tmp_path):
    p = tmp_path / "model.ubj"
    p.write_bytes(b"{" + ubj_string("learner") + b"{" + b"i\xfb" + b"abc}}")
    expect_bad(tmp_path, str(p), r"malformed ubjson.*negative")


def test_ubjson_with_huge_count_is_refused(axle_bin, tmp_path):
    p = tmp_path / "model.ubj"
    p.write_bytes(b"{" + ubj_string("learner") + b"[$d#L" + struct.pack(">q", 1 << 40) + b"}")
    expect_bad(tmp_path, str(p), r"ubjson")


def test_reencoded_model_in_ubjson_matches_json(axle_bin, tmp_path):
    """The same document re-encoded by hand in UBJSON (untyped containers,
    float64 numbers, int8 lengths) loads and gives the JSON model's answer."""
    doc = base_doc()

    def enc(v):
        if isinstance(v, dict):
            return b"{" + b"".join(ubj_string(k) + enc(x) for k, x in v.items()) + b"}"
        if isinstance(v, list):
            return b"[" + b"".join(enc(x) for x in v) + b"]"
        if isinstance(v, bool):
            return b"T" if v else b"F"
        if isinstance(v, int):
            return b"L" + struct.pack(">q", v)
        if isinstance(v, float):
            return b"D" + struct.pack(">d", v)
        if v is None:
            return b"Z"
        return b"S" + ubj_string(v)

    p = tmp_path / "model.ubj"
    p.write_bytes(enc(copy.deepcopy(doc)))
    meta, out, proc = run_case(BASE_CASE, tmp_path, model=str(p))
    assert proc.returncode == 0, describe(proc)
    compare(BASE_CASE, meta, out)
