"""End-to-end: the detection, sampling and spectral operators on attribute
combinations ONNX's backend cases leave out, through the real `axle` binary.

Run: .venv/bin/python -m pytest tests/e2e/test_ops_vision_signal.py   (after `make build`)

Each case is a one-node model built here with onnx.helper and random inputs
(fixed seeds). The reference is ONNX Runtime for GridSample (every mode x
padding x align_corners, float32 and float64), RoiAlign (avg/max, sampling
ratios, both coordinate modes, opsets 10 and 16), MaxRoiPool,
NonMaxSuppression (both box formats, with and without thresholds) and the
windows / MelWeightMatrix; numpy.fft (float64) for DFT and STFT, whose
lengths cover every FFT path (radix 4/2/3/5, a generic prime radix,
Bluestein for 97 and 4099), inverse, onesided, dft_length and complex
input. For every case

    axle run model.onnx --input x0=x0.npy ... --output-dir DIR
      -> exit 0; DIR/y0.npy equal to the reference within 1e-4 relative
         (1e-5 absolute; index outputs exactly)

Environment: AXLE_BIN (binary, default build/axle), AXLE_E2E_TIMEOUT.
"""

import os
import subprocess

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AXLE = os.environ.get("AXLE_BIN") or os.path.join(ROOT, "build", "axle")
TIMEOUT = float(os.environ.get("AXLE_E2E_TIMEOUT", "120"))
RTOL = 1e-4
ATOL = 1e-5


def _np_type(a):
    return onnx.mapping.NP_TYPE_TO_TENSOR_TYPE[a.dtype]


def _model(op, inputs, opset, attrs):
    names = ["x%d" % i if v is not None else "" for i, v in enumerate(inputs)]
    node = helper.make_node(op, names, ["y0"], **attrs)
    vi = [helper.make_tensor_value_info(n, _np_type(v), v.shape)
          for n, v in zip(names, inputs) if v is not None]
    graph = helper.make_graph([node], "g", vi, [onnx.ValueInfoProto(name="y0")])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m, {n: v for n, v in zip(names, inputs) if v is not None}


def _ort(m, feeds):
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, feeds)[0]


# --------------------------------------------------------------------------
# Cases: name -> (op, inputs, opset, attrs, reference function or None = ORT)
# --------------------------------------------------------------------------

def _cx(x):
    return x[..., 0] + 1j * x[..., 1] if x.shape[-1] == 2 else x[..., 0].astype(np.complex128)


def _ri(y):
    return np.stack([y.real, y.imag], -1)


