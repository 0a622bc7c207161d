"""bench/iris_fastapi.py - the FastAPI + uvicorn baseline of PERF.md §5 (G3).

Started by bench/lib.sh (start_fastapi) with Debian's /usr/bin/python3:
    taskset -c 0 /usr/bin/python3 -m uvicorn --app-dir bench iris_fastapi:app \
        --host 127.0.0.1 --port PORT --workers 1 --no-access-log --log-level warning
Trained at import on iris (bundled with scikit-learn, no download); ready when
GET /docs answers 200. The same coefficients are axle's MatMul-Add-Softmax graph
(bench/serve_models.py).
"""
import numpy as np
from fastapi import FastAPI, Request
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
clf = LogisticRegression(max_iter=1000).fit(*load_iris(return_X_y=True))
app = FastAPI()
@app.post("/v2/models/iris/infer")
async def infer(req: Request):
    inp = (await req.json())["inputs"][0]
    p = clf.predict_proba(np.asarray(inp["data"], np.float32).reshape(inp["shape"])).astype(np.float32)
    return {"model_name": "iris", "outputs": [{"name": "probabilities", "datatype": "FP32",
            "shape": list(p.shape), "data": p.ravel().tolist()}]}
