"""Deployments of the new formats (LightGBM, CatBoost, an MLflow model, a sklearn2pmml export)
answer a queued task and the Open Inference Protocol as they answer a synchronous call."""

import json

import numpy as np
import pytest

from tests import model_files as mf


def iris_rows():
    X, _ = mf.iris_frame()
    return X.iloc[[0, 1, 50, 51, 100, 149]].reset_index(drop=True)


def mixed_rows():
    X, _ = mf.mixed_frame()
    return X.iloc[:6].reset_index(drop=True)


def cancer_rows():
    X, _ = mf.breast_cancer_frame()
    return X.iloc[[0, 19, 20, 568]].reset_index(drop=True)


SERVED = {
    "iris_lgbm.txt": iris_rows,
    "mixed_lgbm_dump.json": mixed_rows,
    "iris_catboost.cbm": iris_rows,
    "mixed_catboost.cbm": mixed_rows,
    "cancer_mlflow_lightgbm.zip": cancer_rows,
    "iris_mlflow_onnx.zip": iris_rows,
    "sklearn2pmml_iris_tree.pmml": lambda: iris_rows()[["petal_length", "petal_width"]],
}


def sync_answer(api, name, rows):
    response = api.post(f"/api/v1/deployments/{name}/predict", {"dataframe_split": rows.to_dict("split")}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def assert_same_answers(got: dict, expected: dict):
    assert got["predictions"] == pytest.approx(expected["predictions"]) if isinstance(expected["predictions"][0], float) else got["predictions"] == expected["predictions"]
    if "probabilities" in expected:
        assert np.allclose([list(p.values()) for p in got["probabilities"]], [list(p.values()) for p in expected["probabilities"]])


@pytest.mark.parametrize("filename", list(SERVED))
def test_a_queued_csv_task_answers_as_the_sync_call(api, deploy, submit, filename, tmp_path):
    deploy(filename, "served")
    rows = SERVED[filename]()
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False, float_format="%.17g")
    with open(path, "rb") as upload:
        body = submit("served", file=upload).json()
    status = api.get(body["status_url"]).json()
    assert status["status"] == "succeeded", status["error"]
    result = json.loads(b"".join(api.get(body["result_url"]).streaming_content))
    assert_same_answers(result, sync_answer(api, "served", rows))


def oip_inputs(rows, metadata: dict) -> list[dict]:
    declared = metadata["inputs"]
    if len(declared) == 1 and declared[0]["shape"][1:] not in ([], [1]):  # one [N, F] tensor
        return [{"name": declared[0]["name"], "shape": list(rows.shape), "datatype": "FP32", "data": rows.to_numpy().ravel().tolist()}]
    inputs = []
    for item in declared:
        column = rows[item["name"]]
        data = column.astype(str).tolist() if item["datatype"] == "BYTES" else column.astype(float).tolist()
        inputs.append({"name": item["name"], "shape": [len(rows), 1], "datatype": item["datatype"], "data": data})
    return inputs


@pytest.mark.parametrize("filename", list(SERVED))
def test_the_open_inference_protocol_answers_as_the_sync_call(api, deploy, filename):
    deploy(filename, "served")
    rows = SERVED[filename]()
    metadata = api.get("/v2/models/served").json()
    response = api.post("/v2/models/served/infer", {"id": "r1", "inputs": oip_inputs(rows, metadata)}, format="json")
    assert response.status_code == 200, response.content
    outputs = {o["name"]: o for o in response.json()["outputs"]}
    expected = sync_answer(api, "served", rows)
    if "label" in outputs:
        assert outputs["label"]["data"] == [str(v) if outputs["label"]["datatype"] == "BYTES" else v for v in expected["predictions"]]
        probabilities = np.array(outputs["probabilities"]["data"]).reshape(outputs["probabilities"]["shape"])
        assert np.allclose(probabilities, [list(p.values()) for p in expected["probabilities"]])
    else:
        assert np.allclose(outputs["prediction"]["data"], expected["predictions"])
