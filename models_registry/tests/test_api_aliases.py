"""Aliases through the API: a deployment that follows one moves with it, and an alias in use
cannot be removed."""

import threading
import time

import pytest
from rest_framework.test import APIClient

from core.errors import InvalidModel
from deployments import receivers
from deployments.models import Deployment
from models_registry.models import ModelAlias
from tests.model_files import IRIS_ROW


@pytest.fixture
def two_versions(api, upload_model, model_files):
    assert upload_model("iris_logreg.skops", name="iris").status_code == 201
    with open(model_files["iris_gboost.skops"], "rb") as f:
        assert api.post("/api/v1/models/iris/versions", {"file": f}, format="multipart").status_code == 201


def test_an_alias_points_to_a_version_and_can_move(api, two_versions):
    response = api.put("/api/v1/models/iris/aliases/champion", {"version": 1}, format="json")
    assert response.status_code == 200
    assert response.json()["alias"] == "champion" and response.json()["version"] == 1
    api.put("/api/v1/models/iris/aliases/champion", {"version": 2}, format="json")
    assert api.get("/api/v1/models/iris/aliases/champion").json()["version"] == 2
    assert api.get("/api/v1/models/iris").json()["aliases"] == {"champion": 2}
    assert api.get("/api/v1/models/iris/versions/2").json()["aliases"] == ["champion"]


