"""The Open Inference Protocol, spoken by the real tritonclient[http] against a live server."""

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from tests.model_files import digits_data, iris_frame

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server):
    return triton.InferenceServerClient(url=live_server.url.removeprefix("http://"), network_timeout=30)


@pytest.fixture
def token(owner):
    from accounts import services

    return services.token_create(user=owner, name="triton")[1]


@pytest.fixture
def headers(token):
    return {"Authorization": f"Token {token}"}


def test_health_and_metadata(client, deploy, headers):
    deploy("iris_logreg.skops", "iris")
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("iris", headers=headers)
    meta = client.get_model_metadata("iris", headers=headers)
    assert meta["name"] == "iris" and meta["versions"] == ["1"] and meta["platform"] == "mlserve_skops"
    assert [i["name"] for i in meta["inputs"]] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert meta["inputs"][0] == {"name": "sepal_length", "datatype": "FP64", "shape": [-1]}
    assert meta["outputs"] == [
        {"name": "label", "datatype": "INT64", "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, 3]},
    ]


@pytest.mark.parametrize("binary", [True, False])
def test_a_tabular_model_with_one_input_per_feature(client, deploy, api, headers, binary):
    deploy("iris_logreg.skops", "iris")
    X, _ = iris_frame()
    rows = X.iloc[[0, 60, 120]]
    inputs = []
    for column in rows.columns:
        tensor = triton.InferInput(column, [3, 1], "FP64")
        tensor.set_data_from_numpy(rows[[column]].to_numpy(), binary_data=binary)
        inputs.append(tensor)
    outputs = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("label", "probabilities")]
    result = client.infer("iris", inputs, outputs=outputs, headers=headers)
    expected = api.post("/api/v1/deployments/iris/predict", {"dataframe_records": rows.to_dict("records")}, format="json").json()
    assert result.as_numpy("label").tolist() == expected["predictions"] == [0, 1, 2]
    expected_proba = np.array([list(p.values()) for p in expected["probabilities"]])
    assert np.allclose(result.as_numpy("probabilities"), expected_proba, atol=1e-9)


def test_a_tabular_model_with_one_n_by_f_tensor(client, deploy, headers):
    deploy("iris_logreg.skops", "iris")
    X, y = iris_frame()
    tensor = triton.InferInput("input", [150, 4], "FP32")
    tensor.set_data_from_numpy(X.to_numpy(np.float32))
    result = client.infer("iris", [tensor], headers=headers)  # no outputs named: all, in binary
    assert result.as_numpy("label").shape == (150,)
    assert (result.as_numpy("label") == y).mean() > 0.95


def test_an_image_model(client, deploy, headers):
    deploy("digits_logreg.onnx", "digits")
    X, y = digits_data()
    tensor = triton.InferInput("X", [20, 64], "FP32")
    tensor.set_data_from_numpy(X[:20])
    result = client.infer("digits", [tensor], headers=headers)
    assert result.as_numpy("label").tolist() == y[:20].tolist()
    assert result.as_numpy("probabilities").shape == (20, 10)


def test_string_inputs_as_bytes(client, deploy, api, headers):
    deploy("mixed_pipeline.skops", "mixed")
    from tests.model_files import mixed_frame

    X, _ = mixed_frame()
    rows = X.iloc[:4]
    inputs = []
    for column in rows.columns:
        is_text = rows[column].dtype == object or str(rows[column].dtype) in ("str", "string")
        tensor = triton.InferInput(column, [4], "BYTES" if is_text else "FP64")
        tensor.set_data_from_numpy(rows[column].to_numpy(dtype=object if is_text else np.float64))
        inputs.append(tensor)
    result = client.infer("mixed", inputs, headers=headers)
    expected = api.post("/api/v1/deployments/mixed/predict", {"dataframe_records": rows.to_dict("records")}, format="json").json()
    assert np.allclose(result.as_numpy("prediction"), expected["predictions"])


def test_errors_come_back_as_oip_errors(client, deploy, headers, api):
    deploy("iris_logreg.skops", "iris")
    bad = triton.InferInput("nope", [1, 1], "FP64")
    bad.set_data_from_numpy(np.zeros((1, 1)))
    with pytest.raises(InferenceServerException, match="one input per field"):
        client.infer("iris", [bad], headers=headers)
    with pytest.raises(InferenceServerException):
        client.infer("iris", [bad])  # no token
    api.post("/api/v1/deployments/iris/pause")
    assert not client.is_model_ready("iris", headers=headers)
    tensor = triton.InferInput("input", [1, 4], "FP64")
    tensor.set_data_from_numpy(np.zeros((1, 4)))
    with pytest.raises(InferenceServerException, match="paused"):
        client.infer("iris", [tensor], headers=headers)
