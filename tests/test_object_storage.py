"""MLSERVE_STORAGE_URL=s3://...: artifacts and task files in an S3-compatible store (here
moto's in-process S3), each node's artifact cache, and nothing stored for a refused file or
left behind by a deleted one. The cluster test (make test-cluster) does the same across
two real nodes and a real S3 server."""

import io
import json
import os

import boto3
import pytest
from moto import mock_aws

from deployments.models import PredictionTask
from mlserve.settings import storage_backend
from models_registry import artifact_cache
from models_registry.models import ModelVersion
from tests.model_files import IRIS_ROW

BUCKET = "mlserve-test"
CSV = b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


@pytest.fixture
def s3(settings, monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        settings.MLSERVE_STORAGE_URL = f"s3://{BUCKET}/site"
        settings.STORAGES = {**settings.STORAGES, "default": storage_backend(settings.MLSERVE_STORAGE_URL)}
        yield client


def keys(s3, prefix: str = "site/") -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def csv_upload(content: bytes = CSV, name: str = "flowers.csv"):
    data = io.BytesIO(content)
    data.name = name
    return data


def test_an_uploaded_model_goes_to_the_store_and_is_served_from_the_nodes_cache(s3, api, iris, isolated_data_dir):
    version = ModelVersion.objects.get()
    assert keys(s3, "site/models/") == [f"site/{version.artifact.name}"]
    assert not (isolated_data_dir / "media").exists()  # nothing in the data dir but the cache
    cached = artifact_cache.local_artifact(version)
    assert cached.parent == isolated_data_dir / "cache" / "artifacts" and cached.name.startswith(version.sha256)
    response = api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json")
    assert response.status_code == 200, response.json()


def test_another_node_fetches_the_artifact_once_and_checks_its_hash(s3, iris, isolated_data_dir):
    version = ModelVersion.objects.get()
    cached = artifact_cache.local_artifact(version)
    original = cached.read_bytes()
    cached.unlink()  # a node that never saw the upload
    fetched = artifact_cache.local_artifact(version)
    assert fetched == cached and fetched.read_bytes() == original
    assert not [p for p in fetched.parent.iterdir() if p.name.endswith(".part")]


def test_an_artifact_changed_in_the_store_is_refused_with_503(s3, iris):
    version = ModelVersion.objects.get()
    artifact_cache.local_artifact(version).unlink()
    s3.put_object(Bucket=BUCKET, Key=f"site/{version.artifact.name}", Body=b"something else")
    with pytest.raises(artifact_cache.ArtifactUnavailable) as caught:
        artifact_cache.local_artifact(version)
    assert caught.value.status_code == 503 and "sha256" in caught.value.message


def test_the_cache_evicts_the_least_recently_used_files_beyond_its_size(s3, settings):
    folder = artifact_cache.cache_dir()
    for age, name in enumerate(["oldest", "older", "recent", "just-fetched"]):
        path = folder / f"{name}.onnx"
        path.write_bytes(b"x" * 600_000)
        os.utime(path, (1000 + age, 1000 + age))
    settings.MLSERVE_ARTIFACT_CACHE_MB = 2  # 2.4 MB cached: one file too many
    artifact_cache.evict(keep=folder / "just-fetched.onnx")
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "just-fetched.onnx", "older.onnx", "recent.onnx"
    ]


def test_a_refused_upload_stores_nothing(s3, api, isolated_data_dir):
    response = api.post("/api/v1/models", {"name": "junk", "file": csv_upload(b"not a model", "junk.onnx")}, format="multipart")
    assert response.status_code == 400
    assert keys(s3) == []
    assert not any((isolated_data_dir / "tmp").iterdir())


def test_a_deleted_model_leaves_nothing_in_the_store_or_the_cache(s3, api, upload_model, django_capture_on_commit_callbacks):
    assert upload_model("iris_logreg.skops", name="spare").status_code == 201
    version = ModelVersion.objects.get()
    cached = artifact_cache.local_artifact(version)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete("/api/v1/models/spare").status_code == 204
    assert keys(s3) == [] and not cached.exists()


def test_a_queued_tasks_input_and_results_live_in_the_store_and_stream_back(s3, api, iris, submit, isolated_data_dir):
    response = submit("iris", file=csv_upload())
    assert response.status_code == 202, response.json()
    task = PredictionTask.objects.get()
    assert task.status == PredictionTask.Status.SUCCEEDED, task.error
    stored = {k.rsplit("/", 1)[1] for k in keys(s3, f"site/tasks/{task.id}/")}
    assert stored == {"input.csv", "result.jsonl", "result.csv"}
    assert not (isolated_data_dir / "tasks" / str(task.id)).exists()  # the working folder is emptied
    answer = api.get(f"/api/v1/tasks/{task.id}/result?format=csv")
    lines = b"".join(answer.streaming_content).decode().strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("sepal_length,")
    predictions = api.get(f"/api/v1/tasks/{task.id}/result")
    assert len(json.loads(b"".join(predictions.streaming_content))["predictions"]) == 2


def test_a_refused_task_file_stores_nothing(s3, api, iris, submit):
    response = submit("iris", file=csv_upload(b"colour,size\nred,3\n"))
    assert response.status_code == 400
    assert keys(s3, "site/tasks/") == []


def test_deleting_a_deployment_removes_its_task_files_from_the_store(s3, api, iris, submit, django_capture_on_commit_callbacks):
    assert submit("iris", file=csv_upload()).status_code == 202
    assert keys(s3, "site/tasks/")
    with django_capture_on_commit_callbacks(execute=True):
        assert api.delete("/api/v1/deployments/iris").status_code == 204
    assert keys(s3, "site/tasks/") == []


def test_a_storage_url_that_is_not_s3_stops_start_up():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="MLSERVE_STORAGE_URL"):
        storage_backend("ftp://somewhere/models")