def test_a_deployment_that_follows_an_alias_moves_when_the_alias_moves(api, two_versions):
    api.put("/api/v1/models/iris/aliases/champion", {"version": 1}, format="json")
    created = api.post("/api/v1/deployments", {"name": "prod", "model": "iris", "alias": "champion"}, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["version"] == 1 and created.json()["alias"] == "champion"
    before = api.post("/api/v1/deployments/prod/predict", {"inputs": IRIS_ROW}, format="json")
    assert before.status_code == 200 and before.json()["version"] == 1

    moved = api.put("/api/v1/models/iris/aliases/champion", {"version": 2}, format="json")
    assert moved.json()["deployments"] == ["prod"]
    after = api.post("/api/v1/deployments/prod/predict", {"inputs": IRIS_ROW}, format="json")
    assert after.status_code == 200 and after.json()["version"] == 2
    assert Deployment.objects.get(name="prod").model_version.number == 2


def test_a_deployment_pinned_to_a_version_stays_put_when_the_alias_moves(api, two_versions):
    api.put("/api/v1/models/iris/aliases/champion", {"version": 1}, format="json")
    api.post("/api/v1/deployments", {"name": "prod", "model": "iris", "alias": "champion"}, format="json")
    pinned = api.patch("/api/v1/deployments/prod", {"version": 1}, format="json")
    assert pinned.json()["alias"] is None
    api.put("/api/v1/models/iris/aliases/champion", {"version": 2}, format="json")
    assert api.get("/api/v1/deployments/prod").json()["version"] == 1


def test_an_existing_deployment_can_start_following_an_alias(api, two_versions):
    api.post("/api/v1/deployments", {"name": "prod", "model": "iris", "version": 1}, format="json")
    api.put("/api/v1/models/iris/aliases/challenger", {"version": 2}, format="json")
    response = api.patch("/api/v1/deployments/prod", {"alias": "challenger"}, format="json")
    assert response.json()["alias"] == "challenger" and response.json()["version"] == 2
    stopped = api.patch("/api/v1/deployments/prod", {"alias": ""}, format="json")
    assert stopped.json()["alias"] is None and stopped.json()["version"] == 2


def test_an_alias_that_deployments_follow_cannot_be_deleted(api, two_versions):
    api.put("/api/v1/models/iris/aliases/champion", {"version": 1}, format="json")
    api.post("/api/v1/deployments", {"name": "prod", "model": "iris", "alias": "champion"}, format="json")
    response = api.delete("/api/v1/models/iris/aliases/champion")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "alias_in_use" and response.json()["error"]["details"]["deployments"] == ["prod"]
    api.patch("/api/v1/deployments/prod", {"alias": ""}, format="json")
    assert api.delete("/api/v1/models/iris/aliases/champion").status_code == 204
    assert not ModelAlias.objects.exists()


def test_a_bad_alias_name_or_unknown_version_is_refused(api, two_versions):
    assert api.put("/api/v1/models/iris/aliases/7", {"version": 1}, format="json").json()["error"]["code"] == "invalid_alias"
    assert api.put("/api/v1/models/iris/aliases/champion", {"version": 9}, format="json").status_code == 404
    assert api.get("/api/v1/models/iris/aliases/nobody").json()["error"]["code"] == "alias_not_found"
    assert api.post("/api/v1/deployments", {"name": "x", "model": "iris", "alias": "nobody"}, format="json").status_code == 404
    assert not ModelAlias.objects.exists()


def test_someone_elses_aliases_are_404(stranger_api, api, two_versions):
    api.put("/api/v1/models/iris/aliases/champion", {"version": 1}, format="json")
    assert stranger_api.get("/api/v1/models/iris/aliases").status_code == 404
    assert stranger_api.put("/api/v1/models/iris/aliases/champion", {"version": 2}, format="json").status_code == 404
    assert stranger_api.delete("/api/v1/models/iris/aliases/champion").status_code == 404
    assert ModelAlias.objects.get().version.number == 1


def wait_for_answers(answers: list, threads: list, enough, bound: float = 60) -> None:
    deadline = time.monotonic() + bound
    while not enough(answers) and time.monotonic() < deadline and all(thread.is_alive() for thread in threads):
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_no_request_fails_while_the_alias_moves_its_deployment(api, two_versions):
    """Callers in other threads (as other web workers would be) keep predicting while the
    alias moves to version 2 and back: every answer is a 200, from one version or the other."""
    api.put("/api/v1/models/iris/aliases/champion", {"version": 1}, format="json")
    assert api.post("/api/v1/deployments", {"name": "prod", "model": "iris", "alias": "champion"}, format="json").status_code == 201
    stop = threading.Event()
    answers: list[tuple[int, int | None]] = []

    def call_until_stopped():
        caller = APIClient()
        caller.credentials(**api._credentials)
        while not stop.is_set():
            response = caller.post("/api/v1/deployments/prod/predict", {"inputs": IRIS_ROW}, format="json")
            answers.append((response.status_code, response.json().get("version")))

    threads = [threading.Thread(target=call_until_stopped) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        wait_for_answers(answers, threads, lambda new: len(new) >= 3)
        for number in (2, 1):
            seen = len(answers)
            assert api.put("/api/v1/models/iris/aliases/champion", {"version": number}, format="json").status_code == 200
            # until callers answer from the version moved to (each process sees the change
            # within its cache check), however long the machine takes to give them
            wait_for_answers(answers, threads, lambda new, n=number, s=seen: any(v == n for _, v in new[s:]))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert answers and {status for status, _ in answers} == {200}
    assert {version for _, version in answers} == {1, 2}


def test_when_one_follower_cannot_load_the_new_version_the_alias_and_every_follower_stay_put(api, two_versions, monkeypatch):
    api.put("/api/v1/models/iris/aliases/champion", {"version": 1}, format="json")
    for name in ("first", "second"):
        assert api.post("/api/v1/deployments", {"name": name, "model": "iris", "alias": "champion"}, format="json").status_code == 201
    real_update = receivers.deployment_update

    def second_fails_to_load(*, deployment, **changes):
        if deployment.name == "second" and ModelAlias.objects.get(name="champion").version.number == 2:
            raise InvalidModel("the new version does not load here")
        return real_update(deployment=deployment, **changes)

    monkeypatch.setattr(receivers, "deployment_update", second_fails_to_load)
    refused = api.put("/api/v1/models/iris/aliases/champion", {"version": 2}, format="json")
    assert refused.status_code == 400 and "does not load" in refused.json()["error"]["message"]
    assert ModelAlias.objects.get(name="champion").version.number == 1
    assert sorted(Deployment.objects.values_list("name", "model_version__number")) == [("first", 1), ("second", 1)]
