"""GET/PATCH/DELETE /api/v1/models/{name} and the list."""

import pytest

from models_registry.models import ModelVersion, RegisteredModel


@pytest.fixture
def iris(upload_model):
    response = upload_model("tree_iris.pmml", name="iris", description="a tree")
    assert response.status_code == 201
    return RegisteredModel.objects.get(name="iris")


def test_detail_shows_versions_inputs_and_outputs(api, iris):
    body = api.get("/api/v1/models/iris").json()
    assert body["name"] == "iris" and body["description"] == "a tree"
    assert [v["number"] for v in body["versions"]] == [1]
    assert [f["name"] for f in body["latest_version"]["inputs"]] == ["petal_length", "petal_width"]
    assert body["latest_version"]["inputs"][0]["interval"] == {"min": 0.0, "max": 10.0}
    assert body["latest_version"]["outputs"][0]["values"] == ["setosa", "versicolor", "virginica"]


def test_another_user_gets_404_for_my_model(stranger_api, iris):
    for method in ("get", "patch", "delete"):
        response = getattr(stranger_api, method)("/api/v1/models/iris", {}, format="json")
        assert response.status_code == 404, method
        assert response.json()["error"]["code"] == "not_found"
    assert stranger_api.post("/api/v1/models/iris/versions", {}, format="multipart").status_code == 404
    assert RegisteredModel.objects.filter(name="iris").exists()


def test_list_is_newest_first_and_searchable(api, upload_model):
    for name in ("alpha", "beta", "alphabet"):
        assert upload_model("iris_logreg.skops", name=name).status_code == 201
    names = [m["name"] for m in api.get("/api/v1/models").json()["results"]]
    assert names == ["alphabet", "beta", "alpha"]
    found = [m["name"] for m in api.get("/api/v1/models?search=alpha").json()["results"]]
    assert found == ["alphabet", "alpha"]
    first = api.get("/api/v1/models").json()["results"][0]
    assert first["latest_version"]["format"] == "skops"


def test_list_shows_only_my_models(api, stranger_api, upload_model):
    upload_model("iris_logreg.skops", name="mine")
    assert stranger_api.get("/api/v1/models").json()["count"] == 0


def test_patch_edits_description_and_field_ranges(api, iris):
    response = api.patch(
        "/api/v1/models/iris",
        {
            "description": "better words",
            "fields": {"petal_width": {"description": "in cm", "interval": {"min": 0.1, "max": 2.5}}},
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["description"] == "better words"
    width = body["latest_version"]["inputs"][1]
    assert width["description"] == "in cm" and width["interval"] == {"min": 0.1, "max": 2.5}
    assert ModelVersion.objects.get().input_fields[1].interval == {"min": 0.1, "max": 2.5}


@pytest.mark.parametrize(
    "fields, words",
    [
        ({"nope": {"description": "x"}}, "unknown field"),
        ({"petal_width": {"interval": {"min": 3, "max": 1}}}, "above max"),
        ({"petal_width": {"interval": {"min": "abc"}}}, "must be a number"),
        ({"petal_width": {"type": "string"}}, "can be edited"),
        ({"petal_width": "wide"}, "must be an object"),
    ],
)
def test_patch_refuses_bad_field_edits_and_changes_nothing(api, iris, fields, words):
    before = ModelVersion.objects.get().inputs
    response = api.patch("/api/v1/models/iris", {"description": "changed?", "fields": fields}, format="json")
    assert response.status_code == 400
    assert words in response.json()["error"]["message"].lower()
    assert ModelVersion.objects.get().inputs == before
    assert RegisteredModel.objects.get().description == "a tree"


def test_delete_removes_rows_and_files(api, iris, isolated_data_dir, django_capture_on_commit_callbacks):
    path = ModelVersion.objects.get().artifact.path
    with django_capture_on_commit_callbacks(execute=True):
        response = api.delete("/api/v1/models/iris")
    assert response.status_code == 204
    assert not RegisteredModel.objects.exists() and not ModelVersion.objects.exists()
    assert not [p for p in (isolated_data_dir / "media").rglob("*") if p.is_file()]
    import os

    assert not os.path.exists(path)
    assert api.get("/api/v1/models/iris").status_code == 404


def test_new_version_gets_the_next_number_and_may_change_format(api, iris, model_files):
    with open(model_files["iris_logreg_nyoka.pmml"], "rb") as f:
        response = api.post("/api/v1/models/iris/versions", {"file": f}, format="multipart")
    assert response.status_code == 201
    assert response.json()["number"] == 2
    detail = api.get("/api/v1/models/iris").json()
    assert [v["number"] for v in detail["versions"]] == [2, 1]
    assert detail["latest_version"]["inputs"][0]["name"] == "sepal_length"
    assert api.get("/api/v1/models/iris/versions/1").json()["inputs"][0]["name"] == "petal_length"
    assert api.get("/api/v1/models/iris/versions/7").status_code == 404


def test_unknown_api_path_is_json_404(api):
    response = api.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
