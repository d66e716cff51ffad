"""POST /api/v1/deployments/{name}/predict: the synchronous path."""

import pytest

from tests.model_files import IRIS_ROW


def test_sync_answers_equal_the_model_test(api, iris):
    body = {"inputs": [IRIS_ROW, {**IRIS_ROW, "petal_length": 5.0, "petal_width": 1.9}]}
    deployed = api.post("/api/v1/deployments/iris/predict", body, format="json").json()
    tested = api.post("/api/v1/models/iris-model/predict", body, format="json").json()
    tested.pop("elapsed_ms")
    assert deployed == tested
    assert deployed["predictions"] == [0, 2]


@pytest.mark.parametrize(
    "content_type, payload",
    [
        ("text/csv", "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"),
        ("application/x-ndjson", '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}\n'),
    ],
)
def test_sync_takes_files(api, iris, content_type, payload):
    response = api.post("/api/v1/deployments/iris/predict", payload, content_type=content_type)
    assert response.json()["predictions"] == [0]


def test_a_paused_deployment_answers_503_and_comes_back(api, iris):
    api.post("/api/v1/deployments/iris/pause")
    response = api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "deployment_paused"
    tasks = api.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, format="json")
    assert tasks.status_code == 503
    api.post("/api/v1/deployments/iris/start")
    assert api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json").status_code == 200


def test_max_rows_is_413(api, deploy):
    deploy("iris_logreg.skops", "small", max_rows=2)
    response = api.post("/api/v1/deployments/small/predict", {"inputs": [IRIS_ROW] * 3}, format="json")
    assert response.status_code == 413
    assert "at most 2" in response.json()["error"]["message"]
    assert api.post("/api/v1/deployments/small/predict", {"inputs": [IRIS_ROW] * 2}, format="json").status_code == 200


def test_bad_input_is_a_field_error(api, iris):
    response = api.post("/api/v1/deployments/iris/predict", {"inputs": {**IRIS_ROW, "petal_width": "x"}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"] == {"petal_width": "expected a number, got 'x'"}


def test_version_switch_changes_the_answers_model(api, iris, model_files):
    with open(model_files["tree_iris.pmml"], "rb") as f:
        api.post("/api/v1/models/iris-model/versions", {"file": f}, format="multipart")
    api.patch("/api/v1/deployments/iris", {"version": 2}, format="json")
    body = api.post("/api/v1/deployments/iris/predict", {"inputs": {"petal_length": 1.4, "petal_width": 0.2}}, format="json").json()
    assert body["version"] == 2 and body["predictions"] == ["setosa"]
