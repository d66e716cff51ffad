"""Every free-text field has a length limit and a clear 400 beyond it, at every door: the API,
the pages and the services they call (issue 12, item 7). A 1 MB description was accepted."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts import services as account_services
from accounts.models import ApiToken
from core.errors import ApplicationError
from core.limits import DESCRIPTION_MAX_CHARS, FIELD_DESCRIPTION_MAX_CHARS, NAME_MAX_CHARS
from deployments import services as deployment_services
from deployments.models import Deployment, DeploymentKey
from models_registry.models import RegisteredModel

MEGABYTE = "d" * 1_000_000


def assert_too_long(response, field: str):
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert field in error["message"] and ("no more than" in error["message"] or "at most" in error["message"]), error


def test_a_model_description_over_the_limit_is_refused_at_upload(api, model_files, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 3_000_000  # the field is refused for its length, not the body's size
    with open(model_files["iris_logreg.skops"], "rb") as f:
        response = api.post("/api/v1/models", {"name": "m", "description": MEGABYTE, "file": f}, format="multipart")
    assert_too_long(response, "description")
    assert not RegisteredModel.objects.exists()


def test_a_model_description_at_the_limit_is_kept(upload_model):
    response = upload_model("iris_logreg.skops", name="m", description="d" * DESCRIPTION_MAX_CHARS)
    assert response.status_code == 201
    assert len(RegisteredModel.objects.get().description) == DESCRIPTION_MAX_CHARS


def test_a_model_description_over_the_limit_is_refused_on_patch(api, iris, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 3_000_000
    response = api.patch("/api/v1/models/iris-model", {"description": MEGABYTE}, format="json")
    assert_too_long(response, "description")
    assert RegisteredModel.objects.get().description == ""


def test_a_field_description_over_the_limit_is_a_400_not_cut_short(api, iris):
    long = "f" * (FIELD_DESCRIPTION_MAX_CHARS + 1)
    response = api.patch("/api/v1/models/iris-model", {"fields": {"sepal_length": {"description": long}}}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "too_long" and "sepal_length: description" in error["message"]
    fields = RegisteredModel.objects.get().latest_version.inputs
    assert all(f["description"] == "" for f in fields)


def test_a_deployment_description_over_the_limit_is_refused(api, iris, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 3_000_000
    created = api.post("/api/v1/deployments", {"name": "long", "model": "iris-model", "description": MEGABYTE}, format="json")
    assert_too_long(created, "description")
    assert not Deployment.objects.filter(name="long").exists()
    patched = api.patch("/api/v1/deployments/iris", {"description": MEGABYTE}, format="json")
    assert_too_long(patched, "description")
    assert Deployment.objects.get(name="iris").description == ""


def test_names_over_the_limit_are_refused_by_the_api(api, iris, client, owner):
    long = "n" * (NAME_MAX_CHARS + 1)
    assert_too_long(api.post("/api/v1/deployments/iris/keys", {"name": long}, format="json"), "name")
    token = client.post(
        "/api/v1/auth/token", {"username": "olivia", "password": "owner-pass-123", "name": long}, content_type="application/json"
    )
    assert_too_long(token, "name")
    assert not DeploymentKey.objects.exists() and not ApiToken.objects.filter(name=long).exists()


@pytest.mark.parametrize("create", ["token", "key"])
def test_the_services_refuse_names_over_the_limit_whoever_calls_them(owner, iris, create):
    long = "n" * (NAME_MAX_CHARS + 1)
    with pytest.raises(ApplicationError) as raised:
        if create == "token":
            account_services.token_create(user=owner, name=long)
        else:
            deployment_services.key_create(deployment=Deployment.objects.get(), name=long)
    assert raised.value.code == "too_long" and raised.value.status_code == 400


def test_the_pages_refuse_long_descriptions_and_names(owner_client, iris, model_files, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 3_000_000
    long = "d" * (DESCRIPTION_MAX_CHARS + 1)
    with open(model_files["iris_logreg.skops"], "rb") as f:
        upload = owner_client.post("/models/new/", {"name": "paged", "description": long, "file": SimpleUploadedFile("m.skops", f.read())})
    assert upload.status_code == 200 and "at most 5000 characters" in upload.content.decode()
    edit = owner_client.post("/models/iris-model/edit/", {"description": long})
    assert edit.status_code == 200 and "at most 5000 characters" in edit.content.decode()
    field = owner_client.post("/models/iris-model/edit/", {"description": "", "desc__sepal_length": "f" * 1001})
    assert field.status_code == 200 and "at most 1000 characters" in field.content.decode()
    deployment = owner_client.post("/deployments/new/", {"name": "paged", "model": "iris-model", "description": long})
    assert deployment.status_code == 200 and "at most 5000 characters" in deployment.content.decode()
    token = owner_client.post("/accounts/", {"name": "n" * 101})
    assert token.status_code == 200 and "at most 100 characters" in token.content.decode()
    assert not RegisteredModel.objects.filter(name="paged").exists() and not Deployment.objects.filter(name="paged").exists()
    assert RegisteredModel.objects.get(name="iris-model").description == ""
