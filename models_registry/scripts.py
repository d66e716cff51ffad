"""Pre- and post-processing scripts: run in the deployment's runner, beside its model.

A script is the owner's own code. It runs in the same sandboxed runner process as
the model it serves (preprocess -> input layer -> model -> postprocess, no other
process on the way), so it can read nothing of mlserve's and reach no network. A call
that raises answers `script_failed` with the script's traceback; one that uses more
CPU than MLSERVE_SCRIPT_TIMEOUT_SECONDS answers `script_timeout`.
"""

import json
import uuid

from core.errors import ApplicationError
from models_registry import prediction
from models_registry.prediction import spec_for_version
from models_registry.runners import client
from models_registry.runners.client import RunnerSpec

TEMPLATE = '''"""Pre- and post-processing for this deployment; both functions are optional.

preprocess(request) gets the JSON body of a predict or task request, in any shape
you choose, and returns the rows for the model: a list of records {"field": value}
(or a body such as {"dataframe_split": ...}).

postprocess(rows, outputs) gets those rows (an uploaded file's rows as records) and mlserve's
answer {"predictions": [...], "probabilities": [...], ...}, and returns the body
sent back to the caller.
"""


def preprocess(request):
    records = request.get("inputs", request)
    return records if isinstance(records, list) else [records]


def postprocess(rows, outputs):
    return outputs
'''
BODY_KEYS = ("inputs", "dataframe_split", "dataframe_records", "instances")


class ScriptFailed(ApplicationError):
    status_code = 422
    code = "script_failed"


def trial_spec(version, source: str) -> RunnerSpec:
    """A short-lived runner with this version's model and an unsaved script."""
    return spec_for_version(version, key=f"{client.namespace()}-trial-{uuid.uuid4().hex[:12]}", script=source)


def functions_of(version, source: str) -> list[str]:
    """The functions a script defines, once it has loaded in a runner beside the model."""
    spec = trial_spec(version, source)
    try:
        return client.ensure(spec).script or []
    finally:
        client.stop(keys=[spec.key])


def preprocess(spec: RunnerSpec, request):
    """The body for the input layer, from the script's preprocess() (the request itself without one)."""
    if not client.defines(spec, "preprocess"):
        return request, None
    rows = client.script_call(spec, "preprocess", [request])
    if isinstance(rows, list):
        return {"inputs": rows}, rows
    if isinstance(rows, dict) and any(k in rows for k in BODY_KEYS):
        return rows, rows.get("inputs") if isinstance(rows.get("inputs"), list) else None
    raise ScriptFailed(
        "The script's preprocess() must return a list of records, or a body with "
        f"{', '.join(BODY_KEYS)}; it returned {type(rows).__name__}."
    )


def uploaded_rows(parsed) -> list[dict] | None:
    """An uploaded file's rows as records, every column as sent, for postprocess (a CSV's
    id columns, a ZIP's member names); None for a single image. JSON-safe: NaN is None."""
    if parsed.raw is None:
        return None
    return json.loads(parsed.raw.to_json(orient="records", date_format="iso"))


def postprocess(spec: RunnerSpec, rows, answer: dict):
    if not client.defines(spec, "postprocess"):
        return answer
    return client.script_call(spec, "postprocess", [rows, answer])


def predict(version, spec: RunnerSpec, *, data=None, upload=None, max_rows: int | None = None, sampling=None):
    """(result, the rows postprocess saw): a prediction through the spec's script, the one place a
    script is applied to a call. preprocess turns a JSON body into rows, the model predicts,
    postprocess shapes the answer (result.response); an uploaded file's rows go to postprocess
    as sent. Without a script, the model's answer as it is. Synchronous serving and the script
    trial call this; a queued task applies the same preprocess and postprocess around its chunks."""
    if spec.script is None:
        return prediction.predict(version, data=data, upload=upload, max_rows=max_rows, spec=spec, sampling=sampling), None
    body, rows = preprocess(spec, data) if data is not None else (None, None)
    result = prediction.predict(version, data=body, upload=upload, max_rows=max_rows, spec=spec, sampling=sampling)
    if upload is not None and client.defines(spec, "postprocess"):
        rows = uploaded_rows(result.parsed)
    result.response = postprocess(spec, rows, result.body)
    return result, rows

