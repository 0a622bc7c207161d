"""Bad model files through the CLI: a clear message and exit status 2, never a
crash (SECURITY.md M1-M5, the issue's bad-input list). Models are built with
Debian's python3-onnx helper API, so each case is exactly the defect named."""

import os
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AXLE = os.environ.get("AXLE_BIN", os.path.join(ROOT, "build", "axle"))


def run_axle(*args):
    return subprocess.run([AXLE, *args], capture_output=True, text=True, timeout=120)


def save(tmp_path, model, name="model.onnx", check=False):
    path = tmp_path / name
    if check:
        onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return str(path)


def graph_model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


X = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)


def expect_load_error(path, *needles):
    r = run_axle("inspect", path)
    assert r.returncode == 2, (r.returncode, r.stderr)
    for n in needles:
        assert n in r.stderr, r.stderr
    assert "Sanitizer" not in r.stderr
    return r


def test_unknown_operator_names_op_domain_opset_and_node(tmp_path):
    m = graph_model([helper.make_node("NoSuchOp", ["x"], ["y"], name="weird1")], [X], [Y])
    expect_load_error(save(tmp_path, m), "NoSuchOp", "ai.onnx", "opset 13", "weird1")


def test_custom_domain_is_refused(tmp_path):
    n = helper.make_node("Relu", ["x"], ["y"], name="r", domain="com.example")
    m = graph_model([n], [X], [Y])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    expect_load_error(save(tmp_path, m), "com.example")


def test_cyclic_graph_is_refused(tmp_path):
    nodes = [
        helper.make_node("Add", ["x", "c"], ["b"], name="a"),
        helper.make_node("Relu", ["b"], ["c"], name="r"),
        helper.make_node("Identity", ["c"], ["y"], name="i"),
    ]
    expect_load_error(save(tmp_path, graph_model(nodes, [X], [Y])), "cycle")


def test_missing_initializer_is_refused(tmp_path):
    m = graph_model([helper.make_node("Add", ["x", "w"], ["y"], name="a")], [X], [Y])
    expect_load_error(save(tmp_path, m), "undefined value 'w'")


def test_initializer_with_wrong_raw_size_is_refused(tmp_path):
    w = numpy_helper.from_array(np.ones(4, np.float32), "w")
    w.raw_data = w.raw_data[:8]
    m = graph_model([helper.make_node("Add", ["x", "w"], ["y"], name="a")], [X], [Y], [w])
    expect_load_error(save(tmp_path, m), "initializer size mismatch")


def test_absurd_declared_dims_are_refused_without_allocating(tmp_path):
    w = TensorProto()
    w.name, w.data_type, w.raw_data = "w", TensorProto.FLOAT, b"\0" * 16
    w.dims.extend([1 << 40, 1 << 40])
    m = graph_model([helper.make_node("Add", ["x", "w"], ["y"], name="a")], [X], [Y], [w])
    r = expect_load_error(save(tmp_path, m), "too large")
    assert "out of memory" not in r.stderr


def test_wrong_magic_and_truncated_files(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(64))
    expect_load_error(str(junk), "malformed protobuf")
    m = graph_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [X], [Y])
    full = m.SerializeToString()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(full[: len(full) // 2])
    expect_load_error(str(cut), "malformed protobuf")
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    expect_load_error(str(empty), "empty")


def test_directory_is_not_a_model(tmp_path):
    expect_load_error(str(tmp_path), "not a regular file")


def test_deeply_nested_protobuf_is_refused(tmp_path):
    # An attribute graph inside an attribute graph ... 100 deep: the pre-scan
    # stops at its nesting limit before protobuf-c recurses.
    inner = helper.make_graph([], "g0", [], [])
    leaf = helper.make_graph([], "leaf", [], [])
    for i in range(100):
        node = helper.make_node("If", ["c"], [], then_branch=inner, else_branch=leaf)
        inner = helper.make_graph([node], "g%d" % (i + 1), [], [])
    m = helper.make_model(inner, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "deep.onnx"
    path.write_bytes(m.SerializeToString())
    expect_load_error(str(path), "nesting too deep")


@pytest.mark.parametrize("loc", ["../../etc/passwd", "/etc/passwd", "sub/../../x", "a\\b"])
def test_external_data_outside_the_model_directory_is_refused(tmp_path, loc):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4], np.ones(4, np.float32).tobytes(), raw=True)
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    e = w.external_data.add()
    e.key, e.value = "location", loc
    m = graph_model([helper.make_node("Add", ["x", "w"], ["y"], name="a")], [X], [Y], [w])
    expect_load_error(save(tmp_path, m), "invalid external data location")


def test_external_data_symlink_is_refused_and_plain_file_is_read(tmp_path):
    data = np.arange(4, dtype=np.float32)
    (tmp_path / "weights.bin").write_bytes(data.tobytes())
    os.symlink("/etc/hostname", tmp_path / "link.bin")

    def model_with(location):
        w = helper.make_tensor("w", TensorProto.FLOAT, [4], data.tobytes(), raw=True)
        w.ClearField("raw_data")
        w.data_location = TensorProto.EXTERNAL
        e = w.external_data.add()
        e.key, e.value = "location", location
        return graph_model([helper.make_node("Add", ["x", "w"], ["y"], name="a")], [X], [Y], [w])

    expect_load_error(save(tmp_path, model_with("link.bin"), "m1.onnx"), "invalid external data location")
    good = save(tmp_path, model_with("weights.bin"), "m2.onnx")
    x = np.ones((1, 4), np.float32)
    np.save(tmp_path / "x.npy", x)
    r = run_axle("run", good, "--input", str(tmp_path / "x.npy"), "--output-dir", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "y.npy"), x + data)


def test_wrong_input_dtype_names_input_expected_and_got(tmp_path):
    m = graph_model([helper.make_node("Relu", ["x"], ["y"], name="r")], [X], [Y])
    path = save(tmp_path, m)
    np.save(tmp_path / "x.npy", np.ones((2, 4), np.int32))
    r = run_axle("run", path, "--input", "x=" + str(tmp_path / "x.npy"))
    assert r.returncode == 2
    assert "input 'x'" in r.stderr and "float32" in r.stderr and "int32" in r.stderr
