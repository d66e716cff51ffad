"""Deployment scripts: they run in the deployment's sandboxed runner with limits, and fail safely."""

import os

import pytest
from django.contrib.auth.models import Permission

from deployments.models import Deployment, DeploymentScript, PredictionTask
from tests.model_files import IRIS_ROW

SPECIES = '''
NAMES = {0: "setosa", 1: "versicolor", 2: "virginica"}

def preprocess(request):
    # a custom payload: {"flowers": [[5.1, 3.5, 1.4, 0.2], ...]}
    keys = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return [dict(zip(keys, values)) for values in request["flowers"]]

def postprocess(rows, outputs):
    return {"species": [NAMES[p] for p in outputs["predictions"]], "n": len(rows)}
'''


@pytest.fixture
def coder(owner):
    owner.user_permissions.add(Permission.objects.get(codename="upload_code"))
    return owner


@pytest.fixture(autouse=True)
def quick_scripts(settings):
    settings.MLSERVE_SCRIPT_TIMEOUT_SECONDS = 2


def save(api, source, name="iris"):
    return api.put(f"/api/v1/deployments/{name}/script", {"source": source}, format="json")


def predict(api, body, name="iris"):
    return api.post(f"/api/v1/deployments/{name}/predict", body, format="json")


def test_a_script_decodes_a_custom_payload_and_names_the_classes(api, iris, coder):
    response = save(api, SPECIES)
    assert response.status_code == 201 and response.json()["version"] == 1
    answer = predict(api, {"flowers": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})
    assert answer.status_code == 200
    assert answer.json() == {"species": ["setosa", "virginica"], "n": 2}


def test_postprocess_gets_an_uploaded_csvs_rows_with_every_column(api, iris, coder):
    import io

    save(api, (
        "def postprocess(rows, outputs):\n"
        "    return {r['id']: p for r, p in zip(rows, outputs['predictions'])}\n"
    ))
    data = io.BytesIO(b"id,sepal_length,sepal_width,petal_length,petal_width\nf-1,5.1,3.5,1.4,0.2\nf-2,6.7,3.0,5.2,2.3\n")
    data.name = "flowers.csv"
    response = api.post("/api/v1/deployments/iris/predict", {"file": data}, format="multipart")
    assert response.status_code == 200, response.json()
    assert response.json() == {"f-1": 0, "f-2": 2}


def test_scripts_are_versioned_and_removable(api, iris, coder):
    save(api, SPECIES)
    save(api, SPECIES.replace('"setosa"', '"SETOSA"'))
    body = api.get("/api/v1/deployments/iris/script").json()
    assert body["version"] == 2 and [v["version"] for v in body["versions"]] == [2, 1]
    assert predict(api, {"flowers": [[5.1, 3.5, 1.4, 0.2]]}).json()["species"] == ["SETOSA"]
    assert api.delete("/api/v1/deployments/iris/script").status_code == 204
    assert predict(api, {"inputs": IRIS_ROW}).json()["predictions"] == [0]
    assert DeploymentScript.objects.count() == 2
    assert api.get("/api/v1/deployments/iris/script").status_code == 404


def test_try_runs_an_unsaved_script(api, iris, coder):
    response = api.post(
        "/api/v1/deployments/iris/script/try", {"source": SPECIES, "request": {"flowers": [[5.1, 3.5, 1.4, 0.2]]}}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["rows"] == [IRIS_ROW] and body["answer"]["predictions"] == [0] and body["response"]["species"] == ["setosa"]
    assert not DeploymentScript.objects.exists()


def test_every_owner_may_save_a_script(api, iris, owner):
    assert save(api, SPECIES).status_code == 201
    assert predict(api, {"flowers": [[5.1, 3.5, 1.4, 0.2]]}).json()["species"] == ["setosa"]


def test_the_operator_may_keep_scripts_to_the_code_permission(api, iris, owner, settings):
    settings.MLSERVE_SCRIPTS_NEED_CODE_PERMISSION = True
    response = save(api, SPECIES)
    assert response.status_code == 403 and response.json()["error"]["code"] == "code_upload_forbidden"
    assert api.post("/api/v1/deployments/iris/script/try", {"source": SPECIES, "request": {}}, format="json").status_code == 403
    assert not DeploymentScript.objects.exists()


def test_a_script_that_does_not_load_is_refused(api, iris, coder):
    response = save(api, "def preprocess(request:\n    pass\n")
    assert response.status_code == 422
    assert "SyntaxError" in response.json()["error"]["message"]
    assert save(api, "x = 1\n").status_code == 400  # defines neither function
    assert Deployment.objects.get().script is None


FAILURES = {
    "an exception": ("def preprocess(request):\n    raise ValueError('no flowers here')\n", 422, "script_failed", "ValueError: no flowers here"),
    "an infinite loop": ("def preprocess(request):\n    while True:\n        pass\n", 504, "script_timeout", "more than 2 s of CPU time"),
    "a memory blow-up": ("def preprocess(request):\n    data = bytearray(4 * 1024 ** 3)\n    return []\n", 422, "script_failed", "more memory than the runner's budget"),
    "a crash": ("import ctypes\ndef preprocess(request):\n    ctypes.string_at(0)\n", 502, "model_crashed", "segmentation fault"),
    "a bad return": ("def preprocess(request):\n    return 42\n", 422, "script_failed", "must return a list of records"),
    "an unserialisable return": ("def postprocess(rows, outputs):\n    return object()\n", 422, "script_failed", "not JSON serialisable"),
}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failing_script_answers_that_request_and_nothing_else_breaks(api, deploy, iris, coder, case):
    source, status, code, words = FAILURES[case]
    deploy("tree_iris.pmml", "other")
    assert save(api, source).status_code == 201
    body = {"inputs": IRIS_ROW}
    response = predict(api, body)
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert words in response.json()["error"]["message"]
    # the same request fails the same way again (a crashed runner is started again), other deployments are untouched
    assert predict(api, body).status_code == status
    assert predict(api, {"inputs": {"petal_length": 1.4, "petal_width": 0.2}}, name="other").status_code == 200
    api.delete("/api/v1/deployments/iris/script")
    assert predict(api, body).status_code == 200


def test_the_script_runs_in_another_process_without_our_secrets(api, iris, coder, settings):
    probe = (
        "import os\n"
        "def postprocess(rows, outputs):\n"
        "    return {'pid': os.getpid(), 'env': sorted(os.environ), 'cwd': os.getcwd()}\n"
    )
    save(api, probe)
    body = predict(api, {"inputs": IRIS_ROW}).json()
    assert body["pid"] != os.getpid()
    assert not {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "MLSERVE_DATA_DIR", "DJANGO_SETTINGS_MODULE"} & set(body["env"])
    assert str(settings.MLSERVE_DATA_DIR) not in body["cwd"]


def test_a_task_records_the_script_version_that_served_it(api, iris, coder, submit):
    save(api, SPECIES)
    response = submit("iris", json={"flowers": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]})
    assert response.status_code == 202
    task = PredictionTask.objects.get()
    assert task.status == "succeeded" and task.script_version == 1 and task.rows_done == 2


