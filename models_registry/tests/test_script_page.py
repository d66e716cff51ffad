"""A model's Script tab: try a pre/post-processing script around a model before deploying it."""

import json

import pytest
from django.contrib.auth.models import Permission

from deployments.models import DeploymentScript

SPECIES = '''
NAMES = {0: "setosa", 1: "versicolor", 2: "virginica"}

def preprocess(request):
    return [dict(zip(["sepal_length", "sepal_width", "petal_length", "petal_width"], f)) for f in request["flowers"]]

def postprocess(rows, outputs):
    return {"species": [NAMES[p] for p in outputs["predictions"]]}
'''

URL = "/models/iris/script/"


@pytest.fixture
def model(upload_model):
    assert upload_model("iris_logreg.skops", "iris").status_code == 201


@pytest.fixture
def coder(owner):
    owner.user_permissions.add(Permission.objects.get(codename="upload_code"))
    return owner


def test_the_tab_shows_the_template_and_a_sample_request_from_the_schema(owner_client, model, coder):
    page = owner_client.get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert "def preprocess(request):" in html and "sepal_length" in html
    assert 'value="try"' in html and 'value="save"' not in html  # nothing is saved on a model


def test_the_tab_says_scripts_run_in_the_sandbox(owner_client, model, settings):
    html = owner_client.get(URL).content.decode()
    assert 'id="script-sandbox">Runs beside the model in its sandboxed runner: no network' in html
    settings.MLSERVE_SANDBOX = "off"
    assert "The sandbox is off on this server" in owner_client.get(URL).content.decode()


def test_a_trial_shows_each_step_and_keeps_nothing(owner_client, model, coder):
    request = json.dumps({"flowers": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})
    page = owner_client.post(URL, {"source": SPECIES, "request": request})
    assert page.status_code == 200
    trial = page.context["trial"]
    assert json.loads(trial["response"]) == {"species": ["setosa", "virginica"]}
    assert json.loads(trial["rows"])[0]["petal_width"] == 0.2
    assert json.loads(trial["answer"])["predictions"] == [0, 2]
    assert not DeploymentScript.objects.exists()


def test_a_failing_script_shows_its_traceback(owner_client, model, coder):
    page = owner_client.post(URL, {"source": "def preprocess(request):\n    return 1 / 0\n", "request": "{}"})
    assert page.status_code == 200
    assert page.context["error"].code == "script_failed"
    assert "ZeroDivisionError" in page.content.decode()


def test_a_request_that_is_not_json_says_so(owner_client, model, coder):
    page = owner_client.post(URL, {"source": SPECIES, "request": "{flowers"})
    assert "The request is not valid JSON" in page.context["error"].message


def test_every_owner_may_try_a_script_without_the_code_permission(owner_client, model):
    request = json.dumps({"flowers": [[5.1, 3.5, 1.4, 0.2]]})
    page = owner_client.post(URL, {"source": SPECIES, "request": request})
    assert page.context["error"] is None
    assert json.loads(page.context["trial"]["response"]) == {"species": ["setosa"]}


def test_the_operator_may_keep_scripts_to_users_with_the_code_permission(owner_client, model, settings):
    settings.MLSERVE_SCRIPTS_NEED_CODE_PERMISSION = True
    page = owner_client.get(URL)
    assert "only users with the <em>upload code</em> permission" in page.content.decode()
    page = owner_client.post(URL, {"source": SPECIES, "request": "{}"})
    assert page.context["error"].code == "code_upload_forbidden" and page.context["trial"] is None


def test_another_users_model_is_not_found(client, stranger, model):
    client.force_login(stranger)
    assert client.get(URL).status_code == 404


def test_the_test_tab_points_to_the_script_tab(owner_client, model):
    html = owner_client.get("/models/iris/test/").content.decode()
    assert 'href="/models/iris/script/?version=1"' in html


@pytest.mark.parametrize("page", ["", "test/", "script/", "edit/"])
@pytest.mark.parametrize("version", ["99", "abc"])
def test_a_version_that_does_not_exist_goes_back_to_the_latest_with_a_message(owner_client, model, page, version):
    response = owner_client.get(f"/models/iris/{page}?version={version}", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0] == f"/models/iris/{page}"
    assert "Showing the latest version." in response.content.decode()
