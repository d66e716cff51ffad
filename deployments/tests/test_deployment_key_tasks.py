"""Tasks and deployment keys: a key sees and manages only the tasks it submitted; the owner
sees all of them (issue 12, item 2). Another key's task is a 404, never a 403."""

import json

import pytest
from rest_framework.test import APIClient

from deployments.models import PredictionTask
from tests.model_files import IRIS_ROW


def client_with(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def partners(api, iris):
    """Two third parties, each with a key on the same deployment."""
    keys = {}
    for name in ("alpha", "beta"):
        response = api.post("/api/v1/deployments/iris/keys", {"name": name}, format="json")
        assert response.status_code == 201
        keys[name] = client_with(response.json()["key"])
    return keys


def predictions(response) -> list:
    assert response.status_code == 200, response
    return json.loads(b"".join(response.streaming_content))["predictions"]


def submit(client, django_capture_on_commit_callbacks, rows=1) -> dict:
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW] * rows}, format="json")
    assert response.status_code == 202, response.content
    return response.json()


@pytest.fixture
def tasks(api, partners, inline_queue, django_capture_on_commit_callbacks):
    """One finished task each for alpha, beta and the owner."""
    return {
        who: submit(client, django_capture_on_commit_callbacks)
        for who, client in (("alpha", partners["alpha"]), ("beta", partners["beta"]), ("owner", api))
    }


def test_a_task_records_the_key_that_submitted_it(tasks, api):
    assert PredictionTask.objects.get(pk=tasks["alpha"]["task_id"]).deployment_key.name == "alpha"
    assert PredictionTask.objects.get(pk=tasks["owner"]["task_id"]).deployment_key is None
    assert api.get(tasks["alpha"]["status_url"]).json()["key"] == "alpha"
    assert api.get(tasks["owner"]["status_url"]).json()["key"] is None


def test_a_key_lists_only_the_tasks_it_submitted(tasks, partners):
    listed = partners["alpha"].get("/api/v1/deployments/iris/tasks").json()["results"]
    assert [t["task_id"] for t in listed] == [tasks["alpha"]["task_id"]]


def test_the_owner_lists_every_task_of_the_deployment(tasks, api):
    listed = api.get("/api/v1/deployments/iris/tasks").json()["results"]
    assert {t["task_id"] for t in listed} == {t["task_id"] for t in tasks.values()}
    assert {t["task_id"] for t in api.get("/api/v1/tasks").json()["results"]} == {t["task_id"] for t in tasks.values()}


@pytest.mark.parametrize("whose", ["beta", "owner"])
def test_a_key_gets_404_on_a_task_it_did_not_submit(tasks, partners, whose):
    alpha, task = partners["alpha"], tasks[whose]
    for response in (
        alpha.get(task["status_url"]),
        alpha.get(task["result_url"]),
        alpha.get(task["result_url"] + "?format=csv"),
        alpha.post(task["status_url"] + "/retry"),
        alpha.delete(task["status_url"]),
    ):
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "not_found"
    assert PredictionTask.objects.filter(pk=task["task_id"], status=PredictionTask.Status.SUCCEEDED).exists()


def test_a_key_reads_downloads_and_deletes_its_own_task(tasks, partners):
    alpha, task = partners["alpha"], tasks["alpha"]
    assert alpha.get(task["status_url"]).json()["status"] == "succeeded"
    assert predictions(alpha.get(task["result_url"])) == [0]
    assert alpha.get(task["result_url"] + "?format=csv").status_code == 200
    assert alpha.delete(task["status_url"]).status_code == 204
    assert not PredictionTask.objects.filter(pk=task["task_id"]).exists()


def test_a_key_cancels_and_retries_its_own_task(partners, api):
    alpha = partners["alpha"]
    queued = alpha.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, format="json").json()  # not run
    cancelled = alpha.delete(queued["status_url"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    retried = alpha.post(queued["status_url"] + "/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    # ...and beta can do neither to it.
    assert partners["beta"].delete(queued["status_url"]).status_code == 404
    assert partners["beta"].post(queued["status_url"] + "/retry").status_code == 404


def test_the_owner_reads_and_deletes_a_keys_task(tasks, api):
    task = tasks["beta"]
    assert predictions(api.get(task["result_url"])) == [0]
    assert api.delete(task["status_url"]).status_code == 204


def test_a_revoked_keys_tasks_stay_with_the_owner(tasks, api):
    key_id = next(k["id"] for k in api.get("/api/v1/deployments/iris/keys").json() if k["name"] == "alpha")
    assert api.delete(f"/api/v1/deployments/iris/keys/{key_id}").status_code == 204
    task = PredictionTask.objects.get(pk=tasks["alpha"]["task_id"])
    assert task.deployment_key is None
    assert api.get(tasks["alpha"]["result_url"]).status_code == 200


def test_the_task_page_says_which_key_submitted_it(tasks, owner_client):
    page = owner_client.get(f"/tasks/{tasks['alpha']['task_id']}/").content.decode()
    assert 'id="task-submitter">key <span class="mono">alpha</span>' in page
