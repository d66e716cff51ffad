"""Running a queued prediction task: stream the input in chunks, predict, append
to the result files, and record progress after every chunk.

Memory stays flat however large the file: one chunk of rows is in memory at a time.
"""

import gc
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import orjson
import pandas as pd
from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core import storage
from core.errors import ApplicationError, without_paths
from core.text import FORMULA_STARTS, defused_cell
from deployments import delivery, metrics, runners, task_files
from deployments.models import Deployment, DeploymentScript, PredictionTask
from models_registry import files, prediction, scripts
from models_registry.inputs import ParsedInput, parse_json_body
from models_registry.outputs import probability_rows_json
from models_registry.runners import client
from models_registry.runners.client import RunnerSpec
from models_registry.runtimes import Batch
from models_registry.video import Sampling

log = logging.getLogger(__name__)
CHECK_ROWS = 100
JSON_INPUT = "request.json"  # the input name of a task submitted as a JSON body


def _chunks(task: PredictionTask, version, chunk_rows: int, json_body=None) -> Iterator[ParsedInput]:
    fields = version.input_fields
    config = prediction.image_config(version)
    if task.input_name == JSON_INPUT:
        body = json_body if json_body is not None else _json_request(task, task_spec(task))[0]
        parsed = parse_json_body(body, fields, config)
        yield from _split(parsed, chunk_rows)
        return
    yield from files.iter_file(task_files.fetch_input(task), task.input_name, fields, config, chunk_rows, _sampling(task))


def _sampling(task: PredictionTask) -> Sampling:
    return Sampling.from_dict((task.input_options or {}).get("video"))


def task_spec(task: PredictionTask) -> RunnerSpec:
    """The runner for a task: the deployment's, with the version and script version the task
    was submitted under (a version switch or a script change does not change running tasks)."""
    deployment = task.deployment
    version = task.model_version or deployment.model_version
    script = None
    if task.script_version:
        script = DeploymentScript.objects.filter(deployment_id=task.deployment_id, version=task.script_version).first()
        if script is None:
            raise ApplicationError(
                _("Script version %(version)s of this deployment no longer exists.") % {"version": task.script_version}, code="script_failed"
            )
    spec = runners.spec_for(deployment, version=version, script=script)
    spec.timeout = max(spec.timeout, settings.MLSERVE_TASK_CHUNK_TIMEOUT_SECONDS)
    return client.bind(spec)


def _json_request(task: PredictionTask, spec: RunnerSpec):
    """A JSON task's body for the input layer, through the script's preprocess; and the rows
    preprocess returned (None without a script), which postprocess receives as on a sync call."""
    request = json.loads(task_files.fetch_input(task).read_bytes())
    if spec.script is None:
        return request, None
    return scripts.preprocess(spec, request)


def _split(parsed: ParsedInput, chunk_rows: int) -> Iterator[ParsedInput]:
    """A JSON body arrives whole; it is still predicted and recorded chunk by chunk."""
    n = parsed.batch.n_rows
    for start in range(0, n, chunk_rows):
        stop = min(n, start + chunk_rows)
        yield ParsedInput(
            batch=Batch(columns={k: v[start:stop] for k, v in parsed.batch.columns.items()}, n_rows=stop - start),
            ignored_fields=parsed.ignored_fields,
            row_sources=parsed.row_sources[start:stop] if parsed.row_sources else None,
        )


def check_input(task: PredictionTask) -> int | None:
    """At submit time: parse the input (a file's first rows) so a wrong one is refused at
    once, and count its rows. A JSON body is parsed whole, once, through the script."""
    version = task.model_version
    if task.input_name == JSON_INPUT:
        body = _json_request(task, task_spec(task))[0]
        return parse_json_body(body, version.input_fields, prediction.image_config(version)).batch.n_rows
    for _chunk in _chunks(task, version, CHECK_ROWS):
        break
    return files.count_rows(task_files.input_path(task), task.input_name, _sampling(task), version.input_fields)


# ---- result files ------------------------------------------------------------------
#
# result.jsonl holds one line per chunk: {"predictions": [...], "probabilities": [[...]],
# "sources": [...]}, written at numpy speed; the per-row shapes of the JSON result are
# built when it is downloaded. result.csv holds the input columns as sent, then the
# answers, written chunk by chunk with pandas.


def _input_frame(parsed: ParsedInput) -> pd.DataFrame:
    """The input columns to repeat in the CSV result: the rows as sent, or the scalar inputs."""
    if parsed.raw is not None:
        return parsed.raw.reset_index(drop=True)
    return pd.DataFrame({k: v for k, v in parsed.batch.columns.items() if v.ndim == 1})


