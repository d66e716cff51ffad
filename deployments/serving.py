"""The synchronous serving path, shared by the REST predict endpoint, the test page and OIP:
paused check, concurrency slot, time limit, and one metrics record per call."""

import time
from collections.abc import Callable

from deployments import limits, metrics, services
from deployments.models import Deployment
from mlserve.errors import ApplicationError
from models_registry import prediction, scripts


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
        raise
    except Exception:
        status, code = 500, "server_error"
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


def predict_sync(deployment: Deployment, *, data=None, upload=None, sampling=None) -> prediction.Result:
    def work():
        if deployment.script is None:
            result = prediction.predict(deployment.model_version, data=data, upload=upload, max_rows=deployment.max_rows, sampling=sampling)
            return result, result.parsed.batch.n_rows
        # The deployment's script: preprocess turns a JSON body into rows, postprocess shapes the answer.
        host = scripts.host_for(deployment.script)
        body, rows = scripts.preprocess(host, data) if data is not None else (None, None)
        result = prediction.predict(deployment.model_version, data=body, upload=upload, max_rows=deployment.max_rows, sampling=sampling)
        if upload is not None and host.defines("postprocess"):
            rows = scripts.uploaded_rows(result.parsed)
        result.body = scripts.postprocess(host, rows, result.body)
        return result, result.parsed.batch.n_rows

    return serve(deployment, "rest", work)
