#!/usr/bin/env python3
"""bench/serve_check.py - correctness of a server's answers before it is timed (PERF.md §3.14).

    serve_check.py iris  BASE_URL MODELS_DIR [--mlserver]
    serve_check.py sum1m BASE_URL MODELS_DIR
    serve_check.py size  URL [BODY_FILE]        prints the response body size in bytes

iris:  POSTs bodies/iris.json to BASE_URL/v2/models/iris/infer and compares the
       probabilities with sklearn's predict_proba (bodies/expected.json), 1e-4
       relative (+1e-6 absolute). --mlserver asks for "predict_proba" explicitly
       (MLServer's sklearn runtime answers "predict" by default).
sum1m: the 1 MiB input three ways: V2 JSON, the binary tensor extension with a
       JSON output, and binary in and binary out; each sum must match numpy's.
Prints one JSON line (kind "check"); exit status 1 when anything disagrees.
Standard library only, so any python3 runs it.
"""

import http.client
import json
import os
import struct
import sys
import urllib.parse


def post(base, path, body, headers):
    u = urllib.parse.urlsplit(base)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    c.request("POST", path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    return r.status, hdrs, data


def close(a, b, rtol=1e-4, atol=1e-6):
    return abs(a - b) <= atol + rtol * abs(b)


def parse_v2(status, hdrs, data):
    """(json, {output name: raw bytes}) of a V2 response, binary extension aware."""
    if status != 200:
        raise ValueError("HTTP %d: %r" % (status, data[:300]))
    hlen = hdrs.get("inference-header-content-length")
    raw = {}
    if hlen is not None:
        n = int(hlen)
        js = json.loads(data[:n])
        off = n
        for o in js.get("outputs", []):
            size = (o.get("parameters") or {}).get("binary_data_size")
            if size is not None:
                raw[o["name"]] = data[off:off + size]
                off += size
        if off != len(data):
            raise ValueError("binary response: %d bytes after the header, outputs claim %d"
                             % (len(data) - n, off - n))
    else:
        js = json.loads(data)
    return js, raw


def values(js, raw, name=None):
    outs = js.get("outputs", [])
    o = next((o for o in outs if name is None or o["name"] == name), None)
    if o is None:
        raise ValueError("no output %r in %s" % (name, [x.get("name") for x in outs]))
    if o["name"] in raw:
        b = raw[o["name"]]
        if o.get("datatype") != "FP32":
            raise ValueError("binary output datatype %r" % o.get("datatype"))
        return list(struct.unpack("<%df" % (len(b) // 4), b)), o
    return [float(v) for v in o["data"]], o


def check_iris(base, models, mlserver):
    exp = json.load(open(os.path.join(models, "bodies/expected.json")))
    body = json.load(open(os.path.join(models, "bodies/iris.json")))
    name = "probabilities"
    if mlserver:
        body["outputs"] = [{"name": "predict_proba"}]
        name = "predict_proba"
    st, h, d = post(base, "/v2/models/iris/infer", json.dumps(body).encode(),
                    {"Content-Type": "application/json"})
    js, raw = parse_v2(st, h, d)
    got, o = values(js, raw, name)
    ok = len(got) == 3 and all(close(a, b) for a, b in zip(got, exp["iris_proba"]))
    return {"ok": ok, "got": got, "expected": exp["iris_proba"], "shape": o.get("shape"),
            "response_bytes": len(d)}


def check_sum1m(base, models):
    bd = os.path.join(models, "bodies")
    exp = json.load(open(os.path.join(bd, "expected.json")))["sum1m"]
    res = {}
    jbody = open(os.path.join(bd, "sum1m.json"), "rb").read()
    bbody = open(os.path.join(bd, "sum1m.bin"), "rb").read()
    hlen = int(open(os.path.join(bd, "sum1m.hlen")).read())
    hdr = json.loads(bbody[:hlen])
    hdr["outputs"] = [{"name": "sum", "parameters": {"binary_data": True}}]
    hb = json.dumps(hdr, separators=(",", ":")).encode()
    bbody_out = hb + bbody[hlen:]
    cases = [("json", jbody, {"Content-Type": "application/json"}),
             ("binary_in", bbody, {"Content-Type": "application/octet-stream",
                                   "Inference-Header-Content-Length": str(hlen)}),
             ("binary_in_out", bbody_out, {"Content-Type": "application/octet-stream",
                                           "Inference-Header-Content-Length": str(len(hb))})]
    for tag, body, headers in cases:
        try:
            st, h, d = post(base, "/v2/models/sum1m/infer", body, headers)
            js, raw = parse_v2(st, h, d)
            got, o = values(js, raw, "sum")
            res[tag] = {"ok": len(got) == 1 and close(got[0], exp), "got": got[:2],
                        "binary_output": "sum" in raw, "response_bytes": len(d)}
            if tag == "binary_in_out" and "sum" not in raw:
                res[tag]["ok"] = False
                res[tag]["error"] = "binary_data output not honoured"
        except Exception as e:  # noqa: BLE001 - reported, not raised
            res[tag] = {"ok": False, "error": str(e)[:300]}
    res["expected"] = exp
    res["ok"] = all(v["ok"] for k, v in res.items() if isinstance(v, dict))
    return res


def main():
    a = sys.argv[1:]
    if len(a) >= 2 and a[0] == "size":
        u = urllib.parse.urlsplit(a[1])
        c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
        if len(a) > 2:
            c.request("POST", u.path, body=open(a[2], "rb").read(),
                      headers={"Content-Type": "application/json"})
        else:
            c.request("GET", u.path)
        r = c.getresponse()
        print(len(r.read()) if r.status == 200 else 0)
        return 0
    if len(a) < 3 or a[0] not in ("iris", "sum1m"):
        sys.exit(__doc__)
    try:
        if a[0] == "iris":
            res = check_iris(a[1], a[2], "--mlserver" in a)
        else:
            res = check_sum1m(a[1], a[2])
    except Exception as e:  # noqa: BLE001
        res = {"ok": False, "error": str(e)[:300]}
    res = {"kind": "check", "what": a[0], "url": a[1], **res}
    print(json.dumps(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