def _cell(value):
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode() if isinstance(value, (dict, list)) else value


def _neutralise_formulas(table: pd.DataFrame) -> pd.DataFrame:
    """The table with every text cell (and column name) a spreadsheet would run made inert."""
    table = table.rename(columns=lambda name: defused_cell(name) if isinstance(name, str) else name)
    for name in table.columns:
        column = table[name]
        if column.dtype.kind not in "OSU" and not isinstance(column.dtype, pd.StringDtype):
            continue  # numbers and booleans cannot run
        try:
            risky = column.str.startswith(FORMULA_STARTS, na=False).to_numpy(dtype=bool)
        except AttributeError:  # no text in this column
            continue
        if risky.any():
            column = column.copy()
            column[risky] = column[risky].map(defused_cell)
            table[name] = column
    return table


def _write_csv(table: pd.DataFrame, out, header: bool) -> None:
    """Arrow's CSV writer: the same shortest round-trip numbers as pandas, 8x faster
    (writing the CSV was most of a batch task's time). pandas for what Arrow cannot type."""
    import pyarrow as pa
    import pyarrow.csv as arrow_csv

    table = _neutralise_formulas(table)
    try:
        arrow_table = pa.Table.from_pandas(table, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        out.write(table.to_csv(header=header, index=False).encode())
        return
    if header:  # written as pandas writes it (Arrow quotes every name)
        out.write(table.iloc[:0].to_csv(index=False).encode())
    arrow_csv.write_csv(arrow_table, out, write_options=arrow_csv.WriteOptions(include_header=False))


class ResultWriter:
    def __init__(self, task: PredictionTask, classes: list | None):
        task_files.task_dir(task.id).mkdir(parents=True, exist_ok=True)  # a node that only fetched nothing yet
        self.jsonl = open(task_files.result_jsonl(task), "wb")
        self.csv_file = open(task_files.result_csv(task), "wb")
        self.labels = [str(c) for c in classes] if classes else []
        self.input_columns = None
        self.header_written = False

    def write(self, parsed: ParsedInput, answer) -> None:
        line = {"predictions": answer.predictions}
        if answer.probabilities is not None:
            line["probabilities"] = np.ascontiguousarray(answer.probabilities, dtype=np.float64)
        if parsed.row_sources:
            line["sources"] = parsed.row_sources
        if parsed.timestamps is not None:
            line["timestamps"] = parsed.timestamps
        self.jsonl.write(orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n")

        inputs = _input_frame(parsed)
        if self.input_columns is None:
            self.input_columns = list(inputs.columns)
        else:  # later chunks (e.g. other CSVs of a ZIP) line up under the first one's header
            inputs = inputs.reindex(columns=self.input_columns)
        answers = {}
        if parsed.row_sources and "source" not in self.input_columns:
            answers["source"] = parsed.row_sources
        predictions = answer.predictions
        answers["prediction"] = [_cell(v) for v in predictions] if isinstance(predictions[0], (dict, list)) else predictions
        if answer.probabilities is not None:
            for i, label in enumerate(self.labels):
                answers[f"probability({label})"] = answer.probabilities[:, i]
        table = pd.concat([inputs, pd.DataFrame(answers)], axis=1)
        _write_csv(table, self.csv_file, header=not self.header_written)
        self.header_written = True

    def close(self) -> None:
        self.jsonl.close()
        self.csv_file.close()


def _chunk_lines(task: PredictionTask):
    for line in task_files.result_lines(task):
        yield orjson.loads(line)


def _probability_rows(chunk: dict, labels: list[str]) -> list[dict]:
    return [dict(zip(labels, row)) for row in chunk["probabilities"]]


def read_result_rows(task: PredictionTask, limit: int) -> list[dict]:
    """The first result rows, for previews: {"prediction", "probabilities"?, "source"?}."""
    labels = [str(c) for c in (task.model_version.classes or [])] if task.model_version else []
    rows = []
    for chunk in _chunk_lines(task):
        probabilities = _probability_rows(chunk, labels) if "probabilities" in chunk else None
        for i, value in enumerate(chunk["predictions"]):
            row = {"prediction": value}
            if probabilities is not None:
                row["probabilities"] = probabilities[i]
            if "sources" in chunk:
                row["source"] = chunk["sources"][i]
            if "timestamps" in chunk:
                row["timestamp"] = chunk["timestamps"][i]
            rows.append(row)
            if len(rows) >= limit:
                return rows
    return rows


def _array_items(values: list) -> bytes:
    """A JSON array's items without its brackets, to stream one array over many chunks."""
    return orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]


def json_result_stream(task: PredictionTask, model_name: str, version_number: int | None) -> Iterator[bytes]:
    """The JSON result, streamed: {"task_id", "model", "version", "rows", "predictions", "probabilities"?, "sources"?,
    "timestamps"?}."""
    labels = [str(c) for c in (task.model_version.classes or [])] if task.model_version else []
    head = {"task_id": str(task.id), "model": model_name, "version": version_number, "rows": task.rows_done}
    yield orjson.dumps(head)[:-1]
    present = set()
    for key in ("predictions", "probabilities", "sources", "timestamps"):
        if key != "predictions" and key not in present:
            continue
        yield f', "{key}": ['.encode()
        first = True
        for chunk in _chunk_lines(task):
            present.update(chunk)
            if key not in chunk or not chunk[key]:
                continue
            if key == "probabilities":
                items = probability_rows_json(np.asarray(chunk[key], dtype=np.float64), labels)[1:-1]
            else:
                items = _array_items(chunk[key])
            yield (b"" if first else b",") + items
            first = False
        yield b"]"
    yield b"}"


# ---- running -----------------------------------------------------------------------


def _claim(task_id) -> bool:
    """Only one worker runs a task: the queued -> running switch happens once. It takes the
    lease (see deployments.delivery) that the heartbeat then renews."""
    now = timezone.now()
    return bool(
        PredictionTask.objects.filter(pk=task_id, status=PredictionTask.Status.QUEUED).update(
            status=PredictionTask.Status.RUNNING, attempts=F("attempts") + 1, started=now, heartbeat=now, rows_done=0,
            lease_owner=delivery.worker_identity(), lease_expires=delivery.lease_deadline(),
        )
    )


def _still_ours(task_id, **changes) -> bool:
    """Record progress and renew the lease; False once the task was cancelled or handed to another worker."""
    return bool(
        PredictionTask.objects.filter(pk=task_id, status=PredictionTask.Status.RUNNING, lease_owner=delivery.worker_identity())
        .update(heartbeat=timezone.now(), lease_expires=delivery.lease_deadline(), **changes)
    )


def _finish(task, status: str, error: str = "", rows: int = 0) -> bool:
    """The task's end, if it is still ours (not cancelled, not handed to another worker)."""
    finished = PredictionTask.objects.filter(
        pk=task.id, status=PredictionTask.Status.RUNNING, lease_owner=delivery.worker_identity()
    ).update(
        status=status, finished=timezone.now(), heartbeat=timezone.now(), error=error[:5000], lease_owner="", lease_expires=None
    )
    if finished:
        failed = status == PredictionTask.Status.FAILED
        metrics.record(
            task.deployment_id, source="task", status=400 if failed else 200, latency_ms=None, rows=rows,
            error_code="task_failed" if failed else None,
        )
        try:
            metrics.flush()  # tasks are few: no reason to hold their counts back
        except Exception:  # kept for the next flush (a locked database)
            log.warning("task %s: metrics flush failed; kept for the next one", task.id)
    return bool(finished)


class Heartbeat:
    """Proves the worker is alive while one long chunk is being predicted."""

    def __init__(self, task_id, interval: float):
        self.task_id, self.interval = task_id, interval
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        try:
            while not self.stopped.wait(self.interval):
                try:
                    _still_ours(self.task_id)
                except Exception:  # a locked database: the next beat tries again, the lease has room for it
                    log.warning("task %s: heartbeat failed", self.task_id, exc_info=True)
        finally:
            connection.close()  # this thread's own connection

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join(timeout=5)


def _predict_chunks(task: PredictionTask, version, spec: RunnerSpec, writer: ResultWriter) -> int | None:
    """Rows done, or None when the task stopped being ours (cancelled) on the way."""
    json_body = request_rows = None
    if task.input_name == JSON_INPUT:
        json_body, request_rows = _json_request(task, spec)
    done = 0
    for parsed in _chunks(task, version, settings.MLSERVE_BATCH_CHUNK_ROWS, json_body):
        writer.write(parsed, prediction.run(spec, parsed))
        done += parsed.batch.n_rows
        # One write per chunk: progress, and a heartbeat. It matches no row once the
        # task was cancelled or handed to another worker: stop then.
        if not _still_ours(task.id, rows_done=done):
            return None
    writer.close()
    if task.input_name == JSON_INPUT:
        _write_script_response(task, version, spec, request_rows, done)
    return done


def _write_script_response(task: PredictionTask, version, spec: RunnerSpec, request_rows, done: int) -> None:
    """The script's postprocess(rows, outputs) over the whole result, as on a sync call:
    a JSON body arrives whole, so its answer fits in memory too. File tasks are not scripted."""
    if spec.script is None or not client.defines(spec, "postprocess"):
        return
    task.rows_done = done
    outputs = orjson.loads(b"".join(json_result_stream(task, version.model.name, version.number)))
    response = scripts.postprocess(spec, request_rows, outputs)
    task_files.script_response(task).write_bytes(orjson.dumps(response, option=orjson.OPT_SERIALIZE_NUMPY))


class WorkerStopping(BaseException):
    """SIGTERM reached the worker running a task (a stop, a deploy, systemd stopping the unit)."""


@contextmanager
def _handed_back_on_sigterm(task: PredictionTask):
    """While a task runs in a worker's main thread, SIGTERM hands it back to the queue at once
    (another worker starts it again) instead of leaving it to its lease, or killing it unrecorded."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise WorkerStopping()

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    except WorkerStopping:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the hand-back itself is not interrupted
        task_files.remove_results(task)  # before the task is anyone else's: the next worker writes them anew
        # The signal may have cut a query short: that connection is unusable; the hand-back takes a new one.
        try:
            connection.close()
        except Exception:
            pass
        try:
            fresh = PredictionTask.objects.filter(pk=task.pk).first()
            if fresh is not None and fresh.status == PredictionTask.Status.RUNNING:
                delivery.hand_back(fresh, "worker stopped")
        except Exception:  # its lease runs out instead, and recovery queues it again
            log.warning("task %s: could not hand it back on SIGTERM", task.pk, exc_info=True)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)


_frozen = False


def _freeze_long_lived_objects() -> None:
    """Once per worker process: the collector stops walking modules and models (see gunicorn.conf.py)."""
    global _frozen
    if not _frozen:
        gc.freeze()
        _frozen = True


def run(task_id) -> str:
    """The queue's entry point for one task; returns what happened (for logs and tests)."""
    task = PredictionTask.objects.select_related("deployment", "model_version__model").filter(pk=task_id).first()
    if task is None:
        return "gone"
    if task.status != PredictionTask.Status.QUEUED:
        return f"skipped ({task.status})"
    if task.deployment.status != Deployment.Status.RUNNING:
        return "waiting (deployment paused)"  # deployment_start queues it again
    if not _claim(task.id):
        return "skipped (claimed elsewhere)"
    version = task.model_version or task.deployment.model_version
    _freeze_long_lived_objects()
    started = time.perf_counter()
    writer = None
    # Everything after the claim fails the task with its real cause, at once: a runner that
    # cannot start, a result file that cannot be written, a script that is gone.
    try:
        spec = task_spec(task)
        writer = ResultWriter(task, version.classes)
        with Heartbeat(task.id, max(0.5, settings.MLSERVE_TASK_LEASE_SECONDS / 3)), _handed_back_on_sigterm(task):
            done = _predict_chunks(task, version, spec, writer)
        if done is not None:
            task_files.publish_results(task)  # to the object store, if any, before anyone may download them
    except WorkerStopping:
        if writer is not None:
            writer.close()
        raise SystemExit(0) from None
    except ApplicationError as exc:
        message = exc.message
        if not storage.is_remote() and not os.access(storage.local_path(version.artifact.name), os.R_OK):
            message = f"The model file is missing from this server's artifact store, so the model could not load ({exc.message})"
        if _finish(task, PredictionTask.Status.FAILED, message):
            task_files.remove_results(task)
        return "failed"
    except Exception as exc:
        log.exception("task %s failed", task.id)
        if _finish(task, PredictionTask.Status.FAILED, f"Unexpected error: {type(exc).__name__}: {without_paths(str(exc))}"):
            task_files.remove_results(task)
        return "failed"
    finally:
        if writer is not None:
            writer.close()
        task_files.discard_local(task)
    if done is None:
        # Cancelled: its files go. Handed to another worker (our lease ran out): the files are theirs now.
        if PredictionTask.objects.filter(pk=task.id, status=PredictionTask.Status.CANCELLED).exists():
            task_files.remove_results(task)
            return "stopped (cancelled)"
        return "stopped (handed to another worker)"
    PredictionTask.objects.filter(pk=task.id, status=PredictionTask.Status.RUNNING, lease_owner=delivery.worker_identity()).update(
        rows_total=done
    )
    if not _finish(task, PredictionTask.Status.SUCCEEDED, rows=done):
        return "stopped (cancelled or handed to another worker)"
    log.info("task %s: %d rows in %.2fs", task.id, done, time.perf_counter() - started)
    return "succeeded"
