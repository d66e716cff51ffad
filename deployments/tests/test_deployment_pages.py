"""Deployment and task pages."""


import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from deployments.models import Deployment, DeploymentKey, PredictionTask

CSV = b"sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3\n"


def test_empty_list_says_what_to_do(owner_client):
    page = owner_client.get("/deployments/").content.decode()
    assert "Nothing deployed yet" in page


def test_create_from_the_page(owner_client, upload_model):
    upload_model("iris_logreg.skops", name="iris-model")
    page = owner_client.get("/deployments/new/?model=iris-model").content.decode()
    assert '<option value="iris-model" selected>' in page
    response = owner_client.post(
        "/deployments/new/",
        {"name": "iris", "model": "iris-model", "version": "", "description": "", "timeout_seconds": 10, "max_rows": 100,
         "max_concurrency": 4, "max_batch_file_mb": 50},
    )
    assert response.status_code == 302 and response["Location"] == "/deployments/iris/"
    deployment = Deployment.objects.get()
    assert deployment.max_rows == 100 and deployment.max_batch_file_size == 50 * 1024 * 1024


def test_create_with_a_taken_name_is_a_form_error(owner_client, iris):
    response = owner_client.post(
        "/deployments/new/",
        {"name": "iris", "model": "iris-model", "timeout_seconds": 10, "max_rows": 100, "max_concurrency": 4, "max_batch_file_mb": 50},
    )
    assert "already have a deployment" in response.content.decode()


def test_detail_has_status_buttons_and_an_api_panel(owner_client, iris):
    page = owner_client.get("/deployments/iris/").content.decode()
    assert 'data-status="running"' in page and 'id="pause-button"' in page
    assert "http://testserver/api/v1/deployments/iris/predict" in page
    assert "$MLSERVE_TOKEN" in page and "import requests" in page
    assert "/v2/models/iris/infer" in page


def test_pause_start_switch_and_limits_from_the_page(owner_client, iris, api, model_files):
    owner_client.post("/deployments/iris/pause/")
    assert Deployment.objects.get().status == "paused"
    assert 'id="start-button"' in owner_client.get("/deployments/iris/").content.decode()
    owner_client.post("/deployments/iris/start/")
    assert Deployment.objects.get().status == "running"
    with open(model_files["iris_gboost.skops"], "rb") as f:
        api.post("/api/v1/models/iris-model/versions", {"file": f}, format="multipart")
    owner_client.post("/deployments/iris/version/", {"version": 2})
    assert Deployment.objects.get().model_version.number == 2
    owner_client.post(
        "/deployments/iris/settings/",
        {"timeout_seconds": 3, "max_rows": 7, "max_concurrency": 2, "max_batch_file_mb": 1, "memory_limit_mb": ""},
    )
    assert Deployment.objects.get().max_rows == 7
    response = owner_client.post("/deployments/iris/settings/", {"timeout_seconds": 3, "max_rows": 0, "max_concurrency": 2, "max_batch_file_mb": 1}, follow=True)
    assert "Settings not saved" in response.content.decode()
    assert Deployment.objects.get().max_rows == 7


def test_a_key_made_on_the_page_is_shown_once_inside_the_examples(owner_client, iris):
    response = owner_client.post("/deployments/iris/keys/new/", {"name": "partner"}, follow=True)
    page = response.content.decode()
    key = page.split('id="new-key-value">')[1].split("<")[0]
    assert key.startswith("mlsd_")
    assert f"Authorization: Token {key}" in page
    assert key not in owner_client.get("/deployments/iris/").content.decode()
    owner_client.post(f"/deployments/iris/keys/{DeploymentKey.objects.get().id}/revoke/")
    assert not DeploymentKey.objects.exists()


def test_the_test_page_predicts_through_the_deployment(owner_client, iris):
    page = owner_client.post(
        "/deployments/iris/test/",
        {"mode": "form", "sepal_length": "5.1", "sepal_width": "3.5", "petal_length": "1.4", "petal_width": "0.2"},
    ).content.decode()
    assert 'mono prediction">0<' in page
    assert "/api/v1/deployments/iris/predict" in page


def test_a_batch_file_from_the_test_page_becomes_a_task(owner_client, iris, inline_queue, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/deployments/iris/test/", {"mode": "batch", "file": SimpleUploadedFile("rows.csv", CSV)})
    task = PredictionTask.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/tasks/{task.id}/"
    page = owner_client.get(f"/tasks/{task.id}/").content.decode()
    assert 'data-status="succeeded"' in page and 'id="download-csv"' in page and 'id="result-preview"' in page
    assert 'id="progress-bar" data-width="100"' in page


def test_a_bad_batch_file_is_a_form_error(owner_client, iris):
    page = owner_client.post(
        "/deployments/iris/test/", {"mode": "batch", "file": SimpleUploadedFile("rows.csv", b"a,b\n1,2\n")}
    ).content.decode()
    assert "missing column(s)" in page
    assert not PredictionTask.objects.exists()


def test_task_pages_filter_cancel_retry_delete(owner_client, iris, api, inline_queue):
    body = api.post("/api/v1/deployments/iris/tasks", {"inputs": [{"sepal_length": 1, "sepal_width": 1, "petal_length": 1, "petal_width": 1}]}, format="json").json()
    task_id = body["task_id"]
    assert task_id[:8] in owner_client.get("/deployments/iris/tasks/").content.decode()
    assert task_id[:8] in owner_client.get("/tasks/?status=queued&deployment=iris").content.decode()
    assert "No task matches" in owner_client.get("/tasks/?status=failed").content.decode()
    owner_client.post(f"/tasks/{task_id}/cancel/")
    assert PredictionTask.objects.get().status == "cancelled"
    owner_client.post(f"/tasks/{task_id}/retry/")
    assert PredictionTask.objects.get().status == "queued"
    response = owner_client.post(f"/tasks/{task_id}/delete/", {"next": "https://evil.example/"})
    assert response["Location"] == "/tasks/"
    assert not PredictionTask.objects.exists()


def test_delete_page(owner_client, iris):
    assert "its 0 tasks and their result files are deleted" in owner_client.get("/deployments/iris/delete/").content.decode()
    owner_client.post("/deployments/iris/delete/")
    assert not Deployment.objects.exists()


@pytest.mark.parametrize(
    "url", ["/deployments/iris/", "/deployments/iris/test/", "/deployments/iris/tasks/", "/deployments/iris/delete/"]
)
def test_someone_elses_deployment_pages_are_404(client, stranger, iris, url):
    client.force_login(stranger)
    assert client.get(url).status_code == 404
    assert client.post(url.replace("/test/", "/pause/")).status_code in (404, 405)
    assert Deployment.objects.get().status == "running"


def test_someone_elses_task_page_is_404(client, stranger, iris, api):
    body = api.post("/api/v1/deployments/iris/tasks", {"inputs": [{"sepal_length": 1, "sepal_width": 1, "petal_length": 1, "petal_width": 1}]}, format="json").json()
    client.force_login(stranger)
    assert client.get(f"/tasks/{body['task_id']}/").status_code == 404
    assert client.post(f"/tasks/{body['task_id']}/cancel/").status_code == 404
    assert PredictionTask.objects.get().status == "queued"
