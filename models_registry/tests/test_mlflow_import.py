"""POST /api/v1/models with a ZIP of an MLflow model directory: the flavor's own artifact
becomes the version, with the signature's names and the input example."""

import hashlib
import io
import json
import zipfile

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from models_registry.models import ModelVersion
from tests import model_files as mf

FLAVORS = [
    ("iris_mlflow_skops.zip", "sklearn", "skops", "model/model.skops"),
    ("iris_mlflow_xgboost.zip", "xgboost", "xgboost", "model.xgb"),
    ("cancer_mlflow_lightgbm.zip", "lightgbm", "lightgbm", "model.lgb"),
    ("iris_mlflow_catboost.zip", "catboost", "catboost", "model.cb"),
    ("iris_mlflow_onnx.zip", "onnx", "onnx", "model.onnx"),
]


@pytest.mark.parametrize("filename, flavor, fmt, member", FLAVORS)
def test_each_flavor_is_stored_as_its_own_artifact_in_its_real_format(upload_model, model_files, filename, flavor, fmt, member):
    response = upload_model(filename, name="m")
    assert response.status_code == 201, response.json()
    latest = response.json()["latest_version"]
    assert latest["format"] == fmt
    inner = zipfile.ZipFile(model_files[filename]).read(member)
    version = ModelVersion.objects.get()
    assert version.artifact.read() == inner
    assert version.sha256 == hashlib.sha256(inner).hexdigest() and version.size == len(inner)
    assert version.original_filename == filename
    mlflow = latest["details"]["mlflow"]
    assert mlflow["flavor"] == flavor and mlflow["artifact"] == member
    assert mlflow["run_id"] == "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b" and mlflow["mlflow_version"] == "2.16.2"
    assert mlflow["signature"]["inputs"] and mlflow["input_example"]
    assert "probe_note" not in latest["details"]


def test_the_signature_names_the_columns_of_a_model_fitted_on_an_array(api, upload_model, model_files):
    assert upload_model("cancer_mlflow_lightgbm.zip", name="cancer").status_code == 201
    inputs = api.get("/api/v1/models/cancer").json()["latest_version"]["inputs"]
    X, _ = mf.breast_cancer_frame()
    assert [f["name"] for f in inputs] == list(X.columns)
    assert inputs[0]["description"] == "Column_0 in the model file"
    rows = X.iloc[[0, 19, 568]]
    body = api.post("/api/v1/models/cancer/predict", {"dataframe_records": rows.to_dict("records")}, format="json").json()

    import lightgbm as lgb

    expected = lgb.Booster(model_file=str(model_files["cancer_lgbm_unnamed.txt"])).predict(rows.to_numpy())
    assert np.allclose([p["1"] for p in body["probabilities"]], expected, atol=1e-12)


def test_the_input_example_fills_the_test_tab(owner_client, upload_model):
    assert upload_model("iris_mlflow_xgboost.zip", name="iris").status_code == 201
    page = owner_client.get("/models/iris/test/").content.decode()
    X, _ = mf.iris_frame()
    sample = json.loads(page.split('<script id="sample-record" type="application/json">')[1].split("</script>")[0])
    assert sample == {c: float(X.iloc[0][c]) for c in mf.IRIS_COLUMNS}
    assert "xgboost flavor (model.xgb)" in owner_client.get("/models/iris/").content.decode()


def test_an_input_example_that_does_not_fit_is_noted_and_a_sample_is_probed(api, upload_model, model_files, tmp_path):
    source = model_files["iris_mlflow_xgboost.zip"]
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w") as copy:
        for info in original.infolist():
            data = original.read(info)
            if info.filename == "input_example.json":
                data = json.dumps({"columns": ["colour"], "data": [["red"]]}).encode()
            copy.writestr(info, data)
    assert upload_model(str(path), name="iris").status_code == 201
    details = api.get("/api/v1/models/iris").json()["latest_version"]["details"]
    assert "does not fit the schema" in details["probe_note"]


def test_a_pickled_scikit_learn_flavor_keeps_the_upload_code_rule(upload_model, admin_api, isolated_data_dir):
    refused = upload_model("iris_mlflow_sklearn.zip", name="iris")
    assert refused.status_code == 403
    assert "pickle" in refused.json()["error"]["message"]
    assert ModelVersion.objects.count() == 0
    assert not [p for p in (isolated_data_dir / "tmp").rglob("*") if p.is_file()]

    assert upload_model("iris_mlflow_sklearn.zip", name="iris", client=admin_api).status_code == 201
    latest = admin_api.get("/api/v1/models/iris").json()["latest_version"]
    assert latest["format"] == "pickle"
    assert [f["name"] for f in latest["inputs"]] == mf.IRIS_COLUMNS  # x0..x3 in the pickle
    X, y = mf.iris_frame()
    body = admin_api.post("/api/v1/models/iris/predict", {"dataframe_split": X.iloc[:20].to_dict("split")}, format="json").json()
    from sklearn.linear_model import LogisticRegression

    expected = LogisticRegression(max_iter=1000).fit(X.to_numpy(), y).predict(X.iloc[:20].to_numpy())
    assert body["predictions"] == expected.tolist()


def test_a_python_function_model_is_refused_and_says_which_flavors_it_has(upload_model):
    response = upload_model("mlflow_pyfunc_only.zip", name="custom")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "unsupported_flavor"
    assert "python_function" in error["message"] and "mlflow.pyfunc.model" in error["message"]
    assert error["details"] == {"flavors": ["python_function"]}


def test_an_mlflow_model_uploads_through_the_page(owner_client, model_files):
    upload = SimpleUploadedFile("iris-model.zip", model_files["iris_mlflow_catboost.zip"].read_bytes())
    response = owner_client.post("/models/new/", {"name": "iris", "description": "", "file": upload}, follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/models/iris/"
    assert "catboost flavor (model.cb)" in page and "setosa, versicolor, virginica" in page


def test_a_zip_that_is_neither_skops_nor_mlflow_says_what_it_lacks(api):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    upload = SimpleUploadedFile("model.zip", buffer.getvalue())
    response = api.post("/api/v1/models", {"name": "m", "file": upload}, format="multipart")
    assert response.status_code == 400
    assert "MLmodel" in response.json()["error"]["message"]


def test_a_lightgbm_wrapper_saved_with_skops_is_refused_with_what_to_do_instead(api, tmp_path):
    """MLflow 3 saves an LGBMClassifier with skops; skops would hand LightGBM an unchecked model string."""
    import lightgbm as lgb
    import skops.io as sio

    X, y = mf.iris_frame()
    wrapper = lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(X, y)
    skops_path = tmp_path / "model.skops"
    sio.dump(wrapper, skops_path)
    path = tmp_path / "lgbm.zip"
    mf.mlflow_zip(path, flavor="lightgbm", flavor_conf={"data": "model.skops", "model_class": "lightgbm.sklearn.LGBMClassifier",
                                                        "serialization_format": "skops"}, artifact=("model.skops", skops_path.read_bytes()))
    response = api.post("/api/v1/models", {"name": "lgbm", "file": SimpleUploadedFile("lgbm.zip", path.read_bytes())}, format="multipart")
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert "lightgbm.sklearn.LGBMClassifier" in message and "mlflow.lightgbm.log_model(model.booster_" in message
    assert ModelVersion.objects.count() == 0
