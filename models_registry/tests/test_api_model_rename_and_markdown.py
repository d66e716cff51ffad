"""Renaming a model, and its Markdown description rendered without raw HTML."""

import pytest

from models_registry.models import RegisteredModel
from tests.model_files import IRIS_ROW


@pytest.fixture
def iris(upload_model):
    assert upload_model("iris_logreg.skops", name="iris").status_code == 201


def test_a_model_can_be_renamed_and_keeps_its_versions_and_deployments(api, iris):
    assert api.post("/api/v1/deployments", {"name": "prod", "model": "iris"}, format="json").status_code == 201
    response = api.patch("/api/v1/models/iris", {"name": "flowers"}, format="json")
    assert response.status_code == 200 and response.json()["name"] == "flowers"
    assert api.get("/api/v1/models/iris").status_code == 404
    assert [v["number"] for v in api.get("/api/v1/models/flowers").json()["versions"]] == [1]
    answer = api.post("/api/v1/deployments/prod/predict", {"inputs": IRIS_ROW}, format="json").json()
    assert answer["model"] == "flowers"


def test_renaming_to_a_name_in_use_is_refused(api, upload_model, iris):
    assert upload_model("iris_logreg.skops", name="other").status_code == 201
    response = api.patch("/api/v1/models/iris", {"name": "other"}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "name_taken"
    bad = api.patch("/api/v1/models/iris", {"name": "no spaces"}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_name"
    assert sorted(RegisteredModel.objects.values_list("name", flat=True)) == ["iris", "other"]


def test_the_description_is_rendered_as_markdown_without_raw_html(api, iris):
    text = "**Bold** and [docs](https://example.org)\n\n<script>alert(1)</script><img src=x onerror=alert(1)> [x](javascript:alert(1))"
    api.patch("/api/v1/models/iris", {"description": text}, format="json")
    html = api.get("/api/v1/models/iris").json()["description_html"]
    assert "<strong>Bold</strong>" in html and 'href="https://example.org"' in html
    assert "<script" not in html and "onerror" not in html and "<img" not in html and "javascript:" not in html


def test_the_model_page_renders_the_markdown_description_safely(owner_client, api, iris):
    api.patch("/api/v1/models/iris", {"description": "# Heading\n\n<b onclick='x()'>hi</b>"}, format="json")
    html = owner_client.get("/models/iris/").content.decode()
    assert "<h1>Heading</h1>" in html
    assert "onclick" not in html
