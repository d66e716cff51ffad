"""A deployment's runners: started with it, stopped with it, replicas, CPU cores, memory,
adaptive batching, restarts after a crash, and failed after too many."""

import threading

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from deployments import runners
from deployments.models import Deployment
from models_registry.runners import client
from models_registry.runtimes import Batch
from tests.model_files import IRIS_ROW


def predict(api, body, name="iris"):
    return api.post(f"/api/v1/deployments/{name}/predict", body, format="json")


def groups_of(deployment) -> dict:
    prefix = f"{client.namespace()}-d{deployment.pk}-"
    return {k: v for k, v in client.status()["groups"].items() if k.startswith(prefix)}


def test_a_deployment_starts_its_runner_and_pausing_it_stops_it(api, iris):
    deployment = Deployment.objects.get(name="iris")
    assert [g["replicas"] for g in groups_of(deployment).values()] == [["ready"]]
    assert api.post("/api/v1/deployments/iris/pause").status_code == 200
    assert groups_of(deployment) == {}
    assert api.post("/api/v1/deployments/iris/start").status_code == 200
    assert [g["replicas"] for g in groups_of(deployment).values()] == [["ready"]]
    assert predict(api, {"inputs": IRIS_ROW}).json()["predictions"] == [0]


def test_changing_a_setting_replaces_the_runner_and_deleting_stops_it(api, iris):
    deployment = Deployment.objects.get(name="iris")
    before = set(groups_of(deployment))
    assert api.patch("/api/v1/deployments/iris", {"batch_max_rows": 8}, format="json").status_code == 200
    after = set(groups_of(deployment))
    assert len(after) == 1 and after != before
    api.delete("/api/v1/deployments/iris")
    assert groups_of(deployment) == {}


TOKEN_SCRIPT = (
    "import os, uuid\n"
    "TOKEN = uuid.uuid4().hex\n"
    "def postprocess(rows, outputs):\n"
    "    return {'runner': TOKEN, 'cores': sorted(os.sched_getaffinity(0))}\n"
)


def test_replicas_share_the_requests(api, deploy):
    deploy("iris_logreg.skops", "iris", replicas=2)
    api.put("/api/v1/deployments/iris/script", {"source": TOKEN_SCRIPT}, format="json")
    seen = {predict(api, {"inputs": IRIS_ROW}).json()["runner"] for _ in range(6)}
    assert len(seen) == 2
    assert api.get("/api/v1/deployments/iris").json()["replicas"] == 2


def test_cpu_cores_pin_each_runner(api, deploy):
    deploy("iris_logreg.skops", "iris", cpu_cores=1)
    api.put("/api/v1/deployments/iris/script", {"source": TOKEN_SCRIPT}, format="json")
    assert len(predict(api, {"inputs": IRIS_ROW}).json()["cores"]) == 1


def test_a_runner_over_its_memory_refuses_to_start_with_the_reason(api, deploy):
    deploy("iris_logreg.skops", "iris", memory_limit_mb=64)
    hog = "BIG = bytearray(300 * 1024 * 1024)\ndef postprocess(rows, outputs):\n    return outputs\n"
    response = api.put("/api/v1/deployments/iris/script", {"source": hog}, format="json")
    assert response.status_code in (400, 503), response.json()
    assert "memory" in response.json()["error"]["message"]
    assert Deployment.objects.get().script is None


def test_concurrent_single_rows_are_batched_and_each_gets_its_own_answer(api, deploy):
    """Callers in other threads (as other web workers would be): one model call serves several."""
    deploy("iris_logreg.skops", "iris", batch_max_wait_ms=20)
    spec = runners.spec_for(Deployment.objects.get())
    rows = [np.array([[5.1, 3.5, 1.4 + i / 4, 0.2]]) for i in range(24)]
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]

    def batch(row):
        return Batch(columns={n: row[:, j] for j, n in enumerate(names)}, n_rows=1)

    expected = [client.predict(spec, batch(row)).predictions for row in rows]
    answers = [None] * len(rows)

    def call(i):
        answers[i] = client.predict(spec, batch(rows[i])).predictions

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(rows))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == expected
    counts = client.call(spec, {"op": "stats"})[0]["ok"]
    assert counts["largest_batch_requests"] > 1
    assert counts["model_calls"] < counts["requests"]


def test_a_slow_model_answers_504_and_its_runner_starts_again(api, deploy):
    deploy("iris_logreg.skops", "iris", timeout_seconds=1)
    slow = "import time\ndef preprocess(request):\n    if request.get('slow'):\n        time.sleep(30)\n    return [request['row']]\n"
    api.put("/api/v1/deployments/iris/script", {"source": slow}, format="json")
    response = predict(api, {"slow": True, "row": IRIS_ROW})
    assert response.status_code == 504
    assert predict(api, {"row": IRIS_ROW}).json()["predictions"] == [0]


def test_a_runner_that_keeps_crashing_fails_the_deployment_until_it_is_started_again(api, iris, owner_client, settings):
    crash = "import ctypes\ndef postprocess(rows, outputs):\n    ctypes.string_at(0)\n"
    api.put("/api/v1/deployments/iris/script", {"source": crash}, format="json")
    # The supervisor counts a crash when it has reaped the runner (a moment after the caller's
    # answer): on a busy machine one more call may still meet a crash before the count is reached.
    codes = []
    while "deployment_failed" not in codes and len(codes) < settings.MLSERVE_RUNNER_MAX_CRASHES + 4:
        codes.append(predict(api, {"inputs": IRIS_ROW}).json()["error"]["code"])
    assert codes[-1] == "deployment_failed" and set(codes[:-1]) == {"model_crashed"}
    assert len(codes) > settings.MLSERVE_RUNNER_MAX_CRASHES, codes
    deployment = Deployment.objects.get()
    assert deployment.status == "failed" and "segmentation fault" in deployment.failure_reason
    assert "segmentation fault" in owner_client.get("/deployments/iris/").content.decode()
    assert predict(api, {"inputs": IRIS_ROW}).status_code == 503
    api.delete("/api/v1/deployments/iris/script")
    assert api.post("/api/v1/deployments/iris/start").status_code == 200
    assert predict(api, {"inputs": IRIS_ROW}).json()["predictions"] == [0]


def test_without_bubblewrap_mlserve_refuses_to_serve(settings):
    settings.MLSERVE_BWRAP, settings.MLSERVE_SANDBOX = "/nonexistent/bwrap", "bwrap"
    with pytest.raises(ImproperlyConfigured, match="apt-get install bubblewrap"):
        client.check_sandbox()
