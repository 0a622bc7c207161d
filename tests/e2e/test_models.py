"""End-to-end: the real `axle` binary runs real exported models.

Run: .venv/bin/python -m pytest tests/e2e            (after `make build`)
     AXLE_BIN=build-asan/axle .venv/bin/python -m pytest tests/e2e   (sanitizer build)

A session fixture runs tools/gen_models.py into build/models (cached by stamps,
~5 s the first time), which exports each model with PyTorch and stores inputs
plus two references: PyTorch's and ONNX Runtime's outputs. For every model and
batch size the CLI contract is

    axle run MODEL --input NAME=FILE.npy ... --output-dir DIR
      -> exit 0; DIR/<output name, [^A-Za-z0-9._-] replaced by _>.npy
      -> exit 2 and a message naming the problem on bad input

and its outputs must be within 1e-4 x max(1, max|ref|) of both references.
`axle inspect MODEL --json` must describe the file (names, ops, params).

Environment: AXLE_BIN (binary, default build/axle), AXLE_MODELS_DIR (default
build/models), AXLE_E2E_MODELS (comma-separated subset, e.g. for a slow
sanitizer build), AXLE_E2E_TIMEOUT (seconds per CLI call, default 300).
"""

import importlib.util
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AXLE = os.environ.get("AXLE_BIN") or os.path.join(ROOT, "build", "axle")
MODELS_DIR = os.environ.get("AXLE_MODELS_DIR") or os.path.join(ROOT, "build", "models")
TIMEOUT = float(os.environ.get("AXLE_E2E_TIMEOUT", "300"))
RTOL = 1e-4  # PERF.md §3.14: ONNX models agree to 1e-4 relative


