"""The synchronous serving path, shared by the REST predict endpoint, the test page and OIP:
paused check, concurrency slot, time limit, and one metrics record per call."""

import time
from collections.abc import Callable

from rest_framework.exceptions import APIException, ParseError

from core.errors import ApplicationError, InvalidModel
from core.faults import fault_error
from deployments import limits, metrics, oip, runners, services
from deployments.models import Deployment
from models_registry import prediction, scripts
from models_registry.inputs import check_row_limit
from models_registry.runners import client
from models_registry.runners.client import RunnerFailed, RunnerSpec


def spec(deployment: Deployment) -> RunnerSpec:
    """The deployment's runner spec, kept on the (per-request, briefly cached) deployment object."""
    cached = getattr(deployment, "_runner_spec", None)
    if cached is None:
        cached = deployment._runner_spec = runners.spec_for(deployment)
    return cached


def serve(deployment: Deployment, source: str, work: Callable[[], tuple[object, int]]):
    """Run work() (which returns its answer and the rows it predicted) under the deployment's limits."""
    started = time.perf_counter()
    status, code, rows = 200, None, 0
    try:
        services.ensure_serving(deployment)
        with limits.concurrency_slot(deployment), limits.time_limit(deployment):
            answer, rows = work()
        return answer
    except ApplicationError as exc:
        status, code = exc.status_code, exc.code
        missing = _missing_file(deployment, exc)
        if missing is not None:  # this node lost the file: not the model's fault, not a failed deployment
            status, code = missing.status_code, missing.code
            raise missing from exc
        if isinstance(exc, RunnerFailed):
            runners.mark_failed(deployment, exc)
        raise
    except Exception as exc:
        fault = fault_error(exc)
        status, code = (fault.status_code, fault.code) if fault else (500, "server_error")
        raise
    finally:
        metrics.record(
            deployment.pk,
            source=source,
            status=status,
            latency_ms=(time.perf_counter() - started) * 1000,
            rows=rows,
            error_code=code,
        )


def _missing_file(deployment: Deployment, exc: ApplicationError):
    """The 503 to answer instead of exc when the runner failed because this node's copy of the
    model file is gone. Only the spec this call already built is looked at: the error path
    fetches nothing and cannot raise a second error over the first."""
    if not (isinstance(exc, (InvalidModel, RunnerFailed)) or exc.status_code >= 500):
        return None
    built = getattr(deployment, "_runner_spec", None)
    return runners.missing_artifact(deployment, built) if built is not None else None


def record_refused(deployment: Deployment, source: str, exc: BaseException) -> None:
    """A call addressed to the deployment whose body could not even be read (malformed JSON, a
    bad multipart) counts too: monitoring shows every call, not only those that reached serve()."""
    error = fault_error(exc)
    if error is None and isinstance(exc, APIException):  # DRF's parsers: ParseError, UnsupportedMediaType
        status, code = exc.status_code, "malformed_request" if isinstance(exc, ParseError) else exc.default_code
    elif error is not None:
        status, code = error.status_code, error.code
    else:
        status, code = 500, "server_error"
    metrics.record(deployment.pk, source=source, status=status, latency_ms=None, rows=0, error_code=code)


def predict_sync(deployment: Deployment, *, data=None, upload=None, sampling=None) -> prediction.Result:
    version = deployment.model_version

    def work():
        # Inside serve(): a paused deployment is refused before its model file is looked for
        # (with an object store, fetched), and a file that cannot be had is a counted error.
        result, _rows = scripts.predict(
            version, client.bind(spec(deployment)), data=data, upload=upload, max_rows=deployment.max_rows, sampling=sampling
        )
        return result, result.parsed.batch.n_rows

    return serve(deployment, "rest", work)


def predict_call(deployment: Deployment, read_input: Callable[[], dict]) -> bytes:
    """The REST predict call behind both doors (the fast path and the DRF view): the body read by
    the door (its refusal counted in monitoring), then predict_sync, answered as JSON bytes."""
    try:
        given = read_input()
    except Exception as exc:
        record_refused(deployment, "rest", exc)
        raise
    return predict_sync(deployment, **given).to_json()


def infer(deployment: Deployment, body: bytes, header_length: str | None) -> tuple[bytes, int | None]:
    """An Open Inference Protocol call: (the answer's bytes, the JSON part's length when binary
    tensors follow it). Same limits and runners as predict_sync; not scripted (the protocol
    fixes the bodies)."""
    version = deployment.model_version

    def work():
        header, parsed = oip.parse_inputs(body, header_length, version.input_fields)
        check_row_limit(parsed.batch.n_rows, deployment.max_rows)
        answer = prediction.run(client.bind(spec(deployment)), parsed)
        return oip.build_response(header, oip.output_tensors(answer, version), deployment), parsed.batch.n_rows

    return serve(deployment, "oip", work)
