"""The practical ceiling for Python HTTP serving: a bare WSGI app calling the same loaded model.

gunicorn bench.ceiling_app:application, with MODEL_PATH pointing at a joblib file. With
CEILING_SHORTCUT=1 it computes the probabilities as mlserve does for a LogisticRegression
(models_registry.runtimes.sklearn.LinearProba), so that the two differ only in the HTTP
layers: mlserve's authentication, limits, metrics and input layer against nothing."""

import json
import os
import warnings

import joblib
import numpy as np

# As mlserve does: the model was fitted on a DataFrame; an array of the same columns is fine.
warnings.filterwarnings("ignore", message="X does not have valid feature names")
model = joblib.load(os.environ["MODEL_PATH"])
classes = [int(c) for c in model.classes_]
predict_proba = model.predict_proba
if os.environ.get("CEILING_SHORTCUT") == "1":
    from models_registry.runtimes.sklearn import LinearProba

    predict_proba = LinearProba.verified(model)


def application(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = json.loads(environ["wsgi.input"].read(length))
    split = body["dataframe_split"]
    X = np.asarray(split["data"], dtype=np.float64)
    proba = predict_proba(X)
    answer = {
        "predictions": [classes[i] for i in proba.argmax(axis=1)],
        "probabilities": [dict(zip(map(str, classes), row)) for row in proba.tolist()],
    }
    data = json.dumps(answer).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]