def test_a_json_task_answers_with_the_scripts_postprocess_like_a_sync_call(api, owner_client, iris, coder, submit):
    save(api, SPECIES)
    flowers = {"flowers": [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]}
    task_id = submit("iris", json=flowers).json()["task_id"]
    result = api.get(f"/api/v1/tasks/{task_id}/result")
    assert result.status_code == 200 and result["Content-Type"] == "application/json"
    assert b"".join(result.streaming_content) == b'{"species":["setosa","virginica"],"n":2}'
    assert predict(api, flowers).json() == {"species": ["setosa", "virginica"], "n": 2}  # the same as sync
    csv = b"".join(api.get(f"/api/v1/tasks/{task_id}/result?format=csv").streaming_content).decode()
    assert csv.splitlines()[0].startswith("sepal_length,") and [line.split(",")[4] for line in csv.splitlines()[1:]] == ["0", "2"]
    page = owner_client.get(f"/tasks/{task_id}/").content.decode()
    assert "postprocess() shaped the JSON result" in page


def test_a_json_task_runs_preprocess_once_at_submit_and_once_in_the_worker(api, iris, coder, submit):
    counting = (
        "calls = 0\n"
        "def preprocess(request):\n"
        "    global calls\n"
        "    calls += 1\n"
        "    return request['inputs']\n"
        "def postprocess(rows, outputs):\n"
        "    return {'preprocess_calls': calls}\n"
    )
    save(api, counting)
    task_id = submit("iris", json={"inputs": [IRIS_ROW]}).json()["task_id"]
    body = b"".join(api.get(f"/api/v1/tasks/{task_id}/result").streaming_content)
    assert body == b'{"preprocess_calls":2}'  # checked and counted in one pass, then run


def test_a_json_task_without_postprocess_keeps_the_models_answer(api, iris, coder, submit):
    save(api, SPECIES.split("def postprocess")[0])
    task_id = submit("iris", json={"flowers": [[5.1, 3.5, 1.4, 0.2]]}).json()["task_id"]
    body = b"".join(api.get(f"/api/v1/tasks/{task_id}/result").streaming_content)
    assert b'"predictions":[0]' in body.replace(b" ", b"")


def test_a_failing_postprocess_fails_the_task_and_leaves_no_result(api, iris, coder, submit):
    from deployments import task_files

    save(api, "def postprocess(rows, outputs):\n    raise KeyError('species')\n")
    task_id = submit("iris", json={"inputs": [IRIS_ROW]}).json()["task_id"]
    task = PredictionTask.objects.get(pk=task_id)
    assert task.status == "failed" and "postprocess() failed" in task.error and "KeyError" in task.error
    assert not any(task_files.task_dir(task.id).glob("result*")) and not task_files.script_response(task).exists()
    assert api.get(f"/api/v1/tasks/{task_id}/result").status_code == 409


def test_the_script_page_tries_saves_and_removes(owner_client, iris, coder):
    page = owner_client.get("/deployments/iris/script/").content.decode()
    assert "def preprocess(request)" in page  # the template to start from
    tried = owner_client.post(
        "/deployments/iris/script/", {"action": "try", "source": SPECIES, "request": '{"flowers": [[5.1, 3.5, 1.4, 0.2]]}'}
    ).content.decode()
    assert 'id="script-trial"' in tried and "setosa" in tried
    assert not DeploymentScript.objects.exists()
    response = owner_client.post("/deployments/iris/script/", {"action": "save", "source": SPECIES, "request": "{}"})
    assert response.status_code == 302 and Deployment.objects.get().script.version == 1
    broken = owner_client.post("/deployments/iris/script/", {"action": "save", "source": "def preprocess(:", "request": "{}"}).content.decode()
    assert 'id="script-error"' in broken and "SyntaxError" in broken
    owner_client.post("/deployments/iris/script/", {"action": "remove", "source": "", "request": "{}"})
    assert Deployment.objects.get().script is None


def test_without_the_permission_the_page_is_read_only_when_the_operator_says_so(owner_client, iris, settings):
    settings.MLSERVE_SCRIPTS_NEED_CODE_PERMISSION = True
    page = owner_client.get("/deployments/iris/script/").content.decode()
    assert "readonly" in page and "upload code" in page
    owner_client.post("/deployments/iris/script/", {"action": "save", "source": SPECIES, "request": "{}"})
    assert not DeploymentScript.objects.exists()