def _dft_ref(axis, inverse=False, onesided=False):
    def f(x, length=None):
        n = int(length) if length is not None else None
        y = (np.fft.ifft if inverse else np.fft.fft)(_cx(x.astype(np.float64)), n=n, axis=axis)
        if onesided:
            y = np.take(y, range(y.shape[axis] // 2 + 1), axis=axis)
        return _ri(y).astype(x.dtype)
    return f


def _stft_ref(step, flen, onesided, window=None):
    def f(sig, *rest):
        s = _cx(sig.astype(np.float64))
        w = np.ones(flen) if window is None else window.astype(np.float64)
        frames = (s.shape[1] - flen) // step + 1
        y = np.stack([np.fft.fft(s[:, i * step:i * step + flen] * w, axis=1)
                      for i in range(frames)], 1)
        if onesided:
            y = y[:, :, :flen // 2 + 1]
        return _ri(y).astype(sig.dtype)
    return f


def _via_float32(op, attrs):
    """ONNX Runtime has no float64 GridSample: its float32 result, widened
    (the inputs are float32 values, so only rounding differs)."""
    def f(*inputs):
        m, feeds = _model(op, [v.astype(np.float32) for v in inputs], 16, attrs)
        return _ort(m, feeds).astype(np.float64)
    return f


def _cases():
    rng = np.random.default_rng(7)
    c = {}
    for dt in (np.float32, np.float64):
        x = rng.standard_normal((2, 3, 5, 7)).astype(np.float32).astype(dt)
        g = rng.uniform(-1.4, 1.4, (2, 4, 6, 2)).astype(np.float32).astype(dt)
        for mode in ("bilinear", "nearest", "bicubic"):
            for pad in ("zeros", "border", "reflection"):
                for ac in (0, 1):
                    attrs = dict(mode=mode, padding_mode=pad, align_corners=ac)
                    c["gridsample_%s_%s_ac%d_%s" % (mode, pad, ac, np.dtype(dt).name)] = (
                        "GridSample", [x, g], 16, attrs,
                        None if dt == np.float32 else _via_float32("GridSample", attrs))
    x = rng.standard_normal((2, 3, 12, 10)).astype(np.float32)
    rois = np.concatenate([rng.uniform(0, 6, (7, 2)), rng.uniform(4, 13, (7, 2))],
                          1).astype(np.float32)
    bidx = rng.integers(0, 2, 7).astype(np.int64)
    for mode in ("avg", "max"):
        for sr in (0, 2, 3):
            for ctm in ("half_pixel", "output_half_pixel"):
                c["roialign_%s_sr%d_%s" % (mode, sr, ctm)] = (
                    "RoiAlign", [x, rois, bidx], 16,
                    dict(mode=mode, sampling_ratio=sr, coordinate_transformation_mode=ctm,
                         output_height=3, output_width=4, spatial_scale=0.7), None)
            c["roialign10_%s_sr%d" % (mode, sr)] = (
                "RoiAlign", [x, rois, bidx], 10,
                dict(mode=mode, sampling_ratio=sr, output_height=2, output_width=5,
                     spatial_scale=1.3), None)
    rois5 = np.concatenate([bidx[:, None].astype(np.float32), rois], 1)
    c["maxroipool_3x2_scaled"] = ("MaxRoiPool", [x, rois5], 1,
                                  dict(pooled_shape=[3, 2], spatial_scale=0.8), None)
    c["maxroipool_4x4"] = ("MaxRoiPool", [x, rois5], 1, dict(pooled_shape=[4, 4]), None)
    boxes = rng.uniform(0, 10, (3, 40, 4)).astype(np.float32)
    scores = rng.uniform(0, 1, (3, 4, 40)).astype(np.float32)
    for cp in (0, 1):
        c["nms_thresholds_cp%d" % cp] = (
            "NonMaxSuppression",
            [boxes, scores, np.array([7], np.int64), np.array([0.3], np.float32),
             np.array([0.2], np.float32)], 11, dict(center_point_box=cp), None)
        c["nms_no_score_threshold_cp%d" % cp] = (
            "NonMaxSuppression",
            [boxes, scores, np.array([100], np.int64), np.array([0.5], np.float32)], 11,
            dict(center_point_box=cp), None)
    for n in (7, 16, 97, 100, 128, 134, 210):
        xr = rng.standard_normal((2, n, 3, 1)).astype(np.float32)
        xc = rng.standard_normal((2, n, 3, 2)).astype(np.float32)
        c["dft_real_%d" % n] = ("DFT", [xr], 17, dict(axis=1), _dft_ref(1))
        c["dft_complex_%d" % n] = ("DFT", [xc], 17, dict(axis=1), _dft_ref(1))
        c["dft_inverse_%d" % n] = ("DFT", [xc], 17, dict(axis=1, inverse=1),
                                   _dft_ref(1, inverse=True))
        c["dft_onesided_%d" % n] = ("DFT", [xr], 17, dict(axis=1, onesided=1),
                                    _dft_ref(1, onesided=True))
    xd = rng.standard_normal((2, 3, 20, 1))
    c["dft_axis2_f64"] = ("DFT", [xd], 17, dict(axis=2), _dft_ref(2))
    c["dft_negative_axis"] = ("DFT", [xd], 17, dict(axis=-2), _dft_ref(2))
    c["dft_length_pads"] = ("DFT", [xd, np.array(29, np.int64)], 17, dict(axis=2), _dft_ref(2))
    c["dft_length_truncates"] = ("DFT", [xd, np.array(13, np.int64)], 17, dict(axis=2),
                                 _dft_ref(2))
    c["dft_bluestein_4099"] = ("DFT", [rng.standard_normal((1, 4099, 1)).astype(np.float32)],
                               17, dict(axis=1), _dft_ref(1))
    sig = rng.standard_normal((2, 100, 1)).astype(np.float32)
    win = np.hanning(20).astype(np.float32)
    c["stft_twosided_window"] = ("STFT", [sig, np.array(7, np.int64), win], 17,
                                 dict(onesided=0), _stft_ref(7, 20, False, win))
    c["stft_window_and_length"] = (
        "STFT", [sig, np.array(5, np.int64), win, np.array(20, np.int64)], 17, {},
        _stft_ref(5, 20, True, win))
    sigc = rng.standard_normal((2, 100, 2)).astype(np.float32)
    c["stft_complex"] = ("STFT", [sigc, np.array(9, np.int64), None, np.array(17, np.int64)],
                         17, dict(onesided=0), _stft_ref(9, 17, False))
    for op in ("HannWindow", "HammingWindow", "BlackmanWindow"):
        for periodic in (0, 1):
            c["%s_periodic%d_f64" % (op.lower(), periodic)] = (
                op, [np.array(33, np.int64)], 17,
                dict(periodic=periodic, output_datatype=TensorProto.DOUBLE), None)
    c["melweightmatrix_speech"] = (
        "MelWeightMatrix",
        [np.array(20, np.int64), np.array(512, np.int64), np.array(16000, np.int64),
         np.array(100, np.float32), np.array(7000, np.float32)], 17, {}, None)
    return c


CASES = _cases()


@pytest.fixture(scope="session")
def axle_bin():
    if not (os.path.isfile(AXLE) and os.access(AXLE, os.X_OK)):
        pytest.fail("axle binary not found at %s: run `make build` or set AXLE_BIN" % AXLE)
    return AXLE


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_reference(name, axle_bin, tmp_path):
    op, inputs, opset, attrs, ref = CASES[name]
    m, feeds = _model(op, inputs, opset, attrs)
    want = ref(*[v for v in inputs if v is not None]) if ref is not None else _ort(m, feeds)
    path = tmp_path / "model.onnx"
    onnx.save(m, str(path))
    args = [axle_bin, "run", str(path), "--output-dir", str(tmp_path / "out")]
    for n, v in feeds.items():
        np.save(tmp_path / (n + ".npy"), v)
        args += ["--input", "%s=%s" % (n, tmp_path / (n + ".npy"))]
    proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=TIMEOUT)
    assert proc.returncode == 0, "exit %d\n%s\n%s" % (proc.returncode, proc.stdout[-2000:],
                                                      proc.stderr[-2000:])
    got = np.load(tmp_path / "out" / "y0.npy")
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    if np.issubdtype(want.dtype, np.integer):
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
