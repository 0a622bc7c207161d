"""A real Prometheus server (Debian's package) scrapes axle's /metrics on
loopback, and its query API returns the axle_* series with the values axle
counted."""

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest

from serve_util import IRIS_ONNX, Server, iris_input, put_model, v2_json


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?query=%s" % (port, urllib.parse.quote(q))
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_prometheus_scrapes_axle(tmp_path):
    prom = shutil.which("prometheus")
    if not prom:
        pytest.fail("prometheus not found: Debian package `prometheus` is required")
    repo = tmp_path / "repo"
    put_model(repo, "iris", 1, IRIS_ONNX)
    with Server(repo) as s:
        x = np.array([[5.1, 3.5, 1.4, 0.2]], np.float32)
        for _ in range(5):
            assert s.post("/v2/models/iris/infer", v2_json([iris_input(x)])).status == 200
        pport = free_port()
        cfg = tmp_path / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                       "scrape_configs:\n  - job_name: axle\n    static_configs:\n"
                       "      - targets: ['127.0.0.1:%d']\n" % s.port)
        p = subprocess.Popen([prom, "--config.file=%s" % cfg,
                              "--storage.tsdb.path=%s" % (tmp_path / "tsdb"),
                              "--web.listen-address=127.0.0.1:%d" % pport],
                             stdout=subprocess.DEVNULL, stderr=open(tmp_path / "prom.log", "wb"))
        try:
            got = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    doc = query(pport, 'axle_inference_request_success_total{model="iris"}')
                    if doc["status"] == "success" and doc["data"]["result"]:
                        got = doc["data"]["result"]
                        break
                except OSError:
                    pass
                time.sleep(0.5)
            assert got, (tmp_path / "prom.log").read_text()[-2000:]
            assert got[0]["metric"]["version"] == "1" and got[0]["metric"]["job"] == "axle"
            assert float(got[0]["value"][1]) == 5
            up = query(pport, 'up{job="axle"}')["data"]["result"]
            assert up and up[0]["value"][1] == "1"
            h = query(pport, 'axle_inference_request_duration_seconds_count{model="iris"}')
            assert float(h["data"]["result"][0]["value"][1]) == 5
        finally:
            p.terminate()
            p.wait(timeout=30)
