"""`axle serve` scheduling: dynamic batching, queue bounds, deadlines,
cancellation and priorities (issue 3/7, SECURITY.md §3.3).

Nothing here depends on wall-clock luck: the servers run with
--enable-test-hooks, which lets a test pause every scheduler (executors
finish what they run and form no new batch), fill the queue, look at it
(GET /v2/debug/models/M/queue) and resume. What happened is then read from
the statistics extension: batch_stats counts executions per batch size.
"""

import json
import socket
import threading
import time

import numpy as np
import pytest

from serve_util import (IRIS_ONNX, MNIST_ONNX, SLOW, Server, _onnx, connect, http_req_bytes,
                        iris_input, model_bytes, parse_responses, put_model, recv_all,
                        slow_model, v2_json)

HOOKS = "--enable-test-hooks"


def scale_model():
    """y = 2 * x over FP32 [N, L]: the second dimension is free, so
    requests of different shapes can wait in the same queue."""
    onnx, TP, helper, numpy_helper = _onnx()
    x = helper.make_tensor_value_info("x", TP.FLOAT, ["N", "L"])
    y = helper.make_tensor_value_info("y", TP.FLOAT, ["N", "L"])
    two = numpy_helper.from_array(np.array(2.0, np.float32), "two")
    return model_bytes([helper.make_node("Mul", ["x", "two"], ["y"])], [x], [y], [two])


def batching(**kw):
    """config.json with dynamic batching; inline runs off so that even these
    tiny models go through the scheduler."""
    cfg = {"max_batch_size": 8, "inline_max_microseconds": 0,
           "queue_timeout_microseconds": 0,
           "dynamic_batching": {"max_queue_delay_microseconds": 0}}
    for k, v in kw.items():
        if k in ("max_queue_delay_microseconds", "preferred_batch_size"):
            cfg["dynamic_batching"][k] = v
        else:
            cfg[k] = v
    return cfg


def queue(srv, model):
    r = srv.get("/v2/debug/models/%s/queue" % model)
    assert r.status == 200, r
    return r.json()


def wait_queue(srv, model, pred, timeout=20):
    deadline = time.monotonic() + timeout * SLOW
    while time.monotonic() < deadline:
        q = queue(srv, model)
        if pred(q):
            return q
        time.sleep(0.01)
    raise AssertionError("queue of %s never reached the state: %r" % (model, queue(srv, model)))


def pause(srv):
    assert srv.post("/v2/debug/pause", b"").status == 200


def resume(srv):
    assert srv.post("/v2/debug/resume", b"").status == 200


def stats(srv, model):
    r = srv.get("/v2/models/%s/stats" % model)
    assert r.status == 200, r
    return r.json()["model_stats"][0]


def batch_counts(st):
    """{batch_size: executions}"""
    return {b["batch_size"]: b["compute_infer"]["count"] for b in st["batch_stats"]}


class Async:
    """Requests sent from threads; results kept in send order."""

    def __init__(self, srv):
        self.srv = srv
        self.threads, self.results = [], []

    def post(self, path, body, timeout=60):
        i = len(self.results)
        self.results.append(None)

        def run():
            try:
                r = self.srv.post(path, body, timeout=timeout)
                self.results[i] = (r, time.monotonic())
            except Exception as e:  # reported by join()
                self.results[i] = (e, time.monotonic())
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)

    def join(self, timeout=60):
        for t in self.threads:
            t.join(timeout * SLOW)
        assert not any(t.is_alive() for t in self.threads), "requests hung"
        for r, _ in self.results:
            assert not isinstance(r, Exception), r
        return [r for r, _ in self.results]


def scale_body(x, **params):
    x = np.asarray(x, np.float32)
    return v2_json([{"name": "x", "shape": list(x.shape), "datatype": "FP32",
                     "data": x.flatten().tolist()}], parameters=params or None)


def out_array(resp, name=None):
    doc = resp.json()
    o = doc["outputs"][0] if name is None else [o for o in doc["outputs"] if o["name"] == name][0]
    return np.array(o["data"], np.float32).reshape(o["shape"])


@pytest.fixture
def repo(tmp_path):
    r = tmp_path / "repo"
    r.mkdir()
    return r


