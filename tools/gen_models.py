#!/usr/bin/env python3
"""tools/gen_models.py OUTDIR - export real models to ONNX with reference outputs.

Run with .venv/bin/python (tools/deps.sh makes it): Debian's torch 1.13 and
torchvision 0.14 export the models, onnxruntime from PyPI gives the second
reference. Used by the end-to-end tests (tests/e2e/test_models.py) and the
engine benchmarks (bench/models.py). For every model NAME it writes

    OUTDIR/NAME/model.onnx
    OUTDIR/NAME/input_<i>.npy    one per graph input, batch 2 (iris: 2 real rows)
    OUTDIR/NAME/torch_<j>.npy    PyTorch's output j on those inputs
    OUTDIR/NAME/ort_<j>.npy      ONNX Runtime's output j on those inputs
    OUTDIR/NAME/b1/...           the same three kinds of file at batch 1
    OUTDIR/NAME/meta.json        names, shapes, opset, cases, versions
    OUTDIR/NAME/.stamp           written last; a model with a current stamp is skipped

Weights are random (torch.manual_seed(0) before each model is built), so the
same builder called from bench/models.py yields the same weights as the file.
Nothing is downloaded. Inputs come from numpy's RandomState(seed) and are
float32. The iris model's reference "torch" output is the same MatMul+Add+Softmax
evaluated by torch; meta.json also records its distance to sklearn's
predict_proba.

Options: --only a,b  generate only these models; --force  ignore stamps;
--list  print the model names and exit.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings

# Bump when a model definition, its inputs or the file layout changes: stamps
# written by another generation are stale and the model is regenerated.
GEN_VERSION = 5

# name -> (opset, one-line description). Order = generation order.
MODELS = {
    "mlp": (13, "MLP 784-512-512-10, ReLU (PERF.md G9)"),
    "iris": (13, "sklearn LogisticRegression on iris as MatMul+Add+Softmax (PERF.md G3)"),
    "mnist_cnn": (13, "conv-bn-relu-maxpool x2 + linear, 1x28x28"),
    "lstm": (13, "2-layer LSTM, input 32, hidden 64, batch_first, seq 16, + Linear"),
    "gru": (13, "2-layer GRU, input 32, hidden 64, batch_first, seq 16, + Linear; 2 outputs"),
    "resnet18": (13, "torchvision resnet18, 3x224x224 (PERF.md G9)"),
    "mobilenet_v2": (13, "torchvision mobilenet_v2, 3x224x224 (PERF.md G9)"),
    "encoder": (14, "nn.TransformerEncoder L4/H256/A4/FFN1024, GELU, seq 128 (PERF.md G9)"),
    "mlp_dram": (13, "MLP 1024-4096-4096-1024, ReLU: ~100 MB of weights, DRAM-bound at batch 1 (PERF.md G11)"),
}

MLP_PARAMS = 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10


# --------------------------------------------------------------------------
# Builders. Each returns a spec dict:
#   module        torch.nn.Module in eval() mode (None for iris)
#   input_names   [str], output_names [str]
#   make_inputs   fn(batch) -> [np.ndarray] (float32)
#   dynamic_axes  for torch.onnx.export
# They import torch lazily so that a run where every stamp is current costs
# no torch import (the e2e fixture calls this script every session).
# --------------------------------------------------------------------------

def _rand(seed, shape, scale=1.0):
    import numpy as np
    return (np.random.RandomState(seed).standard_normal(shape) * scale).astype(np.float32)


def _batch_axes(names, axis=0):
    return {n: {axis: "batch"} for n in names}


def build_mlp():
    import torch.nn as nn
    m = nn.Sequential(nn.Linear(784, 512), nn.ReLU(),
                      nn.Linear(512, 512), nn.ReLU(),
                      nn.Linear(512, 10))
    return dict(module=m, input_names=["input"], output_names=["logits"],
                make_inputs=lambda b: [_rand(100 + b, (b, 784))],
                dynamic_axes=_batch_axes(["input", "logits"]))


def build_mnist_cnn():
    import torch
    import torch.nn as nn
    m = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 10))
    # Non-trivial running statistics, so folding BatchNorm into the convolution
    # (or not) is actually tested; fresh ones are mean 0 / var 1.
    with torch.no_grad():
        for bn in (m[1], m[5]):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    # A TensorFlow-style output name: exercises the CLI's file-name sanitising
    # (DIR/<name with [^A-Za-z0-9._-] replaced by _>.npy).
    # PRESERVE (on an eval() module) skips the exporter's Conv+BatchNorm
    # folding, so this graph keeps its BatchNormalization nodes, as models
    # converted from other frameworks often do. The large CNNs are folded.
    return dict(module=m, input_names=["image"], output_names=["dense/logits:0"],
                make_inputs=lambda b: [_rand(200 + b, (b, 1, 28, 28))],
                dynamic_axes=_batch_axes(["image", "dense/logits:0"]),
                training=torch.onnx.TrainingMode.PRESERVE)


class _RNNHead:
    """Builds nn.Module classes lazily (torch imported only when needed)."""

    @staticmethod
    def lstm():
        import torch.nn as nn

        class LSTMClassifier(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.LSTM(32, 64, num_layers=2, batch_first=True)
                self.fc = nn.Linear(64, 10)

            def forward(self, x):
                y, _ = self.rnn(x)
                return self.fc(y[:, -1, :])
        return LSTMClassifier()

    @staticmethod
    def gru():
        import torch.nn as nn

        class GRUTagger(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.GRU(32, 64, num_layers=2, batch_first=True)
                self.fc = nn.Linear(64, 8)

            def forward(self, x):
                y, h = self.rnn(x)
                return self.fc(y), h
        return GRUTagger()


def build_lstm():
    return dict(module=_RNNHead.lstm(), input_names=["sequence"], output_names=["logits"],
                make_inputs=lambda b: [_rand(300 + b, (b, 16, 32))],
                dynamic_axes=_batch_axes(["sequence", "logits"]))


def build_gru():
    axes = _batch_axes(["sequence", "tags"])
    axes["h_n"] = {1: "batch"}  # (num_layers, batch, hidden)
    return dict(module=_RNNHead.gru(), input_names=["sequence"], output_names=["tags", "h_n"],
                make_inputs=lambda b: [_rand(400 + b, (b, 16, 32))],
                dynamic_axes=axes)


def _calibrate_batchnorm(m, shape, seed):
    """Give a randomly initialised CNN realistic BatchNorm statistics.

    torchvision's init leaves running_mean 0 / running_var 1, which does not
    match the activations: MobileNetV2's logits come out ~1e-9, far below any
    tolerance, so a wrong kernel would pass. One forward pass in training mode
    with momentum=None sets every running statistic to the batch statistics;
    random affine parameters make the folded scale/shift non-trivial.
    """
    import torch
    import torch.nn as nn
    for bn in m.modules():
        if isinstance(bn, nn.BatchNorm2d):
            bn.reset_running_stats()
            bn.momentum = None
            with torch.no_grad():
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.2, 0.2)
    m.train()
    with torch.no_grad():
        m(torch.from_numpy(_rand(seed, shape)))
    m.eval()
    return m


def build_mlp_dram():
    import torch.nn as nn
    m = nn.Sequential(nn.Linear(1024, 4096), nn.ReLU(),
                      nn.Linear(4096, 4096), nn.ReLU(),
                      nn.Linear(4096, 1024))
    return dict(module=m, input_names=["input"], output_names=["output"],
                make_inputs=lambda b: [_rand(800 + b, (b, 1024))],
                dynamic_axes=_batch_axes(["input", "output"]))


def build_resnet18():
    import torchvision
    m = _calibrate_batchnorm(torchvision.models.resnet18(), (4, 3, 224, 224), 510)
    return dict(module=m, input_names=["input"], output_names=["logits"],
                make_inputs=lambda b: [_rand(500 + b, (b, 3, 224, 224))],
                dynamic_axes=_batch_axes(["input", "logits"]))


def build_mobilenet_v2():
    import torchvision
    m = _calibrate_batchnorm(torchvision.models.mobilenet_v2(), (4, 3, 224, 224), 610)
    return dict(module=m, input_names=["input"], output_names=["logits"],
                make_inputs=lambda b: [_rand(600 + b, (b, 3, 224, 224))],
                dynamic_axes=_batch_axes(["input", "logits"]))


def build_encoder():
    import torch.nn as nn
    import torch
    m = nn.TransformerEncoder(
        nn.TransformerEncoderLayer(256, 4, 1024, batch_first=True, activation="gelu"), 4)
    # TransformerEncoder deep-copies one layer, so all four start identical (and
    # the exporter then stores one copy): a kernel that mixed up layers would
    # pass. Give each layer its own weights and non-trivial LayerNorm affines.
    with torch.no_grad():
        for name, p in m.named_parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
            elif "norm" in name and name.endswith("weight"):
                p.uniform_(0.8, 1.2)
            else:
                p.uniform_(-0.1, 0.1)
    return dict(module=m, input_names=["tokens"], output_names=["hidden"],
                make_inputs=lambda b: [_rand(700 + b, (b, 128, 256))],
                dynamic_axes=_batch_axes(["tokens", "hidden"]))


def build(name):
    """Return the spec of model NAME with its deterministic random weights.

    Public: bench/models.py calls this to time PyTorch on the very weights
    that were exported.
    """
    import torch
    torch.manual_seed(0)
    spec = globals()["build_" + name]()
    spec["module"].eval()
    spec["opset"] = MODELS[name][0]
    return spec


# --------------------------------------------------------------------------
# Iris: written directly with onnx.helper (no PyTorch module).
# --------------------------------------------------------------------------

def write_iris(tmp):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=1000).fit(X, y)
    W = clf.coef_.T.astype(np.float32)          # (4, 3)
    b = clf.intercept_.astype(np.float32)        # (3,)

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input", "coef"], ["scores"], name="matmul"),
         helper.make_node("Add", ["scores", "intercept"], ["logits"], name="add"),
         helper.make_node("Softmax", ["logits"], ["probabilities"], name="softmax", axis=1)],
        "iris_logreg",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 3])],
        initializer=[numpy_helper.from_array(W, "coef"),
                     numpy_helper.from_array(b, "intercept")])
    model = helper.make_model(graph, producer_name="axle-gen_models",
                              producer_version=str(GEN_VERSION),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7  # what onnx 1.12 writes for opset 13; readable by any runtime
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(tmp, "model.onnx"))

    # Real iris rows: one of each class at batch 2 would need 3, so take
    # setosa + virginica for batch 2 and versicolor for batch 1.
    rows = {2: X[[0, 100]], 1: X[[50]]}
    sk_dist = 0.0
    for batch, xb in rows.items():
        sk_dist = max(sk_dist, float(np.abs(clf.predict_proba(xb) - _iris_torch(xb, W, b)).max()))

    spec = dict(module=None, input_names=["input"], output_names=["probabilities"],
                make_inputs=lambda b_: [rows[b_].astype(np.float32)], opset=13,
                torch_fn=lambda xs: [_iris_torch(xs[0], W, b)])
    return spec, {"reference_note": "torch_*.npy = softmax(x @ coef + intercept) in torch; "
                                    "sklearn predict_proba distance recorded",
                  "sklearn_max_abs_diff": sk_dist}


def _iris_torch(x, W, b):
    import numpy as np
    import torch
    t = torch.from_numpy(np.asarray(x, np.float32)) @ torch.from_numpy(W) + torch.from_numpy(b)
    return torch.softmax(t, dim=1).numpy()


# --------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------

def _stamp_text():
    # Versions that change the files: the generator, torch (exporter), onnxruntime.
    from importlib.metadata import version
    parts = ["gen %d" % GEN_VERSION]
    for pkg in ("torch", "onnxruntime"):
        try:
            parts.append("%s %s" % (pkg, version(pkg)))
        except Exception:  # Debian's torch has no dist-info in some builds
            parts.append("%s ?" % pkg)
    return "\n".join(parts) + "\n"


def _torch_outputs(spec, inputs):
    import torch
    if spec.get("torch_fn"):
        return spec["torch_fn"](inputs)
    with torch.no_grad():
        out = spec["module"](*[torch.from_numpy(x) for x in inputs])
    if not isinstance(out, (tuple, list)):
        out = (out,)
    return [o.detach().numpy().astype("float32") for o in out]


def _ort_session(path):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def _export(spec, path):
    import torch
    example = tuple(torch.from_numpy(x) for x in spec["make_inputs"](2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(spec["module"], example, path,
                          input_names=spec["input_names"],
                          output_names=spec["output_names"],
                          dynamic_axes=spec["dynamic_axes"],
                          opset_version=spec["opset"],
                          do_constant_folding=True,
                          training=spec.get("training", torch.onnx.TrainingMode.EVAL))


def _op_histogram(model):
    hist = {}
    for node in model.graph.node:
        hist[node.op_type] = hist.get(node.op_type, 0) + 1
    return dict(sorted(hist.items()))


def _constant_elems(model):
    """Elements held in Constant nodes' value tensors (shape scalars, masks)."""
    import numpy as np
    n = 0
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    n += int(np.prod(a.t.dims))
    return n