def _load_generator():
    path = os.path.join(ROOT, "tools", "gen_models.py")
    spec = importlib.util.spec_from_file_location("gen_models", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # cheap: torch is imported lazily
    return mod


GEN = _load_generator()
MODEL_NAMES = [n for n in os.environ.get("AXLE_E2E_MODELS", "").split(",") if n] or list(GEN.MODELS)
CASES = [(".", "b2"), ("b1", "b1")]


def sanitize(name):
    """File name the CLI uses for an output tensor."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def axle(*args, timeout=TIMEOUT):
    return subprocess.run([AXLE, *args], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def describe(proc):
    return "exit %d\n--- stdout\n%s\n--- stderr\n%s" % (
        proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:])


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def axle_bin():
    # Not a skip: a missing binary in `make test` is a broken build, and a
    # suite that silently skips cannot fail.
    if not (os.path.isfile(AXLE) and os.access(AXLE, os.X_OK)):
        pytest.fail("axle binary not found at %s: run `make build` or set AXLE_BIN" % AXLE)
    return AXLE


@pytest.fixture(scope="session")
def models_dir():
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "gen_models.py"),
                           MODELS_DIR, "--only", ",".join(MODEL_NAMES)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=600)
    if proc.returncode != 0:
        pytest.fail("tools/gen_models.py failed:\n" + describe(proc))
    return MODELS_DIR


def load_meta(models_dir, name):
    with open(os.path.join(models_dir, name, "meta.json")) as f:
        return json.load(f)


def input_args(model_dir, meta, sub="."):
    args = []
    for i, inp in enumerate(meta["inputs"]):
        args += ["--input", "%s=%s" % (inp["name"], os.path.join(model_dir, sub, "input_%d.npy" % i))]
    return args


# --------------------------------------------------------------------------
# Numerical agreement with PyTorch and ONNX Runtime
# --------------------------------------------------------------------------

@pytest.mark.parametrize("sub,case", CASES, ids=[c for _, c in CASES])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_run_matches_torch_and_onnxruntime(axle_bin, models_dir, tmp_path, name, sub, case):
    mdir = os.path.join(models_dir, name)
    meta = load_meta(models_dir, name)
    out = tmp_path / "out"
    proc = axle("run", os.path.join(mdir, "model.onnx"), *input_args(mdir, meta, sub),
                "--output-dir", str(out))
    assert proc.returncode == 0, describe(proc)

    for j, o in enumerate(meta["outputs"]):
        path = out / (sanitize(o["name"]) + ".npy")
        assert path.is_file(), "output %r not written as %s; dir has %s" % (
            o["name"], path.name, sorted(p.name for p in out.iterdir()) if out.exists() else None)
        got = np.load(path)
        assert got.dtype == np.float32, "%s: dtype %s" % (o["name"], got.dtype)
        for ref_kind in ("torch", "ort"):
            ref = np.load(os.path.join(mdir, sub, "%s_%d.npy" % (ref_kind, j)))
            assert got.shape == ref.shape, "%s: shape %s, %s has %s" % (
                o["name"], got.shape, ref_kind, ref.shape)
            assert np.all(np.isfinite(got)), "%s: non-finite values" % o["name"]
            err = float(np.abs(got.astype(np.float64) - ref).max())
            tol = RTOL * max(1.0, float(np.abs(ref).max()))
            assert err <= tol, "%s %s output %r: max abs error %.3g > %.3g vs %s" % (
                name, case, o["name"], err, tol, ref_kind)


# --------------------------------------------------------------------------
# Bad input: exit status 2 and a message that names the problem
# --------------------------------------------------------------------------

def test_run_rejects_truncated_model_with_exit_2(axle_bin, models_dir, tmp_path):
    for name in ("mlp", "mnist_cnn"):
        src = os.path.join(models_dir, name, "model.onnx")
        if not os.path.exists(src):
            continue
        data = open(src, "rb").read()
        bad = tmp_path / ("%s-half.onnx" % name)
        bad.write_bytes(data[: len(data) // 2])
        meta = load_meta(models_dir, name)
        proc = axle("run", str(bad), *input_args(os.path.join(models_dir, name), meta),
                    "--output-dir", str(tmp_path / "out"))
        assert proc.returncode == 2, describe(proc)
        assert re.search(r"malformed|truncated", proc.stderr, re.I), describe(proc)


def test_inspect_rejects_truncated_model_with_exit_2(axle_bin, models_dir, tmp_path):
    data = open(os.path.join(models_dir, "mlp", "model.onnx"), "rb").read()
    bad = tmp_path / "half.onnx"
    bad.write_bytes(data[: len(data) // 2])
    proc = axle("inspect", str(bad), "--json")
    assert proc.returncode == 2, describe(proc)
    assert re.search(r"malformed|truncated", proc.stderr, re.I), describe(proc)


def test_run_rejects_garbage_model_with_exit_2(axle_bin, models_dir, tmp_path):
    bad = tmp_path / "garbage.onnx"
    bad.write_bytes(bytes(range(256)) * 64)
    meta = load_meta(models_dir, "mlp")
    proc = axle("run", str(bad), *input_args(os.path.join(models_dir, "mlp"), meta),
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    assert proc.stderr.strip(), "no message on stderr"


def test_run_rejects_missing_model_file_with_exit_2(axle_bin, models_dir, tmp_path):
    missing = tmp_path / "no-such-model.onnx"
    meta = load_meta(models_dir, "mlp")
    proc = axle("run", str(missing), *input_args(os.path.join(models_dir, "mlp"), meta),
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    assert "no-such-model.onnx" in proc.stderr, describe(proc)


def test_run_rejects_input_of_wrong_shape_naming_it(axle_bin, models_dir, tmp_path):
    mdir = os.path.join(models_dir, "mlp")
    meta = load_meta(models_dir, "mlp")
    name = meta["inputs"][0]["name"]
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 783), np.float32))  # model wants (batch, 784)
    proc = axle("run", os.path.join(mdir, "model.onnx"), "--input", "%s=%s" % (name, wrong),
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    assert name in proc.stderr, describe(proc)


def test_run_rejects_input_of_wrong_rank_naming_it(axle_bin, models_dir, tmp_path):
    mdir = os.path.join(models_dir, "mnist_cnn")
    meta = load_meta(models_dir, "mnist_cnn")
    name = meta["inputs"][0]["name"]
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((2, 28, 28), np.float32))  # model wants (batch, 1, 28, 28)
    proc = axle("run", os.path.join(mdir, "model.onnx"), "--input", "%s=%s" % (name, wrong),
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    assert name in proc.stderr, describe(proc)


def test_run_rejects_unknown_input_name_with_exit_2(axle_bin, models_dir, tmp_path):
    mdir = os.path.join(models_dir, "mlp")
    proc = axle("run", os.path.join(mdir, "model.onnx"),
                "--input", "not_an_input=%s" % os.path.join(mdir, "input_0.npy"),
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    assert "not_an_input" in proc.stderr, describe(proc)


def test_run_rejects_missing_input_naming_it(axle_bin, models_dir, tmp_path):
    # The GRU and LSTM models have one input; iris too. Use the MLP with no --input.
    mdir = os.path.join(models_dir, "mlp")
    meta = load_meta(models_dir, "mlp")
    proc = axle("run", os.path.join(mdir, "model.onnx"), "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    assert meta["inputs"][0]["name"] in proc.stderr, describe(proc)


def test_run_rejects_input_file_that_is_not_npy(axle_bin, models_dir, tmp_path):
    mdir = os.path.join(models_dir, "mlp")
    meta = load_meta(models_dir, "mlp")
    bad = tmp_path / "not.npy"
    bad.write_bytes(b"this is not a numpy file\n" * 10)
    proc = axle("run", os.path.join(mdir, "model.onnx"),
                "--input", "%s=%s" % (meta["inputs"][0]["name"], bad),
                "--output-dir", str(tmp_path / "out"))
    assert proc.returncode == 2, describe(proc)
    assert proc.stderr.strip(), "no message on stderr"


def test_run_rejects_unknown_option_with_exit_2(axle_bin, models_dir, tmp_path):
    proc = axle("run", os.path.join(models_dir, "mlp", "model.onnx"), "--no-such-option")
    assert proc.returncode == 2, describe(proc)
    assert "--no-such-option" in proc.stderr, describe(proc)


# --------------------------------------------------------------------------
# Per-node timing: axle run --node-times
# --------------------------------------------------------------------------

NODE_ROW = re.compile(r"^\s*(\d+) (\S+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)%\s+(\S+)\s*(.*)$")


def parse_node_times(stdout):
    head = re.search(r"^node_times runs=(\d+) nodes=(\d+) sum_p50_us=([\d.]+)$", stdout, re.M)
    assert head, "no node_times header in:\n" + stdout
    lines = stdout[head.end():].strip().splitlines()
    rows = [NODE_ROW.match(l) for l in lines[1:int(head.group(2)) + 1]]
    assert all(rows), "malformed node rows:\n" + "\n".join(lines)
    return int(head.group(1)), float(head.group(3)), rows, lines[int(head.group(2)) + 1:]


# b2 at two threads runs the convolutions image by image (the depth-first
# prefix), b1 node by node: both paths must time every node.
@pytest.mark.parametrize("sub", [".", "b1"], ids=["b2", "b1"])
def test_run_node_times_covers_every_node_of_the_optimized_graph(axle_bin, models_dir, sub):
    mdir = os.path.join(models_dir, "mnist_cnn")
    meta = load_meta(models_dir, "mnist_cnn")
    import onnx
    src_ops = {n.op_type for n in onnx.load(os.path.join(mdir, "model.onnx")).graph.node}
    proc = axle("run", os.path.join(mdir, "model.onnx"), *input_args(mdir, meta, sub),
                "--repeat", "7", "--threads", "2", "--node-times")
    assert proc.returncode == 0, describe(proc)
    runs, total, rows, by_op = parse_node_times(proc.stdout)
    assert runs == 7, proc.stdout
    assert rows, proc.stdout
    assert [int(r.group(1)) for r in rows] == list(range(len(rows))), proc.stdout
    ops = [r.group(2).split("+") for r in rows]
    # Every node is one of the model's operators, possibly with a fused
    # activation that was a node of its own in the file.
    for parts in ops:
        assert set(parts) <= src_ops, "%s not in the model's ops %s" % (parts, src_ops)
    assert any(p[0] == "Conv" for p in ops), proc.stdout
    for r in rows:
        p50, mn = float(r.group(3)), float(r.group(4))
        assert 0 <= mn <= p50, r.group(0)
        # a view (Flatten, Reshape) may print as 0.0 us; a convolution
        # of this model takes microseconds
        if r.group(2).startswith("Conv"):
            assert mn > 0, r.group(0)
    assert abs(sum(float(r.group(3)) for r in rows) - total) < 0.01 * total + 0.5, proc.stdout
    assert abs(sum(float(r.group(5)) for r in rows) - 100.0) < 1.0, proc.stdout
    # The output column is each node's first output's shape.
    assert rows[0].group(6).startswith("float32[%d," % (2 if sub == "." else 1)), rows[0].group(0)
    # Per operator: every label once, node counts adding up.
    agg = [l.split() for l in by_op[1:]]
    assert sorted(a[0] for a in agg) == sorted({r.group(2) for r in rows}), proc.stdout
    assert sum(int(a[1]) for a in agg) == len(rows), proc.stdout


def test_run_node_times_rejects_more_samples_than_it_keeps(axle_bin, models_dir):
    mdir = os.path.join(models_dir, "mlp")
    meta = load_meta(models_dir, "mlp")
    proc = axle("run", os.path.join(mdir, "model.onnx"), *input_args(mdir, meta),
                "--repeat", "10000000", "--node-times")
    assert proc.returncode == 2, describe(proc)
    assert "--node-times" in proc.stderr, describe(proc)


# --------------------------------------------------------------------------
# Help and version
# --------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["--version"], ["run", "--help"], ["inspect", "--help"]],
                         ids=["help", "version", "run-help", "inspect-help"])
def test_cli_help_and_version_exit_0(axle_bin, args):
    proc = axle(*args, timeout=30)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.strip(), "nothing printed on stdout"
    if args == ["--version"]:
        assert re.search(r"\d+\.\d+", proc.stdout), proc.stdout
    elif args[0] in ("run", "inspect"):
        assert args[0] in proc.stdout, "help for %s does not mention it:\n%s" % (args[0], proc.stdout)


def test_cli_without_arguments_is_a_usage_error(axle_bin):
    proc = axle(timeout=30)
    assert proc.returncode == 2, describe(proc)
    assert proc.stderr.strip(), "no usage message on stderr"


# --------------------------------------------------------------------------
# inspect
# --------------------------------------------------------------------------

INSPECT_KEYS = ("format", "producer", "opsets", "inputs", "outputs", "ops",
                "params", "param_bytes", "flops")


def _names(entries):
    """Input/output names from the inspect JSON: a list of {"name": ...} or of names."""
    return [e["name"] if isinstance(e, dict) else e for e in entries]


def _opset_versions(opsets):
    """Default-domain opset version(s) from whichever shape inspect uses:
    {"": 13} / {"ai.onnx": 13} / [{"domain": "", "version": 13}] / [13]."""
    if isinstance(opsets, dict):
        return [v for k, v in opsets.items() if k in ("", "ai.onnx", "onnx", "default")]
    out = []
    for o in opsets:
        if isinstance(o, dict):
            if o.get("domain", "") in ("", "ai.onnx"):
                out.append(o.get("version"))
        else:
            out.append(o)
    return out


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_inspect_json_describes_model(axle_bin, models_dir, name):
    meta = load_meta(models_dir, name)
    proc = axle("inspect", os.path.join(models_dir, name, "model.onnx"), "--json", timeout=60)
    assert proc.returncode == 0, describe(proc)
    try:
        info = json.loads(proc.stdout)
    except ValueError as e:
        pytest.fail("inspect --json did not print JSON (%s):\n%s" % (e, proc.stdout[:2000]))
    missing = [k for k in INSPECT_KEYS if k not in info]
    assert not missing, "missing keys %s in %s" % (missing, sorted(info))

    assert str(info["format"]).lower() == "onnx"
    expected_producer = "axle-gen_models" if name == "iris" else "pytorch"
    assert expected_producer in str(info["producer"]).lower()
    assert meta["opset"] in _opset_versions(info["opsets"]), info["opsets"]
    assert _names(info["inputs"]) == [i["name"] for i in meta["inputs"]]
    assert _names(info["outputs"]) == [o["name"] for o in meta["outputs"]]
    assert info["ops"] == meta["ops"], "op histogram differs from the file's"
    # params = elements stored in initializers (what a reader of the file sees),
    # optionally plus those in Constant nodes (a few shape scalars at most).
    allowed = {meta["initializer_elems"], meta["initializer_elems"] + meta["constant_elems"]}
    assert info["params"] in allowed, (info["params"], sorted(allowed))
    assert info["param_bytes"] >= 4 * meta["initializer_elems"]  # float32 weights
    assert info["param_bytes"] <= 4 * meta["initializer_elems"] + 8 * meta["constant_elems"]
    # null when the estimate is unavailable (e.g. shapes known only at run time).
    assert info["flops"] is None or (isinstance(info["flops"], (int, float)) and info["flops"] >= 0)


def test_inspect_json_counts_mlp_parameters_and_flops(axle_bin, models_dir):
    proc = axle("inspect", os.path.join(models_dir, "mlp", "model.onnx"), "--json", timeout=60)
    assert proc.returncode == 0, describe(proc)
    info = json.loads(proc.stdout)
    assert info["params"] == 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
    assert info["param_bytes"] == 4 * info["params"]
    # Per sample (batch 1): 2 FLOP per multiply-add = 1.34 MFLOP (PERF.md §1.1);
    # counting bias adds and ReLUs as well moves it by < 0.2 %.
    macs = 784 * 512 + 512 * 512 + 512 * 10
    assert 2 * macs <= info["flops"] <= 2 * macs * 1.01, info["flops"]
    assert info["ops"] == {"Gemm": 3, "Relu": 2}


def test_inspect_ops_lists_each_implemented_operator_once(axle_bin):
    proc = axle("inspect", "--ops")
    assert proc.returncode == 0, describe(proc)
    rows = [tuple(line.split("\t")) for line in proc.stdout.splitlines()]
    assert all(len(r) == 2 and r[0] and r[1] for r in rows), proc.stdout[:2000]
    assert len(rows) == len(set(rows)), "an operator is listed twice"
    for want in [("ai.onnx", "Conv"), ("ai.onnx", "LSTM"), ("ai.onnx.ml", "TreeEnsembleClassifier"),
                 ("ai.axle", "Forest")]:
        assert want in rows, "%s missing from `axle inspect --ops`" % (want,)
    # --ops takes no model.
    proc = axle("inspect", "--ops", "model.onnx")
    assert proc.returncode == 2, describe(proc)
