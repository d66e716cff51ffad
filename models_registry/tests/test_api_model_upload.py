"""POST /api/v1/models: every format uploads and answers with its schema."""

import pytest

from models_registry.models import ModelVersion, RegisteredModel

FORMATS = [
    ("iris_logreg.skops", "skops", "classification"),
    ("mixed_pipeline.skops", "skops", "regression"),
    ("iris_xgb.json", "xgboost", "classification"),
    ("diabetes_xgb.ubj", "xgboost", "regression"),
    ("iris_logreg.onnx", "onnx", "classification"),
    ("diabetes_linear.onnx", "onnx", "regression"),
    ("tree_iris.pmml", "pmml", "classification"),
    ("iris_logreg_nyoka.pmml", "pmml", "classification"),
    ("regression_insurance.pmml", "pmml", "regression"),
    ("sklearn2pmml_iris_tree.pmml", "pmml", "classification"),
    ("iris_lgbm.txt", "lightgbm", "classification"),
    ("mixed_lgbm_dump.json", "lightgbm", "regression"),
    ("cancer_catboost.cbm", "catboost", "classification"),
    ("mixed_catboost.cbm", "catboost", "regression"),
    ("iris_mlflow_xgboost.zip", "xgboost", "classification"),
    ("digits_mlp.onnx", "onnx", "classification"),
    ("text_sentiment.skops", "skops", "classification"),
]


@pytest.mark.parametrize("filename, fmt, model_type", FORMATS)
def test_it_uploads_each_format_and_returns_its_schema(upload_model, owner, filename, fmt, model_type):
    response = upload_model(filename, name="m1", description="first try")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["name"] == "m1"
    assert body["description"] == "first try"
    latest = body["latest_version"]
    assert latest["number"] == 1
    assert latest["format"] == fmt
    assert latest["model_type"] == model_type
    assert latest["inputs"] and all({"name", "type", "optype", "required"} <= set(f) for f in latest["inputs"])
    assert latest["outputs"]
    assert latest["uploaded_by"] == "olivia"
    assert len(latest["sha256"]) == 64
    version = ModelVersion.objects.get(model__owner=owner, model__name="m1")
    assert version.artifact.storage.exists(version.artifact.name)
    assert version.size == version.artifact.size


def test_the_format_comes_from_the_content_not_the_extension(api, model_files, tmp_path):
    renamed = tmp_path / "model.bin"
    renamed.write_bytes(model_files["iris_logreg.onnx"].read_bytes())
    with open(renamed, "rb") as f:
        response = api.post("/api/v1/models", {"name": "renamed", "file": f}, format="multipart")
    assert response.status_code == 201
    assert response.json()["latest_version"]["format"] == "onnx"


def test_a_taken_name_is_409_and_keeps_the_first_model(upload_model):
    assert upload_model("iris_logreg.skops", name="iris").status_code == 201
    response = upload_model("iris_xgb.json", name="iris")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "name_taken"
    assert RegisteredModel.objects.get(name="iris").latest_version.format == "skops"
    assert ModelVersion.objects.count() == 1


def test_two_users_may_use_the_same_name(upload_model, stranger_api):
    assert upload_model("iris_logreg.skops", name="iris").status_code == 201
    assert upload_model("iris_logreg.skops", name="iris", client=stranger_api).status_code == 201


@pytest.mark.parametrize("name", ["", "has space", "../etc", "a/b", "-starts-with-dash", "new", "x" * 101])
def test_a_bad_name_is_400_with_the_rule(upload_model, name):
    response = upload_model("iris_logreg.skops", name=name)
    assert response.status_code == 400
    assert "name" in response.json()["error"]["message"].lower()
    assert RegisteredModel.objects.count() == 0


@pytest.mark.parametrize("filename", ["iris_logreg.pkl", "iris_logreg.joblib"])
def test_pickles_are_refused_for_ordinary_users_with_a_hint(upload_model, filename, isolated_data_dir):
    response = upload_model(filename, name="pickled")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "code_upload_forbidden"
    assert "skops" in error["message"] and "ONNX" in error["message"]
    assert RegisteredModel.objects.count() == 0
    assert not list((isolated_data_dir / "media").rglob("*.*"))


def test_pickles_are_accepted_from_superusers(upload_model, admin_api):
    response = upload_model("iris_logreg.pkl", name="pickled", client=admin_api)
    assert response.status_code == 201
    assert response.json()["latest_version"]["format"] == "pickle"


def test_pickles_are_accepted_with_the_upload_code_permission(upload_model, owner):
    from django.contrib.auth.models import Permission

    owner.user_permissions.add(Permission.objects.get(codename="upload_code"))
    assert upload_model("iris_logreg.joblib", name="pickled").status_code == 201


def test_upload_needs_a_file(api):
    response = api.post("/api/v1/models", {"name": "nofile"}, format="multipart")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["fields"]["file"]


def test_upload_without_a_token_is_401(client, model_files):
    with open(model_files["iris_logreg.skops"], "rb") as f:
        response = client.post("/api/v1/models", {"name": "x", "file": f})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
