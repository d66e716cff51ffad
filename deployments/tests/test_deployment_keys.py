"""Deployment-scoped keys: shown once, stored hashed, and good for one deployment's serving endpoints only."""

import pytest
from rest_framework.test import APIClient

from core.credentials import hash_key
from deployments.models import DeploymentKey
from tests.model_files import IRIS_ROW


@pytest.fixture
def key(api, iris):
    response = api.post("/api/v1/deployments/iris/keys", {"name": "partner"}, format="json")
    assert response.status_code == 201
    return response.json()


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_the_key_is_shown_once_and_stored_hashed(api, key):
    assert key["key"].startswith("mlsd_") and key["name"] == "partner"
    stored = DeploymentKey.objects.get()
    assert stored.key_hash == hash_key(key["key"]) and key["key"] not in (stored.key_hash + stored.prefix)
    listed = api.get("/api/v1/deployments/iris/keys").json()
    assert listed == [{"id": stored.id, "name": "partner", "prefix": stored.prefix, "created": listed[0]["created"], "last_used": None}]


def test_the_key_calls_its_deployment(key, inline_queue):
    partner = client_with(key["key"])
    assert partner.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json").json()["predictions"] == [0]
    submitted = partner.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, format="json")
    assert submitted.status_code == 202
    assert partner.get(submitted.json()["status_url"]).status_code == 200
    assert partner.get("/api/v1/deployments/iris/tasks").status_code == 200
    assert partner.get("/v2/models/iris").status_code == 200
    assert DeploymentKey.objects.get().last_used is not None


def test_the_key_cannot_reach_another_deployment(deploy, key):
    deploy("tree_iris.pmml", "other")
    partner = client_with(key["key"])
    response = partner.post("/api/v1/deployments/other/predict", {"inputs": {}}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "wrong_deployment_key"
    assert partner.get("/api/v1/deployments/other/tasks").status_code == 403
    assert partner.get("/v2/models/other").status_code == 403


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/api/v1/models"),
        ("get", "/api/v1/deployments"),
        ("get", "/api/v1/deployments/iris"),
        ("patch", "/api/v1/deployments/iris"),
        ("delete", "/api/v1/deployments/iris"),
        ("post", "/api/v1/deployments/iris/pause"),
        ("post", "/api/v1/deployments/iris/keys"),
        ("get", "/api/v1/tasks"),
        ("delete", "/api/v1/models/iris-model"),
    ],
)
def test_the_key_cannot_reach_the_management_api(key, method, url):
    response = getattr(client_with(key["key"]), method)(url, {}, format="json")
    assert response.status_code == 403
    assert "only works on its deployment's serving endpoints" in response.json()["error"]["message"]


def test_a_revoked_key_is_401(api, key):
    assert api.delete(f"/api/v1/deployments/iris/keys/{key['id']}").status_code == 204
    response = client_with(key["key"]).post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json")
    assert response.status_code == 401


def test_a_tasks_key_cannot_read_another_deployments_tasks(api, deploy, key, inline_queue):
    deploy("iris_logreg.skops", "second")
    other = api.post("/api/v1/deployments/second/tasks", {"inputs": [IRIS_ROW]}, format="json").json()
    assert client_with(key["key"]).get(other["status_url"]).status_code == 404
