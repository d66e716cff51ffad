"""The dashboard, and tables that sort and paginate."""

from models_registry.models import RegisteredModel
from tests.model_files import IRIS_ROW


def test_the_dashboard_counts_and_shows_each_deployments_last_hour(owner_client, api, deploy, submit):
    deploy("iris_logreg.skops", "iris")
    deploy("tree_iris.pmml", "tree")
    api.post("/api/v1/deployments/tree/pause")
    for _ in range(3):
        api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json")
    api.post("/api/v1/deployments/iris/predict", {"inputs": {"x": 1}}, format="json")
    submit("iris", json={"inputs": [IRIS_ROW]})
    page = owner_client.get("/").content.decode()
    health = page.split('id="deployment-health"')[1].split("</table>")[0]
    iris_row = health.split('monitoring/">iris</a>')[1].split("</tr>")[0]
    assert '<td class="text-end">5</td>' in iris_row  # 4 calls + 1 task
    assert '<td class="text-end text-danger">1</td>' in iris_row
    assert 'data-status="paused"' in health
    counts = page.split('id="dashboard-counts"')[1]
    assert '<div class="stat">2</div>' in counts  # models
    assert 'id="recent-tasks"' in page


def test_the_dashboard_says_what_to_do_first(owner_client):
    page = owner_client.get("/").content.decode()
    assert "Upload a model" in page and "No queued tasks yet" in page


def test_lists_sort_by_a_header_and_keep_filters(owner_client, upload_model):
    for name in ("beta", "alpha", "gamma"):
        upload_model("iris_logreg.skops", name=name)
    page = owner_client.get("/models/?sort=name").content.decode()
    assert page.index(">alpha<") < page.index(">beta<") < page.index(">gamma<")
    assert 'href="?sort=-name">Name ▲' in page
    page = owner_client.get("/models/?sort=-name").content.decode()
    assert page.index(">gamma<") < page.index(">beta<") < page.index(">alpha<")
    page = owner_client.get("/models/?sort=secret_field").content.decode()  # unknown: the default order
    assert page.index(">gamma<") < page.index(">alpha<")
    assert RegisteredModel.objects.count() == 3


def test_pagination_keeps_the_query(owner_client, owner):
    RegisteredModel.objects.bulk_create([RegisteredModel(owner=owner, name=f"m{i:02d}") for i in range(30)])
    page = owner_client.get("/models/?q=m&sort=name").content.decode()
    assert "Page 1 of 2" in page and "?q=m&sort=name&page=2" in page


def test_upload_forms_show_upload_progress(owner_client, iris):
    assert "data-upload-progress" in owner_client.get("/models/new/").content.decode()
    assert "upload-progress.js" in owner_client.get("/deployments/iris/test/").content.decode()
