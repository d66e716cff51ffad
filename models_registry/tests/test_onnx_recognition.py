"""What an ONNX model is, told from its inputs and outputs: a tabular model is not an image
model because 4 is a perfect square; a classifier is one whatever op computes it."""

import io
import json

import numpy as np
import onnxruntime as ort
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from models_registry.images import default_config, says_image
from models_registry.schema import Field
from tests.model_files import IRIS_ROW, digits_data

from .test_image_predictions import digit_png


def sample_record(page: str) -> dict:
    return json.loads(page.split('<script id="sample-record" type="application/json">')[1].split("</script>")[0])


def test_a_tabular_onnx_model_is_not_taken_for_an_image(api, upload_model, owner_client):
    assert upload_model("iris_logreg.onnx", name="iris").status_code == 201
    assert api.get("/api/v1/models/iris").json()["latest_version"]["preprocessing"] is None
    page = owner_client.get("/models/iris/test/").content.decode()
    assert 'type="file" name="X"' not in page
    assert "Image preprocessing" not in page and "Send images to this model?" not in page
    assert 'name="fps"' not in page
    assert sample_record(page) == {"X": [0.0, 0.0, 0.0, 0.0]}
    row = json.dumps(list(IRIS_ROW.values()))
    page = owner_client.post("/models/iris/test/", {"mode": "form", "X": row}).content.decode()
    assert 'mono prediction">0<' in page
    png, _ = digit_png(0)
    refused = api.post("/api/v1/models/iris/predict", png, content_type="image/png")
    assert refused.status_code == 400 and "not taken for an image" in refused.json()["error"]["message"]


def test_its_deployment_test_page_is_tabular_too(owner_client, deploy):
    deploy("iris_logreg.onnx", "iris")
    page = owner_client.get("/deployments/iris/test/").content.decode()
    assert 'type="file" name="X"' not in page and "Image preprocessing" not in page
    assert sample_record(page) == {"X": [0.0, 0.0, 0.0, 0.0]}


def test_a_flat_input_the_size_of_a_picture_is_offered_image_preprocessing_folded_away(owner_client, upload_model):
    upload_model("digits_logreg.onnx", name="digits")
    page = owner_client.get("/models/digits/test/").content.decode()
    assert "Send images to this model?" in page and 'type="file" name="X"' not in page
    assert 'name="width" value="8"' in page


@pytest.mark.parametrize("filename, field", [("digits_image_input.onnx", "image"), ("digits_denoted_image.onnx", "X")])
def test_an_input_named_or_marked_as_an_image_takes_images(api, upload_model, filename, field):
    upload_model(filename, name="digits")
    config = api.get("/api/v1/models/digits").json()["latest_version"]["preprocessing"]
    assert config == {"field": field, "scale": 1 / 255, "mean": [0.0], "std": [1.0], "size": [8, 8], "mode": "L", "layout": "flat"}
    png, _ = digit_png(5)
    assert api.post("/api/v1/models/digits/predict", png, content_type="image/png").status_code == 200


@pytest.mark.parametrize(
    "shape, image",
    [
        ([3, 224, 224], True),
        ([224, 224, 3], True),
        ([1, 28, 28], True),
        ([4], False),
        ([64], False),
        ([28, 28], False),
        ([10, 20, 30], False),
    ],
)
def test_only_shapes_with_a_channel_of_1_or_3_look_like_images(shape, image):
    field = Field(name="input", type="tensor(float)", shape=shape)
    assert says_image(field) is image
    assert (default_config(field) is not None) is image


@pytest.mark.parametrize(
    "name, image",
    [("image", True), ("input_image", True), ("pixel_values", True), ("IMG", True), ("frames", True),
     ("dataframe", False), ("X", False), ("float_input", False), ("imagination", False)],
)
def test_a_name_that_says_image_makes_a_flat_input_an_image(name, image):
    assert says_image(Field(name=name, type="tensor(float)", shape=[64])) is image


def test_an_mlp_with_a_label_and_a_probability_tensor_is_a_classifier(api, upload_model, model_files):
    body = upload_model("digits_mlp.onnx", name="mlp").json()
    latest = body["latest_version"]
    assert latest["model_type"] == "classification"
    assert latest["classes"] == list(range(10))
    assert [o["name"] for o in latest["outputs"]] == ["label"] + [f"probability({i})" for i in range(10)]
    X, _ = digits_data()
    answer = api.post("/api/v1/models/mlp/predict", {"instances": X[:3].tolist()}, format="json").json()
    session = ort.InferenceSession(str(model_files["digits_mlp.onnx"]), providers=["CPUExecutionProvider"])
    labels, proba = session.run(None, {"X": X[:3]})
    assert answer["predictions"] == labels.tolist()
    assert np.allclose([list(p.values()) for p in answer["probabilities"]], proba, atol=1e-6)


def test_the_mlp_shows_its_classes_and_a_readable_result_on_the_test_tab(api, upload_model, owner_client):
    upload_model("digits_mlp.onnx", name="mlp")
    api.patch("/api/v1/models/mlp", {"preprocessing": {"scale": 1 / 15}}, format="json")
    assert "0, 1, 2, 3, 4, 5, 6, 7, 8, 9" in owner_client.get("/models/mlp/").content.decode()
    png, label = digit_png(7)
    page = owner_client.post("/models/mlp/test/", {"mode": "file", "file": SimpleUploadedFile("seven.png", png)}).content.decode()
    table = page.split('id="result-table"')[1].split("</table>")[0]
    assert f'mono prediction">{label}<' in table
    assert table.count('aria-label="probability of') == 10
    assert "{" not in table  # no JSON blob of ten floats


def test_the_mlp_task_page_and_csv_show_labels_and_probabilities(api, deploy, submit, owner_client):
    deploy("digits_mlp.onnx", "mlp")
    X, _ = digits_data()
    rows = "\n".join(",".join(str(v) for v in row) for row in X[:4])
    upload = io.BytesIO(rows.encode())
    upload.name = "pixels.csv"
    body = submit("mlp", file=upload).json()
    task_page = owner_client.get(f"/tasks/{body['task_id']}/").content.decode()
    preview = task_page.split('id="result-preview"')[1].split("</table>")[0]
    assert "Most probable" in preview and "(+7 more)" in preview
    assert "{" not in preview and "array(" not in preview
    csv_text = b"".join(api.get(body["result_url"] + "?format=csv").streaming_content).decode()
    header = csv_text.splitlines()[0].split(",")
    assert "prediction" in header and [h for h in header if h.startswith("probability(")] == [f"probability({i})" for i in range(10)]


def test_a_lone_softmax_is_a_classifier_of_classes_0_to_k(api, upload_model, model_files):
    latest = upload_model("softmax_scores.onnx", name="net").json()["latest_version"]
    assert latest["model_type"] == "classification" and latest["classes"] == [0, 1, 2]
    features = [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]
    answer = api.post("/api/v1/models/net/predict", {"instances": features}, format="json").json()
    session = ort.InferenceSession(str(model_files["softmax_scores.onnx"]), providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {"features": np.array(features, dtype=np.float32)})
    assert answer["predictions"] == scores.argmax(axis=1).tolist()


def test_class_names_come_from_the_models_metadata(api, upload_model):
    latest = upload_model("softmax_named_classes.onnx", name="pets").json()["latest_version"]
    assert latest["classes"] == ["cat", "dog", "bird"]
    answer = api.post("/api/v1/models/pets/predict", {"instances": [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]]}, format="json").json()
    assert answer["predictions"] == ["cat", "bird"]
    assert set(answer["probabilities"][0]) == {"cat", "dog", "bird"}