def test_batches_form_and_split_back(repo):
    put_model(repo, "scale", 1, scale_model(), batching(max_queue_delay_microseconds=0))
    with Server(repo, HOOKS) as srv:
        assert queue(srv, "scale")["inline"] is False
        pause(srv)
        a = Async(srv)
        xs = [np.full((1, 3), i, np.float32) for i in range(4)] + [np.arange(6, dtype=np.float32).reshape(2, 3)]
        for x in xs:
            a.post("/v2/models/scale/infer", scale_body(x))
        wait_queue(srv, "scale", lambda q: q["queued"] == 5)
        resume(srv)
        res = a.join()
        for x, r in zip(xs, res):
            assert r.status == 200, r
            assert np.array_equal(out_array(r), 2 * x)
            assert out_array(r).shape == x.shape
        st = stats(srv, "scale")
        # Five requests, six rows, one execution.
        assert batch_counts(st) == {6: 1}, st["batch_stats"]
        assert st["execution_count"] == 1
        assert st["inference_count"] == 6
        assert st["inference_stats"]["success"]["count"] == 5


def test_shapes_are_never_mixed(repo):
    put_model(repo, "scale", 1, scale_model(), batching())
    with Server(repo, HOOKS) as srv:
        pause(srv)
        a = Async(srv)
        xs = []
        for i in range(6):
            width = 3 if i % 2 == 0 else 5
            xs.append(np.full((1, width), i, np.float32))
            a.post("/v2/models/scale/infer", scale_body(xs[-1]))
        wait_queue(srv, "scale", lambda q: q["queued"] == 6)
        resume(srv)
        for x, r in zip(xs, a.join()):
            assert r.status == 200, r
            assert np.array_equal(out_array(r), 2 * x)
        # Three of width 3, three of width 5: two executions of 3 rows.
        assert batch_counts(stats(srv, "scale")) == {3: 2}


def test_batched_outputs_identical_to_unbatched(repo):
    cfg = batching()
    put_model(repo, "iris", 1, IRIS_ONNX, cfg)
    put_model(repo, "mnist", 1, MNIST_ONNX, dict(cfg, max_batch_size=4))
    rng = np.random.default_rng(7)
    with Server(repo, HOOKS) as srv:
        for model, shape, name in (("iris", (1, 4), "input"), ("mnist", (1, 1, 28, 28), None)):
            if name is None:
                name = srv.get("/v2/models/mnist").json()["inputs"][0]["name"]
            xs = [rng.standard_normal(shape).astype(np.float32) for _ in range(4)]
            bodies = [v2_json([{"name": name, "shape": list(shape), "datatype": "FP32",
                                "data": x.flatten().tolist()}]) for x in xs]
            alone = []
            for b in bodies:  # one at a time: each its own execution
                r = srv.post("/v2/models/%s/infer" % model, b)
                assert r.status == 200, r
                alone.append(out_array(r))
            before = batch_counts(stats(srv, model))
            pause(srv)
            a = Async(srv)
            for b in bodies:
                a.post("/v2/models/%s/infer" % model, b)
            wait_queue(srv, model, lambda q: q["queued"] == 4)
            resume(srv)
            together = [out_array(r) for r in a.join()]
            after = batch_counts(stats(srv, model))
            assert after.get(4, 0) == before.get(4, 0) + 1, (before, after)
            for x, y in zip(alone, together):
                assert np.array_equal(x, y), (model, x, y)


def test_idle_executor_never_waits_for_company(repo):
    # A 30 s delay would show: a lone request on an idle model runs at once.
    put_model(repo, "scale", 1, scale_model(), batching(max_queue_delay_microseconds=30000000))
    with Server(repo, HOOKS) as srv:
        for i in range(3):
            r = srv.post("/v2/models/scale/infer", scale_body(np.ones((1, 2)) * i), timeout=10)
            assert r.status == 200, r
        assert batch_counts(stats(srv, "scale")) == {1: 3}


