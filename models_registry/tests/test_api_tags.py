"""Tags on models and versions through the API: set, replace, filter, and refused when malformed."""

import pytest

from models_registry.models import ModelTag, VersionTag


@pytest.fixture
def two_models(upload_model, model_files, api):
    for name in ("fraud", "churn"):
        assert upload_model("iris_logreg.skops", name=name).status_code == 201
    with open(model_files["iris_gboost.skops"], "rb") as f:
        assert api.post("/api/v1/models/fraud/versions", {"file": f}, format="multipart").status_code == 201


def test_a_put_replaces_the_models_tags(api, two_models):
    response = api.put("/api/v1/models/fraud/tags", {"tags": {"team": "risk", "validated": ""}}, format="json")
    assert response.status_code == 200 and response.json() == {"tags": {"team": "risk", "validated": ""}}
    response = api.put("/api/v1/models/fraud/tags", {"tags": {"team": "payments"}}, format="json")
    assert response.json() == {"tags": {"team": "payments"}}
    assert api.get("/api/v1/models/fraud").json()["tags"] == {"team": "payments"}
    assert list(ModelTag.objects.values_list("key", "value")) == [("team", "payments")]


def test_tags_can_be_set_with_the_model_patch_too(api, two_models):
    assert api.patch("/api/v1/models/churn", {"tags": {"stage": "prod"}}, format="json").status_code == 200
    assert api.get("/api/v1/models/churn/tags").json() == {"tags": {"stage": "prod"}}


def test_the_model_list_filters_by_a_key_or_a_key_and_value(api, two_models):
    api.put("/api/v1/models/fraud/tags", {"tags": {"team": "risk"}}, format="json")
    api.put("/api/v1/models/churn/tags", {"tags": {"team": "growth"}}, format="json")
    names = lambda query: [m["name"] for m in api.get(f"/api/v1/models?tag={query}").json()["results"]]  # noqa: E731
    assert sorted(names("team")) == ["churn", "fraud"]
    assert names("team:risk") == ["fraud"]
    assert names("stage") == []
    listed = api.get("/api/v1/models?tag=team:growth").json()["results"][0]
    assert listed["tags"] == {"team": "growth"}


def test_version_tags_are_their_own_and_filter_the_version_list(api, two_models):
    response = api.put("/api/v1/models/fraud/versions/2/tags", {"tags": {"dataset": "2026-q3"}}, format="json")
    assert response.status_code == 200 and response.json() == {"tags": {"dataset": "2026-q3"}}
    assert [v["number"] for v in api.get("/api/v1/models/fraud/versions?tag=dataset").json()] == [2]
    assert [v["number"] for v in api.get("/api/v1/models/fraud/versions").json()] == [2, 1]
    assert api.get("/api/v1/models/fraud/versions/2").json()["tags"] == {"dataset": "2026-q3"}
    assert api.get("/api/v1/models/fraud/versions/1/tags").json() == {"tags": {}}
    assert VersionTag.objects.count() == 1


def test_a_malformed_tag_key_is_refused_with_every_bad_key_named(api, two_models):
    response = api.put("/api/v1/models/fraud/tags", {"tags": {"good": "1", "bad key": "x", "-dash": "y"}}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_tags"
    assert set(error["details"]["fields"]) == {"bad key", "-dash"}
    assert not ModelTag.objects.exists()


def test_someone_elses_model_tags_are_404(stranger_api, two_models):
    assert stranger_api.get("/api/v1/models/fraud/tags").status_code == 404
    assert stranger_api.put("/api/v1/models/fraud/tags", {"tags": {"x": ""}}, format="json").status_code == 404
    assert stranger_api.put("/api/v1/models/fraud/versions/1/tags", {"tags": {"x": ""}}, format="json").status_code == 404
    assert not ModelTag.objects.exists()
