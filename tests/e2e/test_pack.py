"""`axle pack` end to end: the image it writes is inspected with skopeo, unpacked
with umoci into a runtime bundle whose binary runs on the shipped libraries,
loaded into podman and run; health and an inference against the running
container succeed, for the OCI layout and the docker-archive; the same
inputs and --created give the same digest; bad input exits 2 with a clear
message (podman flags from ENVIRONMENT.md)."""

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tarfile
import time

import pytest
import requests

from serve_util import AXLE, IRIS_ONNX

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IRIS_DIR = os.path.join(ROOT, "examples", "models", "iris")
PODMAN = ["podman", "--cgroup-manager=cgroupfs"]
RUN = ["run", "-d", "--runtime", "runc", "--ulimit", "nofile=1024:1024",
       "--ulimit", "nproc=1024:1024", "--network", "host"]


def pack(*args, rc=0):
    p = subprocess.run([AXLE, "pack"] + [str(a) for a in args], capture_output=True, timeout=300)
    assert p.returncode == rc, (p.returncode, p.stderr.decode()[-2000:])
    return p


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_oci_image_labels_digests_and_contents(tmp_path):
    out = tmp_path / "iris.tar"
    p = pack(IRIS_DIR, "-t", "localhost/axle-test-iris:1", "-o", out,
             "--label", "org.opencontainers.image.source=https://example.invalid/axle",
             "--label", "org.opencontainers.image.revision=abc123")
    report = json.loads(p.stdout)
    assert report["models"] == 1 and report["format"] == "oci"
    ins = json.loads(subprocess.run(["skopeo", "inspect", "oci-archive:%s" % out],
                                    capture_output=True, check=True, timeout=60).stdout)
    lab = ins["Labels"]
    assert lab["org.opencontainers.image.title"] == "localhost/axle-test-iris"
    assert lab["org.opencontainers.image.version"] == "1"
    assert lab["org.opencontainers.image.created"] == "1970-01-01T00:00:00Z"
    assert lab["org.opencontainers.image.source"] == "https://example.invalid/axle"
    assert lab["org.opencontainers.image.revision"] == "abc123"
    models = json.loads(lab["io.axle.models"])
    want = hashlib.sha256(open(os.path.join(IRIS_DIR, "1", "model.onnx"), "rb").read()).hexdigest()
    assert models == [{"name": "iris", "version": "1", "platform": "onnx", "inputs": ["input"],
                       "outputs": ["probabilities"], "sha256": want}]
    assert ins["Layers"] == [report["layer"]]
    # Every blob's name is its sha256; the layer holds axle, its libraries,
    # the loader, the model and no shell.
    with tarfile.open(out) as t:
        names = t.getnames()
        for n in names:
            if n.startswith("blobs/sha256/") and t.getmember(n).isfile():
                assert hashlib.sha256(t.extractfile(n).read()).hexdigest() == n.split("/")[-1]
        idx = json.loads(t.extractfile("index.json").read())
        man = json.loads(t.extractfile("blobs/sha256/" + idx["manifests"][0]["digest"][7:]).read())
        layer = t.extractfile("blobs/sha256/" + man["layers"][0]["digest"][7:])
        with tarfile.open(fileobj=layer, mode="r:gz") as lt:
            files = {m.name: m for m in lt.getmembers()}
    assert "usr/bin/axle" in files and files["usr/bin/axle"].mode & 0o111
    assert "models/iris/1/model.onnx" in files
    assert any(n.startswith("lib64/ld-linux") for n in files)
    assert any(n.startswith("lib/axle/libc.so") for n in files)
    assert not any(n.endswith("/sh") or n.endswith("bash") or "apt" in n or "dpkg" in n
                   for n in files)
    assert all(m.uid == 0 and m.gid == 0 and m.mtime == 0 for m in files.values())
    cfg = json.loads(subprocess.run(["skopeo", "inspect", "--config", "oci-archive:%s" % out],
                                    capture_output=True, check=True, timeout=60).stdout)
    c = cfg["config"]
    assert c["User"] == "65532:65532"
    assert c["Entrypoint"] == ["/usr/bin/axle", "serve", "/models", "--host", "0.0.0.0"]
    assert "8080/tcp" in c["ExposedPorts"]