def test_max_queue_delay_holds_a_forming_batch(repo):
    delay_us = 1500000
    put_model(repo, "scale", 1, scale_model(),
              batching(max_queue_delay_microseconds=delay_us, preferred_batch_size=[4]))
    with Server(repo, HOOKS) as srv:
        # Two queued, then resumed: the batch is forming, so the executor
        # waits for company; two more arrive within the delay and the
        # preferred size 4 runs at once.
        pause(srv)
        a = Async(srv)
        for i in range(2):
            a.post("/v2/models/scale/infer", scale_body(np.full((1, 2), i)))
        wait_queue(srv, "scale", lambda q: q["queued"] == 2)
        resume(srv)
        for i in range(2, 4):
            a.post("/v2/models/scale/infer", scale_body(np.full((1, 2), i)))
        for r in a.join():
            assert r.status == 200, r
        assert batch_counts(stats(srv, "scale")) == {4: 1}
        # Two queued and nobody else: they run as a batch of 2 once the
        # oldest has waited the delay - never before.
        pause(srv)
        b = Async(srv)
        t0 = time.monotonic()
        for i in range(2):
            b.post("/v2/models/scale/infer", scale_body(np.full((1, 2), i)))
        wait_queue(srv, "scale", lambda q: q["queued"] == 2)
        resume(srv)
        for r in b.join():
            assert r.status == 200, r
        done = max(t for _, t in b.results)
        assert done - t0 >= delay_us / 1e6
        assert batch_counts(stats(srv, "scale")) == {4: 1, 2: 1}
        # Right after an execution of several requests their clients are
        # expected back: a lone request then waits for company too (up to
        # the delay), and runs alone when none comes.
        t0 = time.monotonic()
        r = srv.post("/v2/models/scale/infer", scale_body(np.ones((1, 2))), timeout=30)
        assert r.status == 200
        assert time.monotonic() - t0 >= delay_us / 1e6
        assert batch_counts(stats(srv, "scale")) == {4: 1, 2: 1, 1: 1}


