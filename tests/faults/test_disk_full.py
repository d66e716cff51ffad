"""Storage faults with real filesystems: a full disk (a 1 MB tmpfs under the data dir) answers
503 disk_full with Retry-After, keeps nothing half-written, and serving goes on; a read-only
artifact store (a read-only bind mount) keeps a model's row and file together on delete."""

import errno
import subprocess
from pathlib import Path

import pytest

from deployments.models import PredictionTask
from deployments.tests.test_worker_qcluster import iris_csv

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tiny_disk(isolated_data_dir, monkeypatch):
    """$MLSERVE_DATA_DIR/tasks on a 1 MB tmpfs; where mounting is not allowed, writes there fail as a full disk would."""
    folder = Path(isolated_data_dir) / "tasks"
    folder.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(folder)], capture_output=True).returncode == 0
    if not mounted:
        import builtins

        real_open = builtins.open

        def full_open(path, mode="r", *args, **kwargs):
            if "w" in mode and str(folder) in str(path):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real_open(path, mode, *args, **kwargs)

        monkeypatch.setattr(builtins, "open", full_open)
    try:
        yield folder, mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def test_a_task_larger_than_the_free_disk_answers_503_disk_full_and_keeps_nothing(api, deploy, tiny_disk):
    folder, mounted = tiny_disk
    deploy("iris_logreg.skops", "iris", max_batch_file_size=50_000_000)
    response = api.post("/api/v1/deployments/iris/tasks", {"file": iris_csv(150_000)}, format="multipart")  # ~2.4 MB
    assert response.status_code == 503, response.content
    assert response.json()["error"]["code"] == "disk_full" and response["Retry-After"] == "60"
    assert not PredictionTask.objects.exists()
    assert not [p for p in folder.rglob("*") if p.is_file()]  # no half-written input left behind
    if not mounted:
        return  # the stand-in full disk never has room
    small = api.post("/api/v1/deployments/iris/tasks", {"file": iris_csv(100)}, format="multipart")
    assert small.status_code == 202, small.content  # the disk has room for this one
    assert api.post("/api/v1/deployments/iris/predict", {"inputs": [{"sepal_length": 5.1, "sepal_width": 3.5,
                    "petal_length": 1.4, "petal_width": 0.2}]}, format="json").status_code == 200


def test_a_model_on_a_read_only_store_is_not_deleted_by_half(api, upload_model, isolated_data_dir):
    from models_registry.models import ModelVersion, RegisteredModel

    assert upload_model("iris_logreg.skops", name="iris").status_code == 201
    path = Path(ModelVersion.objects.get().artifact.path)
    media = Path(isolated_data_dir) / "media"
    mounted = subprocess.run(["mount", "--bind", str(media), str(media)], capture_output=True).returncode == 0
    if not mounted:
        pytest.skip("bind mounts are not allowed here (tests/test_fault_answers.py covers this with a stand-in)")
    try:
        assert subprocess.run(["mount", "-o", "remount,ro,bind", str(media)], capture_output=True).returncode == 0
        response = api.delete("/api/v1/models/iris")
        assert response.status_code == 503 and response.json()["error"]["code"] == "artifact_store_unwritable"
        assert "nothing was deleted" in response.json()["error"]["message"]
        assert RegisteredModel.objects.exists() and path.exists()  # both stay
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)
    assert api.delete("/api/v1/models/iris").status_code == 204
    assert not RegisteredModel.objects.exists() and not path.exists()  # both go
