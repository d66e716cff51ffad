"""Django admin: staff see every model of the project, with list columns, search and filters."""

import pytest

from models_registry.models import ModelVersion, RegisteredModel

ADMIN_LISTS = [
    "/admin/accounts/user/",
    "/admin/accounts/apitoken/",
    "/admin/accounts/invite/",
    "/admin/models_registry/registeredmodel/",
    "/admin/models_registry/modelversion/",
    "/admin/deployments/deployment/",
    "/admin/deployments/deploymentkey/",
    "/admin/deployments/predictiontask/",
    "/admin/deployments/deploymentscript/",
    "/admin/deployments/deploymenttotals/",
    "/admin/deployments/metricbucket/",
]


@pytest.mark.parametrize("url", ADMIN_LISTS)
def test_admin_lists_render_with_search_and_filters(client, admin, upload_model, url):
    upload_model("iris_logreg.skops", name="iris")
    client.force_login(admin)
    response = client.get(url + "?q=iris")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="searchbar"' in page
    assert 'id="changelist-filter"' in page


def test_admin_sees_everyones_models(client, admin, upload_model):
    upload_model("iris_logreg.skops", name="olivias-model")
    client.force_login(admin)
    page = client.get("/admin/models_registry/registeredmodel/").content.decode()
    assert "olivias-model" in page
    version = ModelVersion.objects.get()
    assert client.get(f"/admin/models_registry/modelversion/{version.pk}/change/").status_code == 200


def test_admin_delete_removes_the_files_too(client, admin, upload_model, django_capture_on_commit_callbacks):
    upload_model("iris_logreg.skops", name="iris")
    model = RegisteredModel.objects.get()
    path = model.latest_version.artifact.path
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/models_registry/registeredmodel/{model.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    import os

    assert not os.path.exists(path)


def test_non_staff_cannot_open_admin(owner_client):
    assert owner_client.get("/admin/models_registry/registeredmodel/").status_code == 302


def test_every_model_of_the_project_is_in_admin():
    from django.apps import apps
    from django.contrib import admin as django_admin

    ours = [m for m in apps.get_models() if m._meta.app_label in ("accounts", "models_registry", "deployments")]
    missing = [m.__name__ for m in ours if m not in django_admin.site._registry]
    assert not missing