def test_queue_full_is_refused_at_the_head(repo):
    put_model(repo, "scale", 1, scale_model(), batching(max_queue_size=2))
    with Server(repo, HOOKS) as srv:
        pause(srv)
        a = Async(srv)
        for i in range(2):
            a.post("/v2/models/scale/infer", scale_body(np.full((1, 2), i)))
        wait_queue(srv, "scale", lambda q: q["queued"] == 2)
        # Whole request at once: refused, and the connection stays usable.
        body = scale_body(np.ones((1, 2)))
        s = connect(srv.port)
        try:
            s.sendall(http_req_bytes("POST", "/v2/models/scale/infer", body) +
                      http_req_bytes("GET", "/v2/health/live"))
            data, closed, _ = recv_all(s, until_responses=2)
            resps = parse_responses(data)
            assert [r.status for r in resps] == [503, 200], resps
            assert resps[0].header("retry-after") == "1"
            assert resps[0].error == "queue full"
        finally:
            s.close()
        # Only the head sent (a large body still to come): refused before
        # the body is read; the body is then skipped and the connection
        # goes on serving.
        s = connect(srv.port)
        try:
            n = 1000000
            head = (b"POST /v2/models/scale/infer HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % n)
            s.sendall(head)
            data, closed, _ = recv_all(s, timeout=10, until_responses=1)
            resps = parse_responses(data)
            assert [r.status for r in resps] == [503] and not closed, (resps, closed)
            assert resps[0].error == "queue full"
            s.sendall(b" " * n + http_req_bytes("GET", "/v2/health/live"))
            data, closed, _ = recv_all(s, timeout=10, until_responses=1)
            assert [r.status for r in parse_responses(data)] == [200]
        finally:
            s.close()
        # With Expect: 100-continue the client may never send the body: the
        # answer closes the connection.
        s = connect(srv.port)
        try:
            s.sendall(b"POST /v2/models/scale/infer HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n")
            data, closed, _ = recv_all(s, timeout=10)
            resps = parse_responses(data)
            assert [r.status for r in resps] == [503] and closed, (resps, closed)
        finally:
            s.close()
        # V1 is admitted the same way.
        r = srv.post("/v1/models/scale:predict", json.dumps({"instances": [[1.0, 2.0]]}).encode())
        assert r.status == 503 and r.error == "queue full"
        # ... at the head too, before its body is read.
        s = connect(srv.port)
        try:
            s.sendall(b"POST /v1/models/scale:predict HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n")
            data, closed, _ = recv_all(s, timeout=10, until_responses=1)
            resps = parse_responses(data)
            assert [r.status for r in resps] == [503] and not closed, (resps, closed)
            assert resps[0].error == "queue full"
        finally:
            s.close()
        resume(srv)
        assert all(r.status == 200 for r in a.join())
        # Nothing of the refused requests reached the model.
        assert stats(srv, "scale")["inference_count"] == 2


def test_deadline_expires_in_the_queue(repo):
    put_model(repo, "scale", 1, scale_model(), batching())
    with Server(repo, HOOKS, "--request-timeout", "30") as srv:
        pause(srv)
        a = Async(srv)
        a.post("/v2/models/scale/infer", scale_body(np.ones((1, 2)), timeout=200000))  # 200 ms
        a.post("/v2/models/scale/infer", scale_body(np.ones((1, 2))))                    # 30 s
        wait_queue(srv, "scale", lambda q: q["queued"] == 2)
        time.sleep(0.4)
        resume(srv)
        late, ok = a.join()
        assert late.status == 504 and late.error == "deadline exceeded", late
        assert ok.status == 200
        st = stats(srv, "scale")
        assert st["inference_count"] == 1  # the expired one never ran
        assert st["inference_stats"]["fail"]["count"] == 1


def test_queue_timeout(repo):
    put_model(repo, "scale", 1, scale_model(), batching(queue_timeout_microseconds=100000))
    with Server(repo, HOOKS) as srv:
        pause(srv)
        a = Async(srv)
        a.post("/v2/models/scale/infer", scale_body(np.ones((1, 2))))
        wait_queue(srv, "scale", lambda q: q["queued"] == 1)
        time.sleep(0.3)
        resume(srv)
        (r,) = a.join()
        assert r.status == 503 and r.error == "queue timeout"
        assert r.header("retry-after") == "1"


def test_disconnect_frees_the_slot(repo):
    put_model(repo, "scale", 1, scale_model(), batching(max_queue_size=1))
    with Server(repo, HOOKS) as srv:
        pause(srv)
        s = connect(srv.port)
        s.sendall(http_req_bytes("POST", "/v2/models/scale/infer", scale_body(np.ones((1, 2)))))
        wait_queue(srv, "scale", lambda q: q["queued"] == 1)
        # The queue is full...
        assert srv.post("/v2/models/scale/infer", scale_body(np.ones((1, 2)))).status == 503
        s.close()
        # ...until the client that holds the slot goes away.
        q = wait_queue(srv, "scale", lambda q: q["queued"] == 0)
        assert q["cancelled"] == 1
        a = Async(srv)
        a.post("/v2/models/scale/infer", scale_body(np.ones((1, 2))))
        wait_queue(srv, "scale", lambda q: q["queued"] == 1)
        resume(srv)
        assert [r.status for r in a.join()] == [200]
        assert stats(srv, "scale")["execution_count"] == 1


def test_priority_order(repo):
    # One instance, no batching, a model that takes milliseconds: the
    # executions run one after the other, highest priority first.
    put_model(repo, "slow", 1, slow_model(n_layers=96, width=1024),
              {"max_batch_size": 8, "priority_levels": 2, "default_priority_level": 2,
               "queue_timeout_microseconds": 0, "inline_max_microseconds": 0})
    x = np.ones((1, 1024), np.float32)
    body = {p: v2_json([{"name": "x", "shape": [1, 1024], "datatype": "FP32",
                         "data": x.flatten().tolist()}], parameters={"priority": p} if p else None)
            for p in (0, 1, 2)}
    with Server(repo, HOOKS) as srv:
        pause(srv)
        a = Async(srv)
        a.post("/v2/models/slow/infer", body[0])  # default level: 2
        wait_queue(srv, "slow", lambda q: q["queued"] == 1)
        a.post("/v2/models/slow/infer", body[2])
        wait_queue(srv, "slow", lambda q: q["queued"] == 2)
        a.post("/v2/models/slow/infer", body[1])  # last in, first out
        wait_queue(srv, "slow", lambda q: q["queued"] == 3)
        resume(srv)
        res = a.join()
        assert all(r.status == 200 for r in res)
        done = [t for _, t in a.results]
        assert done[2] < done[0] and done[2] < done[1], done
        assert done[0] < done[1], done  # same level: arrival order


def test_bad_priority_and_timeout_parameters(repo):
    put_model(repo, "scale", 1, scale_model(), batching())
    with Server(repo, HOOKS) as srv:
        for params in ({"priority": -1}, {"priority": "high"}, {"timeout": -5}):
            r = srv.post("/v2/models/scale/infer", scale_body(np.ones((1, 2)), **params))
            assert r.status == 400, (params, r)
        # A priority beyond the levels counts as the lowest level.
        r = srv.post("/v2/models/scale/infer", scale_body(np.ones((1, 2)), priority=9))
        assert r.status == 200


def test_memory_budget_refuses_large_bodies(repo):
    put_model(repo, "scale", 1, scale_model(), batching())
    with Server(repo, "--memory-budget-bytes", str(1 << 20)) as srv:
        big = scale_body(np.ones((1, 300000)))  # ~1.2 MB of JSON
        assert len(big) > (1 << 20)
        r = srv.post("/v2/models/scale/infer", big)
        assert r.status == 503 and r.error == "memory budget exceeded", r
        assert r.header("retry-after") == "1"
        # Small requests still pass, and the budget is given back.
        for _ in range(3):
            assert srv.post("/v2/models/scale/infer", scale_body(np.ones((1, 2)))).status == 200


def test_instances_run_in_parallel_with_their_own_memory(repo):
    # Two instances: two executions can be in flight at once; both answer
    # correctly, and a burst is spread over them.
    put_model(repo, "slow", 1, slow_model(n_layers=8, width=256, rows=8),
              {"max_batch_size": 8, "instance_count": 2, "queue_timeout_microseconds": 0,
               "inline_max_microseconds": 0})
    rng = np.random.default_rng(3)
    xs = [rng.standard_normal((1, 256)).astype(np.float32) for _ in range(6)]
    bodies = [v2_json([{"name": "x", "shape": [1, 256], "datatype": "FP32",
                        "data": x.flatten().tolist()}]) for x in xs]
    with Server(repo, HOOKS) as srv:
        ref = [out_array(srv.post("/v2/models/slow/infer", b)) for b in bodies]
        pause(srv)
        a = Async(srv)
        for b in bodies:
            a.post("/v2/models/slow/infer", b)
        wait_queue(srv, "slow", lambda q: q["queued"] == 6)
        resume(srv)
        seen_two = False
        while any(t.is_alive() for t in a.threads):
            if queue(srv, "slow")["running"] == 2:
                seen_two = True
            time.sleep(0.001)
        for r, want in zip(a.join(), ref):
            assert r.status == 200
            assert np.array_equal(out_array(r), want)
        assert stats(srv, "slow")["execution_count"] == 12
        # Seeing both instances busy at once depends on timing; it is not
        # asserted, only reported.
        print("both instances seen running:", seen_two)


def test_v1_goes_through_the_scheduler(repo):
    put_model(repo, "iris", 1, IRIS_ONNX, batching())
    with Server(repo, HOOKS) as srv:
        pause(srv)
        a = Async(srv)
        rows = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]
        a.post("/v1/models/iris:predict", json.dumps({"instances": rows}).encode())
        a.post("/v2/models/iris/infer", v2_json([iris_input(np.array(rows[:1]))]))
        wait_queue(srv, "iris", lambda q: q["queued"] == 2)
        resume(srv)
        v1, v2 = a.join()
        assert v1.status == 200 and v2.status == 200
        preds = np.array(v1.json()["predictions"], np.float32)
        assert preds.shape == (2, 3)
        assert np.array_equal(preds[0], out_array(v2)[0])
        assert batch_counts(stats(srv, "iris")) == {3: 1}


