"""Deployments through the API: create, read, update, switch versions, start/pause, delete."""

import pytest

from deployments.models import Deployment


def test_create_answers_the_deployment_running(api, iris):
    assert iris["name"] == "iris"
    assert iris["status"] == "running"
    assert iris["model"] == "iris-model" and iris["version"] == 1
    assert iris["limits"] == {
        "timeout_seconds": 30.0,
        "max_rows": 10000,
        "max_concurrency": 8,
        "max_batch_file_size": 200 * 1024 * 1024,
        "memory_limit_mb": None,
        "replicas": 1,
        "cpu_cores": None,
        "batch_max_rows": 64,
        "batch_max_wait_ms": 0.0,
    }
    assert iris["replicas"] == 1 and iris["failure_reason"] == ""
    assert iris["urls"]["predict"] == "http://testserver/api/v1/deployments/iris/predict"
    assert api.get("/api/v1/deployments").json()["results"][0]["name"] == "iris"


def test_create_with_limits_and_a_version(api, deploy):
    body = deploy("tree_iris.pmml", "tree", timeout_seconds=5, max_rows=100, max_concurrency=2, version=1)
    assert body["limits"]["max_rows"] == 100 and body["limits"]["timeout_seconds"] == 5.0


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"name": "x", "model": "nope"}, 404, "not found"),
        ({"name": "x", "model": "iris-model", "version": 9}, 404, "no version 9"),
        ({"name": "bad name", "model": "iris-model"}, 400, "invalid"),
        ({"name": "x", "model": "iris-model", "max_rows": 0}, 400, "max_rows"),
        ({"name": "x", "model": "iris-model", "timeout_seconds": -1}, 400, "timeout_seconds"),
        ({"name": "x", "model": "iris-model", "max_concurrency": "many"}, 400, "max_concurrency"),
        ({"model": "iris-model"}, 400, "name"),
        ({"name": "iris", "model": "iris-model"}, 409, "already have a deployment"),
    ],
)
def test_create_refuses_bad_requests(api, iris, body, status, words):
    response = api.post("/api/v1/deployments", body, format="json")
    assert response.status_code == status, response.json()
    assert words in response.json()["error"]["message"].lower()
    assert Deployment.objects.count() == 1


def test_patch_changes_limits(api, iris):
    response = api.patch("/api/v1/deployments/iris", {"max_rows": 50, "description": "prod"}, format="json")
    assert response.status_code == 200
    assert response.json()["limits"]["max_rows"] == 50 and response.json()["description"] == "prod"
    bad = api.patch("/api/v1/deployments/iris", {"max_concurrency": 0}, format="json")
    assert bad.status_code == 400
    assert Deployment.objects.get().max_concurrency == 8


def test_version_switch(api, iris, model_files):
    with open(model_files["iris_gboost.skops"], "rb") as f:
        assert api.post("/api/v1/models/iris-model/versions", {"file": f}, format="multipart").status_code == 201
    response = api.patch("/api/v1/deployments/iris", {"version": 2}, format="json")
    assert response.status_code == 200 and response.json()["version"] == 2
    assert api.patch("/api/v1/deployments/iris", {"version": 7}, format="json").status_code == 404
    assert Deployment.objects.get().model_version.number == 2


def test_pause_and_start(api, iris):
    assert api.post("/api/v1/deployments/iris/pause").json()["status"] == "paused"
    assert api.post("/api/v1/deployments/iris/start").json()["status"] == "running"


def test_delete_keeps_the_model(api, iris):
    assert api.delete("/api/v1/deployments/iris").status_code == 204
    assert not Deployment.objects.exists()
    assert api.get("/api/v1/models/iris-model").status_code == 200


def test_a_deployed_model_cannot_be_deleted(api, iris):
    response = api.delete("/api/v1/models/iris-model")
    assert response.status_code == 409
    assert "iris" in response.json()["error"]["message"]
    assert Deployment.objects.exists()


ENDPOINTS = [
    ("get", "/api/v1/deployments/iris"),
    ("patch", "/api/v1/deployments/iris"),
    ("delete", "/api/v1/deployments/iris"),
    ("post", "/api/v1/deployments/iris/start"),
    ("post", "/api/v1/deployments/iris/pause"),
    ("post", "/api/v1/deployments/iris/predict"),
    ("get", "/api/v1/deployments/iris/tasks"),
    ("post", "/api/v1/deployments/iris/tasks"),
    ("get", "/api/v1/deployments/iris/keys"),
    ("post", "/api/v1/deployments/iris/keys"),
]


@pytest.mark.parametrize("method, url", ENDPOINTS)
def test_someone_elses_deployment_is_404_everywhere(stranger_api, iris, method, url):
    response = getattr(stranger_api, method)(url, {}, format="json")
    assert response.status_code == 404
    assert Deployment.objects.get().status == "running"


def test_the_list_shows_only_mine(stranger_api, iris):
    assert stranger_api.get("/api/v1/deployments").json()["count"] == 0