def test_umoci_unpacks_a_runtime_bundle_whose_binary_runs_on_its_own_libraries(tmp_path):
    # umoci reads the OCI layout independently of skopeo and podman and
    # builds the runtime bundle a runtime would run; the binary must start
    # with only the loader and libraries the image carries.
    out = tmp_path / "iris.tar"
    pack(IRIS_DIR, "-t", "localhost/axle-test-iris:1", "-o", out)
    lay = tmp_path / "layout"
    lay.mkdir()
    with tarfile.open(out) as t:
        t.extractall(lay)
    bundle = tmp_path / "bundle"
    subprocess.run(["umoci", "unpack", "--rootless", "--image", "%s:1" % lay, str(bundle)],
                   capture_output=True, check=True, timeout=120)
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["user"]["uid"] == 65532
    assert spec["process"]["args"] == ["/usr/bin/axle", "serve", "/models", "--host", "0.0.0.0"]
    rootfs = bundle / "rootfs"
    assert (rootfs / "models" / "iris" / "1" / "model.onnx").read_bytes() == \
        open(os.path.join(IRIS_DIR, "1", "model.onnx"), "rb").read()
    loader = next((rootfs / "lib64").glob("ld-linux*"))
    base = [str(loader), "--inhibit-cache", "--library-path", str(rootfs / "lib" / "axle")]
    ldd = subprocess.run(base + ["--list", str(rootfs / "usr" / "bin" / "axle")],
                         capture_output=True, text=True, check=True, timeout=30,
                         env={}).stdout
    resolved = [ln.split("=>")[1].split("(")[0].strip() for ln in ldd.splitlines() if "=>" in ln]
    assert resolved and all(r.startswith(str(rootfs)) for r in resolved), ldd
    v = subprocess.run(base + [str(rootfs / "usr" / "bin" / "axle"), "--version"],
                       capture_output=True, text=True, timeout=30, env={})
    assert v.returncode == 0 and v.stdout.startswith("axle "), (v.returncode, v.stderr)


def test_same_inputs_give_the_same_digest(tmp_path):
    a, b, c = tmp_path / "a.tar", tmp_path / "b.tar", tmp_path / "c.tar"
    pack(IRIS_DIR, "-t", "localhost/axle-test-iris:1", "-o", a, "--created", "2026-01-02T03:04:05Z")
    pack(IRIS_DIR, "-t", "localhost/axle-test-iris:1", "-o", b, "--created", "1767323045")
    pack(IRIS_DIR, "-t", "localhost/axle-test-iris:1", "-o", c, "--created", "2026-01-02T03:04:06Z")
    ha, hb, hc = (hashlib.sha256(open(x, "rb").read()).hexdigest() for x in (a, b, c))
    assert ha == hb and ha != hc


