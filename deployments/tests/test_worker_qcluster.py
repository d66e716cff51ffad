"""Queued tasks end to end through a real `manage.py qcluster` process: a CSV, a ZIP of
images, progress that moves, and a worker killed mid-task whose task is not lost."""

import io
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from django.conf import settings

from deployments.models import PredictionTask
from models_registry.tests.test_image_predictions import SAMPLES, digit_png
from tests.model_files import iris_frame
from tests.subprocess_env import child_env

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def start_worker(data_dir: Path, log: Path, **env) -> subprocess.Popen:
    """`python manage.py worker` (qcluster with task recovery), as the Procfile runs it."""
    environment = child_env(MLSERVE_DATA_DIR=str(data_dir), MLSERVE_QUEUE_WORKERS="1", **env)
    return subprocess.Popen(
        [sys.executable, "manage.py", "worker"], cwd=ROOT, env=environment, stdout=open(log, "ab"), stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> None:
    """SIGTERM to qcluster itself (it stops its workers); SIGKILL to the whole group kills them all at once."""
    try:
        if sig == signal.SIGKILL:
            os.killpg(process.pid, sig)
        else:
            process.send_signal(sig)
        process.wait(timeout=15)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left
    except ProcessLookupError:
        pass
    process.wait()


def wait_for(check, timeout: float, what: str, log: Path):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; worker log:\n{log.read_text()[-3000:]}")


def iris_csv(rows: int) -> io.BytesIO:
    X, _ = iris_frame()
    repeats = rows // len(X) + 1
    import pandas as pd

    frame = pd.concat([X] * repeats, ignore_index=True).iloc[:rows]
    data = io.BytesIO(frame.to_csv(index=False).encode())
    data.name = "rows.csv"
    return data


def task_state(task_id):
    return PredictionTask.objects.filter(pk=task_id).values("status", "rows_done", "rows_total", "attempts", "error").first()


@pytest.fixture
def worker_log(tmp_path):
    return tmp_path / "qcluster.log"


def test_csv_and_zip_tasks_run_in_a_real_worker_with_moving_progress(api, deploy, isolated_data_dir, worker_log):
    deploy("iris_logreg.skops", "iris")
    deploy("digits_logreg.onnx", "digits")
    api.patch("/api/v1/models/digits-model", {"preprocessing": {"scale": 1 / 15}}, format="json")
    worker = start_worker(isolated_data_dir, worker_log, MLSERVE_BATCH_CHUNK_ROWS="500")
    try:
        submitted = api.post("/api/v1/deployments/iris/tasks", {"file": iris_csv(60_000)}, format="multipart")
        assert submitted.status_code == 202
        task_id = submitted.json()["task_id"]
        seen = set()

        def finished():
            state = task_state(task_id)
            seen.add(state["rows_done"])
            return state["status"] in ("succeeded", "failed") and state

        state = wait_for(finished, 120, "the CSV task", worker_log)
        assert state["status"] == "succeeded", state
        assert state["rows_done"] == state["rows_total"] == 60_000
        assert len([n for n in seen if 0 < n < 60_000]) >= 2, f"progress did not move: {sorted(seen)}"
        result = api.get(f"/api/v1/tasks/{task_id}/result?format=csv")
        lines = b"".join(result.streaming_content).decode().splitlines()
        assert len(lines) == 60_001 and lines[0].endswith("prediction,probability(0),probability(1),probability(2)")

        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            labels = []
            for index in SAMPLES:
                png, label = digit_png(index)
                zf.writestr(f"img/{index}.png", png)
                labels.append(label)
        archive.seek(0)
        archive.name = "digits.zip"
        submitted = api.post("/api/v1/deployments/digits/tasks", {"file": archive}, format="multipart")
        assert submitted.status_code == 202, submitted.json()
        zip_id = submitted.json()["task_id"]
        state = wait_for(lambda: task_state(zip_id)["status"] in ("succeeded", "failed") and task_state(zip_id), 60, "the ZIP task", worker_log)
        assert state["status"] == "succeeded", state
        import json

        body = json.loads(b"".join(api.get(f"/api/v1/tasks/{zip_id}/result").streaming_content))
        assert body["predictions"] == labels
        assert body["sources"] == [f"img/{i}.png" for i in SAMPLES]
    finally:
        stop(worker)


def test_a_killed_worker_does_not_lose_its_task(api, deploy, isolated_data_dir, worker_log):
    deploy("iris_logreg.skops", "iris")
    worker = start_worker(isolated_data_dir, worker_log, MLSERVE_BATCH_CHUNK_ROWS="200", MLSERVE_TASK_LEASE_SECONDS="2")
    try:
        submitted = api.post("/api/v1/deployments/iris/tasks", {"file": iris_csv(150_000)}, format="multipart")
        task_id = submitted.json()["task_id"]
        wait_for(lambda: task_state(task_id)["rows_done"] > 0, 60, "the task to start", worker_log)
        stop(worker, signal.SIGKILL)  # the whole qcluster, mid-task
        state = task_state(task_id)
        assert state["status"] == "running" and 0 < state["rows_done"] < 150_000, state
    finally:
        stop(worker, signal.SIGKILL)

    # The platform comes back: a task whose lease ran out is queued again as the new worker starts.
    time.sleep(2.5)
    worker = start_worker(isolated_data_dir, worker_log, MLSERVE_BATCH_CHUNK_ROWS="5000", MLSERVE_TASK_LEASE_SECONDS="2")
    try:
        state = wait_for(
            lambda: task_state(task_id)["status"] in ("succeeded", "failed") and task_state(task_id), 120, "the recovered task", worker_log
        )
    finally:
        stop(worker)
    assert state["status"] == "succeeded", state
    assert state["attempts"] == 2
    assert state["rows_done"] == 150_000
    assert "Recovered tasks: 1 queued again" in worker_log.read_text()
    assert PredictionTask.objects.get(pk=task_id).notice == "worker lost, attempt 2"
    assert settings.MLSERVE_TASK_MAX_ATTEMPTS >= 2
