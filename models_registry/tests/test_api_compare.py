"""Comparing two versions: schema differences, and both versions' answers on the same rows."""

import pytest


@pytest.fixture
def iris_pmml_then_skops(api, upload_model, model_files):
    # v1 takes two petal fields; v2 takes all four (two fields added).
    assert upload_model("tree_iris.pmml", name="iris").status_code == 201
    with open(model_files["iris_logreg.skops"], "rb") as f:
        assert api.post("/api/v1/models/iris/versions", {"file": f}, format="multipart").status_code == 201


def test_the_schema_diff_names_added_fields_and_changed_types(api, iris_pmml_then_skops):
    response = api.get("/api/v1/models/iris/compare?a=1&b=2")
    assert response.status_code == 200
    body = response.json()
    assert body["a"] == 1 and body["b"] == 2 and body["schema"]["same"] is False
    inputs = body["schema"]["inputs"]
    assert sorted(inputs["added"]) == ["sepal_length", "sepal_width"]
    assert inputs["removed"] == []
    assert body["schema"]["model"]["format"] == {"a": "pmml", "b": "skops"}
    assert "answers" not in body


def test_a_version_compared_with_itself_is_the_same(api, iris_pmml_then_skops):
    assert api.get("/api/v1/models/iris/compare?a=2&b=2").json()["schema"]["same"] is True


def test_aliases_name_versions_in_a_comparison(api, iris_pmml_then_skops):
    api.put("/api/v1/models/iris/aliases/champion", {"version": 1}, format="json")
    assert api.get("/api/v1/models/iris/compare?a=champion&b=2").json()["a"] == 1


def test_a_post_tries_both_versions_on_the_same_sample_rows(api, iris_pmml_then_skops):
    response = api.post("/api/v1/models/iris/compare", {"a": "1", "b": "2"}, format="json")
    assert response.status_code == 200, response.json()
    answers = response.json()["answers"]
    assert len(answers["rows"]) == 5
    assert len(answers["a"]["predictions"]) == len(answers["b"]["predictions"]) == 5
    assert 0 <= answers["agree"] <= 5


def test_a_post_tries_your_own_rows(api, iris_pmml_then_skops):
    row = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
    answers = api.post("/api/v1/models/iris/compare", {"a": "1", "b": "2", "inputs": [row]}, format="json").json()["answers"]
    # The PMML tree answers with class names, the skops model (trained on numbers) with 0.
    assert answers["a"]["predictions"] == ["setosa"] and answers["b"]["predictions"] == [0]
    assert answers["agree"] == 0


def test_a_version_that_refuses_the_rows_says_why_beside_the_other(api, iris_pmml_then_skops):
    only_petals = {"petal_length": 1.4, "petal_width": 0.2}
    answers = api.post("/api/v1/models/iris/compare", {"a": "1", "b": "2", "inputs": [only_petals]}, format="json").json()["answers"]
    assert answers["a"]["predictions"] == ["setosa"]
    assert answers["b"]["error"]["code"] == "invalid_input" and answers["agree"] is None


def test_an_unknown_version_is_404(api, iris_pmml_then_skops):
    assert api.get("/api/v1/models/iris/compare?a=1&b=5").status_code == 404