def generate(name, outdir):
    """Generate one model into outdir/name atomically (temp dir + rename)."""
    import numpy as np
    import onnx

    final = os.path.join(outdir, name)
    tmp = tempfile.mkdtemp(prefix=".%s." % name, dir=outdir)
    try:
        extra = {}
        if name == "iris":
            spec, extra = write_iris(tmp)
        else:
            spec = build(name)
            _export(spec, os.path.join(tmp, "model.onnx"))
        model_path = os.path.join(tmp, "model.onnx")
        sess = _ort_session(model_path)
        ort_in = [i.name for i in sess.get_inputs()]
        ort_out = [o.name for o in sess.get_outputs()]
        if ort_in != spec["input_names"] or ort_out != spec["output_names"]:
            raise RuntimeError("%s: exported names %s -> %s, expected %s -> %s" % (
                name, ort_in, ort_out, spec["input_names"], spec["output_names"]))

        cases = []
        worst = 0.0
        for batch, sub in ((2, "."), (1, "b1")):
            d = os.path.join(tmp, sub)
            os.makedirs(d, exist_ok=True)
            inputs = spec["make_inputs"](batch)
            t_out = _torch_outputs(spec, inputs)
            o_out = sess.run(None, dict(zip(spec["input_names"], inputs)))
            for i, x in enumerate(inputs):
                np.save(os.path.join(d, "input_%d.npy" % i), x)
            for j, (t, o) in enumerate(zip(t_out, o_out)):
                if t.shape != o.shape:
                    raise RuntimeError("%s b%d output %d: torch %s vs ort %s" % (
                        name, batch, j, t.shape, o.shape))
                np.save(os.path.join(d, "torch_%d.npy" % j), t)
                np.save(os.path.join(d, "ort_%d.npy" % j), o.astype(np.float32))
                scale = max(1.0, float(np.abs(t).max()))
                worst = max(worst, float(np.abs(t - o).max()) / scale)
            cases.append({"dir": sub, "batch": batch,
                          "inputs": [list(x.shape) for x in inputs],
                          "outputs": [list(t.shape) for t in t_out]})
        # The two references must agree far inside the tests' tolerance
        # (1e-4 relative), or the tests would be judging noise.
        if worst > 2e-5:
            raise RuntimeError("%s: torch and onnxruntime disagree (%.3g relative)" % (name, worst))

        m = onnx.load(model_path)
        meta = {
            "name": name,
            "description": MODELS[name][1],
            "opset": next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx")),
            "ir_version": m.ir_version,
            "producer": "%s %s" % (m.producer_name, m.producer_version),
            "inputs": [{"name": n, "shape": s, "dtype": "float32"}
                       for n, s in zip(spec["input_names"], cases[0]["inputs"])],
            "outputs": [{"name": n, "shape": s, "dtype": "float32"}
                        for n, s in zip(spec["output_names"], cases[0]["outputs"])],
            "cases": cases,
            # Trainable parameters of the source model (iris: coef + intercept),
            # and elements stored as initializers (differs after BN folding).
            "params": (sum(p.numel() for p in spec["module"].parameters())
                       if spec.get("module") is not None else
                       sum(int(np.prod(t.dims)) for t in m.graph.initializer)),
            "initializer_elems": sum(int(np.prod(t.dims)) for t in m.graph.initializer),
            "constant_elems": _constant_elems(m),
            "ops": _op_histogram(m),
            "torch_vs_ort_max_rel": worst,
            "gen_version": GEN_VERSION,
        }
        meta.update(extra)
        if name == "mlp" and meta["params"] != MLP_PARAMS:
            raise RuntimeError("mlp: %d params, expected %d" % (meta["params"], MLP_PARAMS))
        with open(os.path.join(tmp, "meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
            f.write("\n")
        with open(os.path.join(tmp, ".stamp"), "w") as f:
            f.write(_stamp_text())
        if os.path.exists(final):
            shutil.rmtree(final)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", nargs="?", default=os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "models"))
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--force", action="store_true", help="regenerate even if stamped")
    ap.add_argument("--list", action="store_true", help="print model names and exit")
    args = ap.parse_args(argv)

    if args.list:
        for n, (opset, desc) in MODELS.items():
            print("%-13s opset %-2d %s" % (n, opset, desc))
        return 0
    names = [n for n in args.only.split(",") if n] or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        ap.error("unknown model(s): %s (known: %s)" % (", ".join(unknown), ", ".join(MODELS)))

    os.makedirs(args.outdir, exist_ok=True)
    stamp = _stamp_text()
    todo = []
    for n in names:
        try:
            with open(os.path.join(args.outdir, n, ".stamp")) as f:
                current = f.read() == stamp
        except OSError:
            current = False
        if current and not args.force:
            print("gen_models: %-13s up to date" % n)
        else:
            todo.append(n)
    if not todo:
        return 0

    t_all = time.perf_counter()
    import torch
    torch.set_num_threads(min(2, os.cpu_count() or 1))
    for n in todo:
        t0 = time.perf_counter()
        generate(n, args.outdir)
        print("gen_models: %-13s %.1f s" % (n, time.perf_counter() - t0), flush=True)
    print("gen_models: %d model(s) in %.1f s -> %s" % (
        len(todo), time.perf_counter() - t_all, args.outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
