"""GET /metrics, POST .../feedback and GET .../monitor against the real
server (AXLE_BIN): the exposition parses with python3-prometheus-client and
its counts match the requests sent; feedback accuracy equals the value
computed here; bad feedback gets the catalogue's statuses (FB2-FB5); the
dedicated --metrics-port listener answers /metrics."""

import json
import re
import urllib.request

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from serve_util import IRIS_ONNX, Server, iris_input, iris_reference, put_model, v2_json

RNG = np.random.default_rng(7)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    repo = tmp_path_factory.mktemp("repo")
    put_model(repo, "iris", 1, IRIS_ONNX,
              {"monitoring": {"output": "probabilities", "task": "classification"}})
    with Server(repo, "--metrics-port", "0") as s:
        yield s


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(fams, fam, name, **labels):
    for s in fams[fam].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError((name, labels))


def test_metrics_parse_and_count_the_requests_sent(srv):
    before = families(srv.get("/metrics").body.decode())
    ok0 = sample(before, "axle_inference_request_success", "axle_inference_request_success_total",
                 model="iris", version="1")
    x = RNG.normal(5, 1, (7, 4)).astype(np.float32)
    for i in range(7):
        assert srv.post("/v2/models/iris/infer", v2_json([iris_input(x[i:i + 1])])).status == 200
    assert srv.post("/v2/models/iris/infer", v2_json([iris_input(x[:3])])).status == 200
    bad = srv.post("/v2/models/iris/infer", b'{"inputs":[]}')
    assert bad.status == 400
    r = srv.get("/metrics")
    assert r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8"
    fams = families(r.body.decode())
    lab = dict(model="iris", version="1")
    assert sample(fams, "axle_inference_request_success", "axle_inference_request_success_total",
                  **lab) == ok0 + 8
    assert sample(fams, "axle_inference_request_failure", "axle_inference_request_failure_total",
                  reason="bad_request", **lab) >= 1
    hist = "axle_inference_request_duration_seconds"
    assert sample(fams, hist, hist + "_count", **lab) == ok0 + 8
    assert sample(fams, hist, hist + "_bucket", le="+Inf", **lab) == ok0 + 8
    assert sample(fams, "axle_inference_batch_size", "axle_inference_batch_size_bucket",
                  le="+Inf", **lab) >= 8
    assert sample(fams, "axle_model_state", "axle_model_state", state="READY", **lab) == 1
    for name in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds",
                 "process_start_time_seconds", "axle_build_info", "process_threads"):
        assert name in fams, name
    assert sample(fams, "process_resident_memory_bytes", "process_resident_memory_bytes") > 1e6
    # The statistics extension reads the same counters.
    st = srv.get("/v2/models/iris/versions/1/stats").json()["model_stats"][0]
    assert st["inference_stats"]["success"]["count"] == sample(
        fams, "axle_inference_request_success", "axle_inference_request_success_total", **lab)


def test_metrics_port_serves_metrics_only(srv):
    ev = [e for e in srv.log() if e.get("event") == "metrics_listening"]
    assert ev, "no metrics_listening event"
    url = ev[0]["detail"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/metrics", url)
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    assert "axle_inference_request_success_total" in families(text) or \
        "axle_inference_request_success" in families(text)
    try:
        urllib.request.urlopen(url.replace("/metrics", "/v2/health/ready"), timeout=10)
        raise AssertionError("the metrics port answered a non-metrics route")
    except urllib.error.HTTPError as e:
        assert e.code == 404


def infer_id(srv, x):
    r = srv.post("/v2/models/iris/infer", v2_json([iris_input(x)]))
    assert r.status == 200
    return r.json()["id"], np.argmax(np.array(r.json()["outputs"][0]["data"]).reshape(len(x), 3),
                                      axis=1)


def test_feedback_accuracy_equals_the_computed_value(srv):
    m0 = srv.get("/v2/models/iris/monitor").json()["quality"]
    n0, acc0 = m0["labelled"], m0["accuracy"] or 0.0
    right0 = round(acc0 * n0)
    x = RNG.normal([5.8, 3.0, 4.0, 1.2], [0.8, 0.4, 1.7, 0.7], (40, 4)).astype(np.float32)
    preds = np.argmax(iris_reference(x), axis=1)
    labels = np.where(RNG.random(40) < 0.7, preds, (preds + 1) % 3)
    for i in range(40):
        rid, p = infer_id(srv, x[i:i + 1])
        assert p[0] == preds[i]
        r = srv.post("/v2/models/iris/feedback", json.dumps({"id": rid, "label": int(labels[i])}))
        assert r.status == 200, r.body
    q = srv.get("/v2/models/iris/monitor").json()["quality"]
    assert q["task"] == "classification" and q["labelled"] == n0 + 40
    want = (right0 + int((labels == preds).sum())) / (n0 + 40)
    assert abs(q["accuracy"] - want) < 1e-12
    fams = families(srv.get("/metrics").body.decode())
    assert abs(sample(fams, "axle_model_accuracy_ratio", "axle_model_accuracy_ratio",
                      model="iris", version="1") - want) < 1e-12
    assert sample(fams, "axle_feedback_labelled", "axle_feedback_labelled_total",
                  model="iris", version="1") == n0 + 40


def test_feedback_for_a_batch_takes_a_list_of_labels(srv):
    rid, p = infer_id(srv, np.array([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]], np.float32))
    r = srv.post("/v2/models/iris/feedback", json.dumps({"id": rid, "label": [1]}))
    assert (r.status, r.error) == (400, "target does not match output")
    r = srv.post("/v2/models/iris/feedback", json.dumps({"id": rid, "label": [int(p[0]), int(p[1])]}))
    assert r.status == 200 and r.json() == {"accepted": 1}


