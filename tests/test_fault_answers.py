"""Each fault answers what it is, in-process (the fault suite, `make test-faults`, does the same
with real processes): 503 with a reason code and Retry-After for a locked database, a full disk,
a missing model file; the model's row and its file both stay or both go; /healthz names the part
that is down and /livez stays trivial."""

import errno
import os

from django.db import OperationalError

from deployments import services
from models_registry import artifacts
from models_registry.models import ModelVersion, RegisteredModel
from tests.model_files import IRIS_ROW


def locked(*args, **kwargs):
    raise OperationalError("database is locked")


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_locked_database_answers_503_database_locked_with_retry_after(api, iris, monkeypatch):
    monkeypatch.setattr(services, "deployment_pause", locked)
    response = api.post("/api/v1/deployments/iris/pause")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "database_locked"


def test_a_locked_database_on_a_page_answers_a_503_page(owner_client, iris, monkeypatch):
    monkeypatch.setattr(services, "deployment_pause", locked)
    response = owner_client.post("/deployments/iris/pause/")
    assert response.status_code == 503 and b"database_locked" in response.content


def test_an_unreachable_database_answers_503_database_unavailable(api, iris, monkeypatch):
    def gone(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1, port 5432 failed: Connection refused")

    monkeypatch.setattr(services, "deployment_pause", gone)
    response = api.post("/api/v1/deployments/iris/pause")
    assert response.status_code == 503 and response.json()["error"]["code"] == "database_unavailable"


def test_a_full_disk_answers_503_disk_full_and_keeps_no_task(api, iris, monkeypatch):
    from deployments.models import PredictionTask

    monkeypatch.setattr(services, "_store_input", disk_full)
    response = api.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, format="json")
    assert response.status_code == 503 and response["Retry-After"] == "60"
    assert response.json()["error"]["code"] == "disk_full"
    assert not PredictionTask.objects.exists()


def test_a_bug_is_still_a_500(api, iris, monkeypatch):
    def bug(*args, **kwargs):
        raise KeyError("oops")

    monkeypatch.setattr(services, "deployment_pause", bug)
    api.raise_request_exception = False
    response = api.post("/api/v1/deployments/iris/pause")
    assert response.status_code == 500 and response.json()["error"]["code"] == "server_error"


def test_a_missing_model_file_answers_503_artifact_missing_and_healthz_says_so(api, iris, client):
    path = ModelVersion.objects.get().artifact.path
    os.rename(path, path + ".away")
    from deployments import runners
    from deployments.models import Deployment

    runners.stop(Deployment.objects.get())  # the runner that had it loaded is gone too (a restarted node)
    response = api.post("/api/v1/deployments/iris/predict", {"inputs": [IRIS_ROW]}, format="json")
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "artifact_missing" and response["Retry-After"] == "30"
    assert Deployment.objects.get().status == "running"  # not the deployment's fault
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json()["checks"]["database"] == "ok"
    assert "no readable model file" in health.json()["checks"]["artifacts"]
    assert client.get("/livez").status_code == 200
    os.rename(path + ".away", path)
    assert client.get("/healthz").status_code == 200


def test_a_model_whose_file_cannot_be_removed_stays_whole(api, upload_model, monkeypatch):
    assert upload_model("iris_logreg.skops", name="iris").status_code == 201
    path = ModelVersion.objects.get().artifact.path

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(artifacts.os, "rename", read_only)
    response = api.delete("/api/v1/models/iris")
    assert response.status_code == 503 and response.json()["error"]["code"] == "artifact_store_unwritable"
    assert RegisteredModel.objects.exists() and os.path.exists(path)


def test_a_model_whose_row_cannot_be_deleted_keeps_its_file(api, upload_model, monkeypatch):
    assert upload_model("iris_logreg.skops", name="iris").status_code == 201
    path = ModelVersion.objects.get().artifact.path
    monkeypatch.setattr(RegisteredModel, "delete", locked)
    response = api.delete("/api/v1/models/iris")
    assert response.status_code == 503 and response.json()["error"]["code"] == "database_locked"
    assert RegisteredModel.objects.exists() and os.path.exists(path)
    monkeypatch.undo()
    assert api.delete("/api/v1/models/iris").status_code == 204
    assert not RegisteredModel.objects.exists() and not os.path.exists(path)


def test_a_task_whose_model_file_is_missing_fails_at_once_with_that_cause(api, iris, inline_queue, django_capture_on_commit_callbacks):
    from deployments import runners
    from deployments.models import Deployment, PredictionTask

    path = ModelVersion.objects.get().artifact.path
    os.rename(path, path + ".away")
    runners.stop(Deployment.objects.get())
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, format="json")
    assert response.status_code == 202
    task = PredictionTask.objects.get()
    assert task.status == "failed" and task.attempts == 1
    assert "model file is missing" in task.error


def test_a_refused_call_counts_as_its_error_and_never_looks_for_the_model_file(api, iris, monkeypatch):
    """A paused deployment answers 503 before any runner spec is built: the check for a lost
    model file (which, with an object store, would fetch it) is not made, and monitoring records
    the 503 the caller got, not a success."""
    from deployments import runners, serving

    assert api.post("/api/v1/deployments/iris/pause").status_code == 200
    looked = []
    monkeypatch.setattr(runners, "missing_artifact", lambda *args: looked.append(args))
    recorded = []
    monkeypatch.setattr(serving.metrics, "record", lambda deployment_id, **fields: recorded.append(fields))
    response = api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json")
    assert response.status_code == 503, response.content
    assert looked == []
    assert [(r["status"], r["error_code"]) for r in recorded] == [(503, response.json()["error"]["code"])]
