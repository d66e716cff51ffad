"""The registry's pages: list, upload, detail, edit, new version, delete."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from models_registry.models import ModelVersion, RegisteredModel


def file_of(model_files, name):
    return SimpleUploadedFile(name, model_files[name].read_bytes())


@pytest.fixture
def iris(upload_model):
    assert upload_model("tree_iris.pmml", name="iris").status_code == 201
    return RegisteredModel.objects.get(name="iris")


def test_pages_need_login(client):
    response = client.get("/models/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_empty_list_says_what_to_do(owner_client):
    page = owner_client.get("/models/").content.decode()
    assert "You have no models yet" in page and "Upload your first model" in page


def test_list_searches_by_name(owner_client, upload_model):
    upload_model("iris_logreg.skops", name="flowers")
    upload_model("diabetes_xgb.json", name="sugar")
    page = owner_client.get("/models/?q=flow").content.decode()
    assert "flowers" in page and "sugar" not in page


def test_upload_shows_the_schema_at_once(owner_client, model_files):
    response = owner_client.post(
        "/models/new/", {"name": "iris", "description": "", "file": file_of(model_files, "tree_iris.pmml")}, follow=True
    )
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == "/models/iris/"
    assert "classification" in page and "TreeModel" in page and "PMML4S" in page
    assert "petal_length" in page and "[0.0, 10.0]" in page
    assert "setosa, versicolor, virginica" in page


@pytest.mark.parametrize(
    "filename, words",
    [
        ("iris_lgbm.txt", ["LightGBM gbdt (20 boosting rounds, objective multiclass)", "lightgbm"]),
        ("mixed_lgbm_dump.json", ["LightGBM", "female, male"]),
        ("iris_catboost.cbm", ["CatBoost (20 trees, loss MultiClass)", "setosa, versicolor, virginica"]),
        ("iris_mlflow_onnx.zip", ["onnx flavor (model.onnx)", "LinearClassifier"]),
    ],
)
def test_upload_of_the_new_formats_shows_their_schema(owner_client, model_files, filename, words):
    response = owner_client.post("/models/new/", {"name": "m", "description": "", "file": file_of(model_files, filename)}, follow=True)
    assert response.redirect_chain[-1][0] == "/models/m/"
    page = response.content.decode()
    for word in words:
        assert word in page


def test_upload_of_a_bad_file_shows_the_reason_beside_the_field(owner_client):
    response = owner_client.post("/models/new/", {"name": "bad", "file": SimpleUploadedFile("x.onnx", b"")})
    assert response.status_code == 200
    assert "file is empty" in response.content.decode()
    assert not RegisteredModel.objects.exists()


def test_upload_with_a_taken_name_is_a_form_error(owner_client, iris, model_files):
    response = owner_client.post("/models/new/", {"name": "iris", "file": file_of(model_files, "iris_logreg.skops")})
    assert "already have a model named" in response.content.decode()
    assert ModelVersion.objects.count() == 1


def test_someone_elses_model_page_is_404(client, stranger, iris):
    client.force_login(stranger)
    for url in ("/models/iris/", "/models/iris/edit/", "/models/iris/versions/new/", "/models/iris/delete/"):
        assert client.get(url).status_code == 404, url
    assert client.post("/models/iris/delete/").status_code == 404
    assert RegisteredModel.objects.exists()


def test_edit_saves_field_descriptions_and_ranges(owner_client, iris):
    page = owner_client.get("/models/iris/edit/")
    assert page.status_code == 200
    response = owner_client.post(
        "/models/iris/edit/?version=1",
        {
            "description": "edited",
            "desc__petal_length": "length in cm",
            "min__petal_length": "1",
            "max__petal_length": "7",
            "desc__petal_width": "",
            "min__petal_width": "",
            "max__petal_width": "",
        },
    )
    assert response.status_code == 302
    version = ModelVersion.objects.get()
    assert version.input_fields[0].description == "length in cm"
    assert version.input_fields[0].interval == {"min": 1.0, "max": 7.0}
    assert version.input_fields[1].interval is None
    assert RegisteredModel.objects.get().description == "edited"


def test_edit_refuses_min_above_max(owner_client, iris):
    response = owner_client.post(
        "/models/iris/edit/", {"description": "", "min__petal_length": "9", "max__petal_length": "1"}
    )
    assert response.status_code == 200
    assert "above max" in response.content.decode()
    assert ModelVersion.objects.get().input_fields[0].interval == {"min": 0.0, "max": 10.0}


def test_new_version_page(owner_client, iris, model_files):
    response = owner_client.post("/models/iris/versions/new/", {"file": file_of(model_files, "iris_logreg_nyoka.pmml")})
    assert response.status_code == 302
    assert ModelVersion.objects.filter(model=iris).count() == 2
    page = owner_client.get("/models/iris/?version=1").content.decode()
    assert "petal_length" in page


def test_delete_asks_then_removes(owner_client, iris, django_capture_on_commit_callbacks):
    assert "cannot be undone" in owner_client.get("/models/iris/delete/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/models/iris/delete/")
    assert response.status_code == 302
    assert not RegisteredModel.objects.exists()