@pytest.mark.parametrize("fmt", ["oci", "docker"])
def test_podman_runs_the_image_and_it_answers(tmp_path, fmt):
    tag = "localhost/axle-test-run-%s:1" % fmt
    out = tmp_path / "img.tar"
    pack(IRIS_DIR, "-t", tag, "-o", out, "--format", fmt)
    if fmt == "docker":
        with tarfile.open(out) as t:
            assert json.loads(t.extractfile("manifest.json").read())[0]["RepoTags"] == [tag]
    load = subprocess.run(PODMAN + ["load", "-i", str(out)], capture_output=True, timeout=120)
    assert load.returncode == 0, load.stderr.decode()
    port = free_port()
    t0 = time.monotonic()
    run = subprocess.run(PODMAN + RUN + ["--env", "AXLE_HTTP_PORT=%d" % port, tag],
                         capture_output=True, timeout=120)
    assert run.returncode == 0, run.stderr.decode()
    cid = run.stdout.decode().strip()
    try:
        ready = None
        while time.monotonic() - t0 < 30:
            try:
                if requests.get("http://127.0.0.1:%d/v2/health/ready" % port, timeout=1).status_code == 200:
                    ready = time.monotonic() - t0
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.02)
        assert ready is not None, subprocess.run(PODMAN + ["logs", cid], capture_output=True).stderr
        print("podman run to ready: %.3f s (%s)" % (ready, fmt))
        r = requests.post("http://127.0.0.1:%d/v2/models/iris/infer" % port, timeout=5,
                          json={"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32",
                                            "data": [5.1, 3.5, 1.4, 0.2]}]})
        assert r.status_code == 200, r.text
        probs = r.json()["outputs"][0]["data"]
        assert probs.index(max(probs)) == 0
        top = subprocess.run(PODMAN + ["top", cid, "user"], capture_output=True, timeout=30)
        users = top.stdout.decode().split()[1:]
        assert users and all(u in ("65532", "axle") for u in users), top.stdout
        # SIGTERM reaches axle as PID 1 and it drains and exits 0 (a
        # SIGKILL after the grace period would give 137).
        subprocess.run(PODMAN + ["stop", "-t", "20", cid], capture_output=True, timeout=60)
        code = subprocess.run(PODMAN + ["inspect", "--format", "{{.State.ExitCode}}", cid],
                              capture_output=True, timeout=30).stdout.decode().strip()
        assert code == "0", code
    finally:
        subprocess.run(PODMAN + ["rm", "-f", cid], capture_output=True, timeout=60)
        subprocess.run(PODMAN + ["rmi", "-f", tag], capture_output=True, timeout=60)


def test_dry_run_lists_the_contents_and_writes_nothing(tmp_path):
    out = tmp_path / "x.tar"
    p = pack(IRIS_DIR, "-t", "axle-iris:1", "-o", out, "--dry-run")
    text = p.stdout.decode()
    assert "/usr/bin/axle" in text and "/models/iris/1/model.onnx" in text
    assert "total (uncompressed)" in text
    assert not out.exists()


def test_bad_input_exits_2_with_a_clear_message(tmp_path):
    broken = tmp_path / "repo" / "broken" / "1"
    broken.mkdir(parents=True)
    (broken / "model.onnx").write_bytes(open(IRIS_ONNX, "rb").read()[:200])
    exists = tmp_path / "exists.tar"
    exists.write_bytes(b"x")
    cases = [
        ([tmp_path / "missing.onnx", "-t", "a:1", "-o", tmp_path / "o.tar"], "not found"),
        ([IRIS_DIR, "-t", "Bad_Name:1", "-o", tmp_path / "o.tar"], "invalid tag"),
        ([IRIS_DIR, "-t", "axle:bad/tag", "-o", tmp_path / "o.tar"], "invalid tag"),
        ([IRIS_DIR, "-t", "axle", "-o", tmp_path / "o.tar"], "invalid tag"),
        ([IRIS_DIR, "-o", tmp_path / "o.tar"], "-t NAME:TAG is required"),
        ([IRIS_DIR, "-t", "axle:1", "-o", exists], "exists"),
        ([tmp_path / "repo", "-t", "axle:1", "-o", tmp_path / "o.tar"], "does not load"),
        ([IRIS_DIR, "-t", "axle:1", "-o", tmp_path / "o.tar", "--format", "zip"], "oci or docker"),
        ([IRIS_DIR, "-t", "axle:1", "-o", tmp_path / "o.tar", "--created", "yesterday"], "--created"),
    ]
    for args, msg in cases:
        p = pack(*args, rc=2)
        assert msg in p.stderr.decode(), (args, p.stderr)
    assert not (tmp_path / "o.tar").exists()
    assert exists.read_bytes() == b"x"
    pack(IRIS_DIR, "-t", "axle:1", "-o", exists, "--force")
    assert tarfile.is_tarfile(exists)
