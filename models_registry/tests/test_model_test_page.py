"""The Test tab: a form from the schema, raw JSON, or a file; results as a table."""

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from models_registry.models import ModelVersion
from models_registry.tests.test_image_predictions import SAMPLES, digit_png


@pytest.fixture
def tree(upload_model):
    assert upload_model("tree_iris.pmml", name="tree").status_code == 201


@pytest.fixture
def mixed(upload_model):
    assert upload_model("mixed_pipeline.skops", name="mixed").status_code == 201


def test_the_form_is_generated_from_the_schema(owner_client, tree, mixed):
    page = owner_client.get("/models/tree/test/").content.decode()
    assert 'name="petal_length"' in page and 'min="0.0"' in page and 'max="10.0"' in page
    assert "Fill with a sample" in page
    assert "&quot;inputs&quot;" in page  # the JSON tab is prefilled with a valid body
    mixed_page = owner_client.get("/models/mixed/test/").content.decode()
    assert '<select name="sex"' in mixed_page and '<option value="female">' in mixed_page


def test_the_form_predicts_and_shows_probabilities(owner_client, tree):
    response = owner_client.post("/models/tree/test/", {"mode": "form", "petal_length": "5.5", "petal_width": "2.2"})
    page = response.content.decode()
    assert response.status_code == 200
    assert 'class="fw-semibold mono prediction">virginica<' in page
    assert "probability of setosa" in page and "97.8%" in page
    assert "curl -X POST" in page and "/api/v1/models/tree/predict?version=1" in page


def test_form_errors_sit_next_to_the_fields(owner_client, tree):
    response = owner_client.post("/models/tree/test/", {"mode": "form", "petal_length": "11", "petal_width": "abc"})
    page = response.content.decode()
    assert "must be between 0.0 and 10.0" in page or "expected a number" in page
    assert 'class="invalid-feedback d-block"' in page


def test_the_json_tab(owner_client, tree):
    body = {"inputs": [{"petal_length": 1.0, "petal_width": 0.1}, {"petal_length": 4.0, "petal_width": 1.0}]}
    page = owner_client.post("/models/tree/test/", {"mode": "json", "body": json.dumps(body)}).content.decode()
    assert page.count('mono prediction">') == 2
    assert ">setosa<" in page and ">versicolor<" in page
    bad = owner_client.post("/models/tree/test/", {"mode": "json", "body": "{oops"}).content.decode()
    assert "The JSON is malformed" in bad


def test_the_file_tab_with_a_csv(owner_client, tree):
    csv = b"petal_length,petal_width\n1.0,0.1\n6.0,2.4\n"
    page = owner_client.post(
        "/models/tree/test/", {"mode": "file", "file": SimpleUploadedFile("rows.csv", csv)}
    ).content.decode()
    assert ">setosa<" in page and ">virginica<" in page
    assert "-F file=@rows.csv" in page


def test_the_file_tab_classifies_digit_images_single_and_zipped(owner_client, api, upload_model):
    upload_model("digits_logreg.onnx", name="digits")
    api.patch("/api/v1/models/digits", {"preprocessing": {"scale": 1 / 15}}, format="json")
    png, label = digit_png(7)
    page = owner_client.post("/models/digits/test/", {"mode": "file", "file": SimpleUploadedFile("seven.png", png)}).content.decode()
    assert f'mono prediction">{label}<' in page
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in SAMPLES:
            archive.writestr(f"{index}.png", digit_png(index)[0])
    page = owner_client.post(
        "/models/digits/test/", {"mode": "file", "file": SimpleUploadedFile("digits.zip", buffer.getvalue())}
    ).content.decode()
    for index in SAMPLES:
        assert f">{index}.png<" in page
    assert page.count('mono prediction">') == len(SAMPLES)


def test_the_form_takes_an_image_for_an_image_model(owner_client, api, upload_model):
    upload_model("digits_logreg.onnx", name="digits")
    api.patch("/api/v1/models/digits", {"preprocessing": {"scale": 1 / 15}}, format="json")
    png, label = digit_png(4)
    page = owner_client.get("/models/digits/test/").content.decode()
    assert 'type="file" name="X"' in page
    page = owner_client.post("/models/digits/test/", {"mode": "form", "X": SimpleUploadedFile("d.png", png)}).content.decode()
    assert f'mono prediction">{label}<' in page


def test_the_preprocessing_is_saved_from_the_page(owner_client, upload_model):
    upload_model("digits_logreg.onnx", name="digits")
    response = owner_client.post(
        "/models/digits/test/",
        {"mode": "preprocessing", "width": 8, "height": 8, "colors": "L", "layout": "flat", "scale": "0.0625", "mean": "0", "std": "1"},
    )
    assert response.status_code == 302
    assert ModelVersion.objects.get().preprocessing["scale"] == 0.0625
    page = owner_client.post(
        "/models/digits/test/",
        {"mode": "preprocessing", "width": 0, "height": 8, "colors": "L", "layout": "flat", "scale": "x", "mean": "0", "std": "1"},
    ).content.decode()
    assert "Ensure this value is greater than or equal to 1" in page
    assert ModelVersion.objects.get().preprocessing["scale"] == 0.0625


def test_someone_elses_test_page_is_404(client, stranger, tree):
    client.force_login(stranger)
    assert client.get("/models/tree/test/").status_code == 404
    assert client.post("/models/tree/test/", {"mode": "json", "body": "{}"}).status_code == 404
