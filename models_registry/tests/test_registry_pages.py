"""The registry's pages: tags, aliases, rename, compare, the model's deployments, and a
deployed model's delete page that refuses before asking."""

import pytest

from deployments.models import Deployment
from models_registry.models import ModelAlias, ModelTag, RegisteredModel


@pytest.fixture
def iris(api, upload_model, model_files):
    assert upload_model("tree_iris.pmml", name="iris").status_code == 201
    with open(model_files["iris_logreg.skops"], "rb") as f:
        assert api.post("/api/v1/models/iris/versions", {"file": f}, format="multipart").status_code == 201


def test_tags_typed_one_per_line_are_saved_and_link_to_a_filtered_list(owner_client, iris):
    response = owner_client.post("/models/iris/tags/", {"tags": "team: risk\nvalidated"})
    assert response.status_code == 302
    assert dict(ModelTag.objects.values_list("key", "value")) == {"team": "risk", "validated": ""}
    page = owner_client.get("/models/iris/").content.decode()
    assert "/models/?tag=team:risk" in page
    assert "iris" in owner_client.get("/models/?tag=team:risk").content.decode()
    assert "No model has the tag" in owner_client.get("/models/?tag=team:other").content.decode()


def test_a_bad_tag_is_shown_on_the_form(owner_client, iris):
    response = owner_client.post("/models/iris/tags/", {"tags": "bad key: x"})
    assert response.status_code == 200 and "Invalid tags" in response.content.decode()
    assert not ModelTag.objects.exists()


def test_an_alias_set_on_the_model_page_is_listed_with_its_version(owner_client, iris):
    response = owner_client.post("/models/iris/aliases/", {"alias": "champion", "version": 2})
    assert response.status_code == 302
    assert ModelAlias.objects.get().version.number == 2
    page = owner_client.get("/models/iris/").content.decode()
    assert "@champion" in page


def test_a_deployment_follows_an_alias_chosen_on_its_page(owner_client, api, iris):
    api.put("/api/v1/models/iris/aliases/champion", {"version": 1}, format="json")
    api.post("/api/v1/deployments", {"name": "prod", "model": "iris", "version": 2}, format="json")
    owner_client.post("/deployments/prod/version/", {"alias": "champion"})
    deployment = Deployment.objects.get()
    assert deployment.alias.name == "champion" and deployment.model_version.number == 1
    assert "Follows alias" in owner_client.get("/deployments/prod/").content.decode()


def test_a_model_renamed_on_its_page_moves_to_its_new_address(owner_client, iris):
    response = owner_client.post("/models/iris/rename/", {"name": "flowers"})
    assert response.status_code == 302 and response["Location"] == "/models/flowers/"
    assert RegisteredModel.objects.get().name == "flowers"
    assert owner_client.get("/models/iris/").status_code == 404


def test_the_compare_page_shows_added_fields_and_tries_both_versions(owner_client, iris):
    page = owner_client.get("/models/iris/compare/?a=1&b=2").content.decode()
    assert "sepal_length" in page and "added" in page
    tried = owner_client.post("/models/iris/compare/", {"a": "1", "b": "2"}).content.decode()
    assert 'id="answers-table"' in tried and "They agree on" in tried


def test_the_model_page_lists_where_it_is_deployed(owner_client, api, iris):
    assert "Not deployed yet" in owner_client.get("/models/iris/").content.decode()
    api.post("/api/v1/deployments", {"name": "prod", "model": "iris"}, format="json")
    page = owner_client.get("/models/iris/").content.decode()
    assert 'id="model-deployments"' in page and 'href="/deployments/prod/"' in page


def test_deleting_a_deployed_model_is_refused_before_confirmation(owner_client, api, iris):
    api.post("/api/v1/deployments", {"name": "prod", "model": "iris"}, format="json")
    page = owner_client.get("/models/iris/delete/").content.decode()
    assert 'id="delete-refused"' in page and 'href="/deployments/prod/"' in page
    assert "Delete iris</button>" not in page


def test_the_api_lists_the_deployments_of_one_model(api, upload_model, iris):
    assert upload_model("iris_logreg.skops", name="other").status_code == 201
    api.post("/api/v1/deployments", {"name": "prod", "model": "iris"}, format="json")
    api.post("/api/v1/deployments", {"name": "side", "model": "other"}, format="json")
    names = [d["name"] for d in api.get("/api/v1/deployments?model=iris").json()["results"]]
    assert names == ["prod"]
    assert api.get("/api/v1/models/iris").json()["deployments"][0]["name"] == "prod"
