"""An image model (ONNX, from a scikit-learn classifier on the 8x8 digits) classifies
PNG files of those digits, one at a time, in a ZIP, and as base64 in JSON."""

import base64
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.model_files import digits_data

# Digit images hold 0..16; stored as PNG pixels v*15 so that scale 1/15 gives them back exactly.
PREPROCESSING = {"scale": 1 / 15}


def digit_png(index: int) -> tuple[bytes, int]:
    X, y = digits_data()
    pixels = (X[index].reshape(8, 8) * 15).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="PNG")
    return buffer.getvalue(), int(y[index])


SAMPLES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 42]


@pytest.fixture
def digits(api, upload_model):
    assert upload_model("digits_logreg.onnx", name="digits").status_code == 201
    response = api.patch("/api/v1/models/digits", {"preprocessing": PREPROCESSING}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_flat_input_takes_images_only_once_its_preprocessing_is_set(api, upload_model):
    upload_model("digits_logreg.onnx", name="digits")
    assert api.get("/api/v1/models/digits").json()["latest_version"]["preprocessing"] is None
    png, label = digit_png(3)
    refused = api.post("/api/v1/models/digits/predict", png, content_type="image/png")
    assert refused.status_code == 400
    assert "not taken for an image" in refused.json()["error"]["message"]

    api.patch("/api/v1/models/digits", {"preprocessing": PREPROCESSING}, format="json")
    config = api.get("/api/v1/models/digits").json()["latest_version"]["preprocessing"]
    assert config == {"field": "X", "scale": 1 / 15, "mean": [0.0], "std": [1.0], "size": [8, 8], "mode": "L", "layout": "flat"}
    assert api.post("/api/v1/models/digits/predict", png, content_type="image/png").json()["predictions"] == [label]


def test_the_preprocessing_is_editable(digits):
    assert digits["latest_version"]["preprocessing"]["scale"] == pytest.approx(1 / 15)


def test_single_png_files_are_classified(api, digits):
    for index in SAMPLES:
        png, label = digit_png(index)
        upload = io.BytesIO(png)
        upload.name = f"digit-{index}.png"
        body = api.post("/api/v1/models/digits/predict", {"file": upload}, format="multipart").json()
        assert body["predictions"] == [label], index
        assert body["sources"] == [f"digit-{index}.png"]


def test_a_raw_png_body_is_classified(api, digits):
    png, label = digit_png(3)
    body = api.post("/api/v1/models/digits/predict", png, content_type="image/png").json()
    assert body["predictions"] == [label]


def test_a_zip_of_pngs_names_each_member(api, digits):
    buffer = io.BytesIO()
    labels = []
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in SAMPLES:
            png, label = digit_png(index)
            archive.writestr(f"digits/{index}.png", png)
            labels.append(label)
    buffer.seek(0)
    buffer.name = "digits.zip"
    body = api.post("/api/v1/models/digits/predict", {"file": buffer}, format="multipart").json()
    assert body["predictions"] == labels
    assert body["sources"] == [f"digits/{i}.png" for i in SAMPLES]
    assert len(body["probabilities"]) == len(SAMPLES)


def test_base64_images_in_json(api, digits):
    pngs = [digit_png(i) for i in (5, 6)]
    instances = [{"b64": base64.b64encode(png).decode()} for png, _ in pngs]
    body = api.post("/api/v1/models/digits/predict", {"instances": instances}, format="json").json()
    assert body["predictions"] == [label for _, label in pngs]
    record = {"inputs": {"X": {"b64": base64.b64encode(pngs[0][0]).decode()}}}
    assert api.post("/api/v1/models/digits/predict", record, format="json").json()["predictions"] == [pngs[0][1]]


def test_a_model_without_tensor_input_refuses_images(api, upload_model):
    upload_model("iris_logreg.skops", name="iris")
    png, _ = digit_png(0)
    response = api.post("/api/v1/models/iris/predict", png, content_type="image/png")
    assert response.status_code == 400
    assert "does not take images" in response.json()["error"]["message"]
    response = api.patch("/api/v1/models/iris", {"preprocessing": {"scale": 1}}, format="json")
    assert response.status_code == 400


@pytest.mark.parametrize(
    "config, words",
    [({"mode": "CMYK"}, "mode"), ({"layout": "XYZ"}, "layout"), ({"size": [0, 8]}, "size"), ({"std": [0]}, "std"), ({"colour": 1}, "unknown")],
)
def test_bad_preprocessing_is_refused(api, upload_model, config, words):
    upload_model("digits_logreg.onnx", name="digits")
    response = api.patch("/api/v1/models/digits", {"preprocessing": config}, format="json")
    assert response.status_code == 400
    assert words in response.json()["error"]["message"].lower()