def test_feedback_bad_input_catalogue(srv):
    rid, _ = infer_id(srv, np.array([[5.1, 3.5, 1.4, 0.2]], np.float32))
    # FB3 unknown id
    r = srv.post("/v2/models/iris/feedback", json.dumps({"id": "no-such-id", "label": 0}))
    assert (r.status, r.error) == (404, "unknown request id")
    # FB5 wrong type
    r = srv.post("/v2/models/iris/feedback", json.dumps({"id": rid, "label": "setosa"}))
    assert (r.status, r.error) == (400, "target does not match output")
    r = srv.post("/v2/models/iris/feedback", json.dumps({"id": rid, "label": 0.5}))
    assert r.status == 400
    # a list is all or nothing
    r = srv.post("/v2/models/iris/feedback",
                 json.dumps([{"id": rid, "label": 0}, {"id": "missing", "label": 0}]))
    assert r.status == 404
    r = srv.post("/v2/models/iris/feedback", json.dumps({"id": rid, "label": 0}))
    assert r.status == 200
    # FB4 duplicate
    r = srv.post("/v2/models/iris/feedback", json.dumps({"id": rid, "label": 0}))
    assert (r.status, r.error) == (409, "feedback already recorded")
    # FB2 body over 64 KiB
    r = srv.post("/v2/models/iris/feedback", b'{"id":"' + b"a" * 66000 + b'","label":0}')
    assert (r.status, r.error) == (413, "body too large")
    # wrong model: the id belongs to iris
    r = srv.post("/v2/models/other/feedback", json.dumps({"id": rid, "label": 0}))
    assert r.status == 404
    r = srv.post("/v2/models/iris/feedback", b'{"id": 5, "label": 0}')
    assert r.status == 400
    r = srv.post("/v2/models/iris/feedback", b'{"id": "x", "label": 0, "extra": 1}')
    assert (r.status, r.error) == (400, "unknown feedback key")


def test_feedback_rate_limit_answers_429_with_retry_after(srv):
    codes = []
    for _ in range(130):
        r = srv.post("/v2/models/iris/feedback", json.dumps({"id": "nope", "label": 0}))
        codes.append(r.status)
        if r.status == 429:
            assert r.header("retry-after") == "1"
            assert r.error == "rate limit exceeded"
            break
    assert 429 in codes


def test_monitor_view_of_all_models(srv):
    doc = srv.get("/v2/monitor").json()
    assert isinstance(doc["time"], float)
    (m,) = [m for m in doc["models"] if m["model"] == "iris"]
    assert m["version"] == "1" and m["state"] == "READY"
    assert len(m["latency"]["counts"]) == len(m["latency"]["bounds_seconds"]) + 1
    assert sum(m["latency"]["counts"]) == m["success"]
    assert m["drift"] is None


def test_monitoring_can_be_turned_off_per_model(tmp_path):
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX, {"monitoring": {"enabled": False}})
    with Server(repo) as s:
        x = RNG.normal(5, 1, (1, 4)).astype(np.float32)
        r = s.post("/v2/models/iris/infer", v2_json([iris_input(x)]))
        assert r.status == 200 and "id" not in r.json()
        fams = families(s.get("/metrics").body.decode())
        assert sample(fams, "axle_inference_request_success",
                      "axle_inference_request_success_total", model="iris", version="1") == 1
        assert "axle_model_accuracy_ratio" not in fams or not [
            x for x in fams["axle_model_accuracy_ratio"].samples if x.labels.get("model") == "iris"]
    bad = tmp_path / "bad"
    put_model(bad, "iris", 1, IRIS_ONNX, {"monitoring": {"enabled": "no"}})
    with Server(bad) as s:
        assert s.get("/v2/models/iris/ready").status != 200


def test_v1_requests_carry_their_id_in_x_request_id(srv):
    x = np.array([[6.7, 3.0, 5.2, 2.3]], np.float32)
    pred = int(np.argmax(iris_reference(x), axis=1)[0])
    body = json.dumps({"instances": x.tolist()})
    # Server-made id: a version-4 UUID in the response header, usable as the
    # feedback key.
    r = srv.post("/v1/models/iris:predict", body)
    assert r.status == 200, r.body
    rid = r.header("x-request-id")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", rid), rid
    n0 = srv.get("/v2/models/iris/monitor").json()["quality"]["labelled"]
    r = srv.post("/v2/models/iris/feedback", json.dumps({"id": rid, "label": pred}))
    assert r.status == 200, r.body
    assert srv.get("/v2/models/iris/monitor").json()["quality"]["labelled"] == n0 + 1
    # The client's own id is echoed and joins feedback the same way.
    r = srv.post("/v1/models/iris:predict", body, headers={"X-Request-Id": "v1-client-7"})
    assert r.status == 200 and r.header("x-request-id") == "v1-client-7"
    r = srv.post("/v2/models/iris/feedback", json.dumps({"id": "v1-client-7", "label": pred}))
    assert r.status == 200, r.body
    # Ids that cannot be echoed safely are refused.
    for bad in ["a" * 129, "has space", 'q"uote']:
        r = srv.post("/v1/models/iris:predict", body, headers={"X-Request-Id": bad})
        assert r.status == 400 and "X-Request-Id" in r.json()["error"], (bad, r.body)
