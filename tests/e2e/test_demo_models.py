"""The example repository `make demo` serves (examples/models): every model
loads and answers, and the XGBoost iris classifier gives what XGBoost's own
predict_proba gave when tools/gen_example_xgboost.py trained it.

Environment: AXLE_BIN (binary, default build/axle).
"""
import json
import os

import numpy as np

from serve_util import EXAMPLES, Server, request, v2_json

XGB_DIR = os.path.join(EXAMPLES, "iris_xgboost")


def test_demo_repository_serves_all_examples(tmp_path):
    with Server(EXAMPLES, tmpdir=tmp_path) as srv:
        for name in ("iris", "mnist_cnn", "iris_xgboost"):
            m = request(srv.port, "GET", "/v2/models/%s/ready" % name)
            assert m.status == 200, (name, m)


def test_xgboost_example_matches_xgboost(tmp_path):
    x = np.load(os.path.join(XGB_DIR, "input.npy"))
    want = np.load(os.path.join(XGB_DIR, "expected_probabilities.npy"))
    with Server(EXAMPLES, tmpdir=tmp_path) as srv:
        meta = request(srv.port, "GET", "/v2/models/iris_xgboost").json()
        assert meta["platform"] == "xgboost_json", meta
        assert [i["name"] for i in meta["inputs"]] == ["input"], meta
        body = v2_json([{"name": "input", "shape": list(x.shape), "datatype": "FP32",
                         "data": x.ravel().tolist()}])
        r = request(srv.port, "POST", "/v2/models/iris_xgboost/infer", body=body)
        assert r.status == 200, r
        outs = {o["name"]: o for o in r.json()["outputs"]}
        got = np.asarray(outs["probabilities"]["data"], np.float32).reshape(want.shape)
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        labels = np.asarray(outs["label"]["data"])
        assert labels.tolist() == np.argmax(want, axis=1).tolist(), json.dumps(outs)