def test_tiny_models_run_inline(repo):
    # The choice follows the batch-1 run time measured at load. The bound
    # is set to 200 us here, not the 20 us default: iris runs in microseconds
    # (tens under ASan on a busy machine) and the slow model in milliseconds
    # even in the release build, so the outcome has a wide margin either way.
    put_model(repo, "iris", 1, IRIS_ONNX)
    put_model(repo, "slow", 1, slow_model())
    with Server(repo, HOOKS, "--inline-max-us", "200") as srv:
        assert queue(srv, "iris")["inline"] is True
        assert queue(srv, "slow")["inline"] is False
    with Server(repo, HOOKS) as srv:
        assert queue(srv, "slow")["inline"] is False
    with Server(repo, HOOKS, "--inline-max-us", "0") as srv:
        assert queue(srv, "iris")["inline"] is False


def test_test_hooks_are_off_by_default(repo):
    put_model(repo, "iris", 1, IRIS_ONNX)
    with Server(repo) as srv:
        assert srv.post("/v2/debug/pause", b"").status == 404
        assert srv.get("/v2/debug/models/iris/queue").status == 404


@pytest.mark.parametrize("cfg,msg", [
    ({"dynamic_batching": {"preferred_batch_size": [8, 4]}}, "preferred_batch_size"),
    ({"priority_levels": 2, "default_priority_level": 3}, "default_priority_level"),
    ({"max_queue_size": 0}, "max_queue_size"),
    ({"queue_timeout_microseconds": -1}, "queue_timeout_microseconds"),
    ({"max_batch_size": 4, "dynamic_batching": {"preferred_batch_size": [8]}}, "preferred_batch_size"),
])
def test_bad_scheduling_config(repo, cfg, msg):
    put_model(repo, "iris", 1, IRIS_ONNX, cfg)
    with Server(repo, wait_ready=False) as srv:
        ev = srv.wait_log(lambda e: e.get("event") == "load_failed" and e.get("model") == "iris")
        assert ev and msg in ev.get("detail", ""), ev
        assert srv.get("/v2/models/iris/ready").status == 503
