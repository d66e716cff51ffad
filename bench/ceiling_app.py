"""The practical ceiling for Python HTTP serving: a bare WSGI app calling the same loaded model.

gunicorn bench.ceiling_app:application, with MODEL_PATH pointing at a joblib file."""

import json
import os
import warnings

import joblib
import numpy as np

# As mlserve does: the model was fitted on a DataFrame; an array of the same columns is fine.
warnings.filterwarnings("ignore", message="X does not have valid feature names")
model = joblib.load(os.environ["MODEL_PATH"])
classes = [int(c) for c in model.classes_]


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length))
    split = body["dataframe_split"]
    X = np.asarray(split["data"], dtype=np.float64)
    proba = model.predict_proba(X)
    answer = {
        "predictions": [classes[i] for i in proba.argmax(axis=1)],
        "probabilities": [dict(zip(map(str, classes), row)) for row in proba.tolist()],
    }
    data = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
