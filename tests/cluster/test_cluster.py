"""Two nodes, one service (issue 16): what one node does, the other sees, through nginx and
through each node directly, with nothing shared but PostgreSQL, Redis and the S3 store.

Run by `make test-cluster` (not by `make test`: marked `cluster`). The tests run in file
order and build on each other's deployments; each uses its own API token, so the per-token
rate limit (120/minute here) only bites where a test means it to."""

import io
import json
import signal
import threading
import time

import pytest
import skops.io as sio

from tests.cluster.conftest import http, wait_until
from tests.model_files import IRIS_COLUMNS, IRIS_ROW, iris_frame, iris_logreg

pytestmark = pytest.mark.cluster

USER, PASSWORD = "cluster", "cluster-pass-123"
# The bounds: a change on one node reaches every process of every node within 1 s;
# monitoring figures are at most 2 s old.
CHANGE_SECONDS = 1.0
MONITORING_SECONDS = 2.0
PROCESSES_TOUCHED = 12  # requests per check: enough to reach both gunicorn workers of a node


def call(method: str, url: str, token: str | None = None, body=None, fields=None, headers=None):
    headers = dict(headers or {})
    if token:
        headers["Authorization"] = f"Token {token}"
    if fields is not None:
        return http.request(method, url, fields=fields, headers=headers)
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    return http.request(method, url, body=body, headers=headers)


def data(response) -> dict:
    return json.loads(response.data)


def new_token(cluster) -> str:
    response = call("POST", cluster.a.url("/api/v1/auth/token"), body={"username": USER, "password": PASSWORD})
    assert response.status == 201, response.data
    return data(response)["token"]


def predict(url: str, token: str, rows=1):
    return call("POST", url, token, body={"inputs": [IRIS_ROW] * rows})


@pytest.fixture(scope="module")
def owner(cluster):
    cluster.a.manage(
        "shell", "-c", f"from accounts.models import User; User.objects.create_user({USER!r}, password={PASSWORD!r})"
    )
    return USER


@pytest.fixture(scope="module")
def iris_file(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("models") / "iris.skops"
    sio.dump(iris_logreg(), path)
    return path.read_bytes()


def deploy(cluster, token: str, name: str, model: str, **limits) -> None:
    response = call("POST", cluster.a.url("/api/v1/deployments"), token, body={"name": name, "model": model, **limits})
    assert response.status == 201, response.data


@pytest.fixture(scope="module")
def iris(cluster, owner, iris_file) -> str:
    """The model uploaded through node A, deployed as "iris"."""
    token = new_token(cluster)
    response = call("POST", cluster.a.url("/api/v1/models"), token, fields={"name": "iris", "file": ("iris.skops", iris_file)})
    assert response.status == 201, response.data
    deploy(cluster, token, "iris", "iris")
    return "iris"


def iris_csv(rows: int) -> bytes:
    frame, _ = iris_frame()
    frame = frame[IRIS_COLUMNS] if set(IRIS_COLUMNS) <= set(frame.columns) else frame
    repeats = -(-rows // len(frame))
    table = frame.loc[frame.index.repeat(repeats)].head(rows)
    out = io.StringIO()
    table.to_csv(out, index=False, header=IRIS_COLUMNS)
    return out.getvalue().encode()


def submit_csv(cluster, url: str, token: str, rows: int) -> str:
    response = call("POST", url, token, fields={"file": ("flowers.csv", iris_csv(rows), "text/csv")})
    assert response.status == 202, response.data
    return data(response)["task_id"]


def task_state(cluster, node, token: str, task_id: str) -> dict:
    response = call("GET", node.url(f"/api/v1/tasks/{task_id}"), token)
    assert response.status == 200, response.data
    return data(response)


# ---- files: no shared filesystem ----------------------------------------------------------


def test_a_model_uploaded_through_node_a_is_served_by_node_b_and_through_nginx(cluster, iris):
    token = new_token(cluster)
    for url in (cluster.b.url("/api/v1/deployments/iris/predict"), cluster.front("/api/v1/deployments/iris/predict")):
        response = predict(url, token, rows=2)
        assert response.status == 200, response.data
        assert len(data(response)["predictions"]) == 2
    artifacts = cluster.stored_keys("cluster/models/")
    assert len(artifacts) == 1 and artifacts[0].endswith(".skops")
    # Node B holds the model only in its artifact cache, fetched from the store by its sha256.
    assert not (cluster.b.data_dir / "media").exists()
    assert len(list((cluster.b.data_dir / "cache" / "artifacts").glob("*.skops"))) == 1


def test_a_refused_upload_stores_nothing_and_a_deleted_model_leaves_nothing(cluster, owner, iris_file):
    token = new_token(cluster)
    before = cluster.stored_keys("cluster/")
    refused = call("POST", cluster.b.url("/api/v1/models"), token, fields={"name": "junk", "file": ("junk.onnx", b"not a model")})
    assert refused.status == 400, refused.data
    assert cluster.stored_keys("cluster/") == before
    assert not any((cluster.b.data_dir / "tmp").iterdir())  # and nothing staged is left on the node

    # Uploaded through B, deleted through A: its file goes from the store too.
    kept = call("POST", cluster.b.url("/api/v1/models"), token, fields={"name": "spare", "file": ("spare.skops", iris_file)})
    assert kept.status == 201, kept.data
    assert len(cluster.stored_keys("cluster/models/")) == len([k for k in before if k.startswith("cluster/models/")]) + 1
    assert call("DELETE", cluster.a.url("/api/v1/models/spare"), token).status == 204
    assert cluster.stored_keys("cluster/") == before


def test_a_queued_csv_task_submitted_on_a_runs_and_its_result_downloads_from_b(cluster, iris):
    token = new_token(cluster)
    rows = 3000  # six chunks of 500: progress moves
    task_id = submit_csv(cluster, cluster.a.url("/api/v1/deployments/iris/tasks"), token, rows)
    seen = {"a": set(), "b": set()}

    def finished() -> bool:
        states = {}
        for node in (cluster.a, cluster.b):
            state = task_state(cluster, node, token, task_id)
            seen[node.name].add((state["status"], state["progress"]["rows_done"]))
            states[node.name] = state["status"]
        return all(s in ("succeeded", "failed") for s in states.values())

    wait_until(finished, 120, "the task to finish", (cluster.a, cluster.b), interval=1.5)
    state = task_state(cluster, cluster.b, token, task_id)
    assert state["status"] == "succeeded", state
    assert state["progress"]["rows_done"] == rows and state["progress"]["fraction"] == 1.0
    assert seen["a"] and seen["b"]  # both nodes answered about it all along
    csv_answer = call("GET", cluster.b.url(f"/api/v1/tasks/{task_id}/result?format=csv"), token)
    assert csv_answer.status == 200
    lines = csv_answer.data.decode().strip().splitlines()
    assert len(lines) == rows + 1 and lines[0].startswith(",".join(IRIS_COLUMNS) + ",prediction")
    json_answer = call("GET", cluster.front(f"/api/v1/tasks/{task_id}/result"), token)
    assert json_answer.status == 200 and len(data(json_answer)["predictions"]) == rows
    stored = cluster.stored_keys(f"cluster/tasks/{task_id}/")
    assert {k.rsplit("/", 1)[1] for k in stored} == {"input.csv", "result.jsonl", "result.csv"}
    # Neither node keeps the task's files once they are in the store.
    assert not any((node.data_dir / "tasks" / task_id).exists() for node in (cluster.a, cluster.b))


# ---- changes seen at once everywhere --------------------------------------------------------


def test_a_deployment_paused_on_a_answers_503_on_b_within_a_second(cluster, iris, iris_file):
    token = new_token(cluster)
    deploy(cluster, token, "pausable", "iris")
    url = cluster.b.url("/api/v1/deployments/pausable/predict")
    assert all(predict(url, token).status == 200 for _ in range(PROCESSES_TOUCHED))  # cached on B's workers
    assert call("POST", cluster.a.url("/api/v1/deployments/pausable/pause"), token).status == 200
    time.sleep(CHANGE_SECONDS)
    statuses = [predict(url, token).status for _ in range(PROCESSES_TOUCHED)]
    assert statuses == [503] * PROCESSES_TOUCHED
    assert call("DELETE", cluster.a.url("/api/v1/deployments/pausable"), token).status == 204
    time.sleep(CHANGE_SECONDS)
    assert [predict(url, token).status for _ in range(PROCESSES_TOUCHED)] == [404] * PROCESSES_TOUCHED


def test_a_version_switched_on_a_is_served_by_b_within_a_second(cluster, iris, iris_file):
    token = new_token(cluster)
    deploy(cluster, token, "switched", "iris")
    url = cluster.b.url("/api/v1/deployments/switched/predict")
    assert {data(predict(url, token))["version"] for _ in range(PROCESSES_TOUCHED)} == {1}
    added = call("POST", cluster.a.url("/api/v1/models/iris/versions"), token, fields={"file": ("iris-v2.skops", iris_file)})
    assert added.status == 201, added.data
    switched = call("PATCH", cluster.a.url("/api/v1/deployments/switched"), token, body={"version": 2})
    assert switched.status == 200, switched.data
    time.sleep(CHANGE_SECONDS)
    assert {data(predict(url, token))["version"] for _ in range(PROCESSES_TOUCHED)} == {2}


def test_a_user_switched_off_on_a_answers_401_on_b_within_a_second(cluster, iris):
    cluster.a.manage("shell", "-c", "from accounts.models import User; User.objects.create_user('leaver', password='leaver-pass-123')")
    response = call("POST", cluster.a.url("/api/v1/auth/token"), body={"username": "leaver", "password": "leaver-pass-123"})
    token = data(response)["token"]
    url = cluster.b.url("/api/v1/models")
    assert [call("GET", url, token).status for _ in range(PROCESSES_TOUCHED)] == [200] * PROCESSES_TOUCHED
    # The admin's save, run by a process of node A (the post_save hook announces it).
    cluster.a.manage("shell", "-c", (
        "from accounts.models import User; u = User.objects.get(username='leaver'); u.is_active = False; u.save()"
    ))
    time.sleep(CHANGE_SECONDS)
    assert [call("GET", url, token).status for _ in range(PROCESSES_TOUCHED)] == [401] * PROCESSES_TOUCHED


def test_a_token_revoked_on_a_answers_401_on_b_within_a_second(cluster, iris):
    token = new_token(cluster)
    url = cluster.b.url("/api/v1/deployments/iris/predict")
    assert all(predict(url, token).status == 200 for _ in range(PROCESSES_TOUCHED))
    # The account page's service, run by a process of node A (its commit announces the change).
    cluster.a.manage("shell", "-c", (
        "from accounts.models import ApiToken; from core.credentials import hash_key; from accounts.services import token_revoke; "
        f"token_revoke(token=ApiToken.objects.get(key_hash=hash_key({token!r})))"
    ))
    time.sleep(CHANGE_SECONDS)
    statuses = [predict(url, token).status for _ in range(PROCESSES_TOUCHED)]
    assert statuses == [401] * PROCESSES_TOUCHED


def test_a_deployment_key_revoked_through_a_answers_401_on_b_within_a_second(cluster, iris):
    token = new_token(cluster)
    created = call("POST", cluster.a.url("/api/v1/deployments/iris/keys"), token, body={"name": "partner"})
    assert created.status == 201, created.data
    key, key_id = data(created)["key"], data(created)["id"]
    url = cluster.b.url("/api/v1/deployments/iris/predict")
    assert all(predict(url, key).status == 200 for _ in range(PROCESSES_TOUCHED))
    assert call("DELETE", cluster.a.url(f"/api/v1/deployments/iris/keys/{key_id}"), token).status == 204
    time.sleep(CHANGE_SECONDS)
    assert [predict(url, key).status for _ in range(PROCESSES_TOUCHED)] == [401] * PROCESSES_TOUCHED


# ---- limits and monitoring across nodes -------------------------------------------------------


def test_n_calls_over_both_nodes_show_as_n_on_the_monitoring_api_within_two_seconds(cluster, iris):
    """Needs issue 13 (monitoring fresh within 2 s): each process flushes every 10 s before it."""
    token = new_token(cluster)
    deploy(cluster, token, "counted", "iris")
    urls = [node.url("/api/v1/deployments/counted/predict") for node in (cluster.a, cluster.b)]
    urls.append(cluster.front("/api/v1/deployments/counted/predict"))
    calls = 21
    assert all(predict(urls[i % 3], token).status == 200 for i in range(calls))
    time.sleep(MONITORING_SECONDS)
    for node in (cluster.a, cluster.b):
        summary = data(call("GET", node.url("/api/v1/deployments/counted/metrics"), token))["summary"]
        assert summary["requests"] == calls, f"node {node.name} shows {summary['requests']} of {calls} calls"


def test_malformed_bodies_sent_to_either_node_are_counted(cluster, iris):
    """Needs issue 13 (bodies that cannot be parsed count as malformed_request)."""
    token = new_token(cluster)
    deploy(cluster, token, "garbage", "iris")
    for node in (cluster.a, cluster.b, cluster.a):
        response = call("POST", node.url("/api/v1/deployments/garbage/predict"), token, body=b"{not json",
                        headers={"Content-Type": "application/json"})
        assert response.status == 400
    time.sleep(MONITORING_SECONDS)
    summary = data(call("GET", cluster.b.url("/api/v1/deployments/garbage/metrics"), token))["summary"]
    assert summary["requests"] == 3 and summary["errors_by_kind"].get("malformed_request") == 3, summary


SLOW_SCRIPT = (
    "import time\n"
    "def preprocess(request):\n"
    "    time.sleep(2)\n"
    "    return request['inputs']\n"
)


def test_max_concurrency_holds_across_both_nodes(cluster, iris):
    token = new_token(cluster)
    deploy(cluster, token, "narrow", "iris", max_concurrency=2, timeout_seconds=60)
    saved = call("PUT", cluster.a.url("/api/v1/deployments/narrow/script"), token, body={"source": SLOW_SCRIPT})
    assert saved.status == 201, saved.data
    for node in (cluster.a, cluster.b):  # both nodes' runners are up before the burst
        assert predict(node.url("/api/v1/deployments/narrow/predict"), token).status == 200
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def one(node):
        barrier.wait()
        statuses.append(predict(node.url("/api/v1/deployments/narrow/predict"), token).status)

    threads = [threading.Thread(target=one, args=(node,)) for node in (cluster.a, cluster.b) * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 200, 429, 429, 429, 429]


def test_the_per_token_rate_counts_across_both_nodes(cluster, iris):
    token = new_token(cluster)
    if time.time() % 60 > 40:  # the window is a calendar minute: start the burst well inside one
        time.sleep(60 - time.time() % 60 + 0.5)
    statuses = [
        call("GET", (cluster.a if i % 2 else cluster.b).url("/api/v1/deployments/iris"), token).status for i in range(150)
    ]
    assert statuses.count(200) == 120 and statuses.count(429) == 30


# ---- a worker lost mid-task, slow clients -----------------------------------------------------


def test_a_task_whose_worker_is_killed_is_finished_by_the_other_node_or_fails_visibly(cluster, iris):
    token = new_token(cluster)
    # Node A's worker is held still, so node B's takes the task; then B's is killed mid-task.
    cluster.a.signal_group("worker", signal.SIGSTOP)
    try:
        task_id = submit_csv(cluster, cluster.a.url("/api/v1/deployments/iris/tasks"), token, 60_000)
        wait_until(lambda: cluster.task_rows_done(task_id) > 0, 120, "node B's worker to start the task", (cluster.b,))
        cluster.b.signal_group("worker", signal.SIGKILL)
    finally:
        cluster.a.signal_group("worker", signal.SIGCONT)
    assert task_state(cluster, cluster.a, token, task_id)["status"] == "running"

    def settled() -> bool:
        return task_state(cluster, cluster.a, token, task_id)["status"] in ("succeeded", "failed")

    # Stalled after MLSERVE_TASK_STALL_SECONDS (6) without heartbeat, re-queued by the every-minute schedule.
    wait_until(settled, 150, "the task to be taken over", (cluster.a,), interval=1.5)
    state = task_state(cluster, cluster.b, token, task_id)
    if state["status"] == "succeeded":
        assert state["progress"]["rows_done"] == 60_000
        assert call("GET", cluster.b.url(f"/api/v1/tasks/{task_id}/result?format=csv"), token).status == 200
    else:
        assert state["error"], state  # failed, with the reason shown


def test_slow_clients_through_nginx_leave_other_requests_answered(cluster, iris):
    import socket

    token = new_token(cluster)
    held = []
    try:
        for _ in range(20):  # more than every gunicorn thread of both nodes
            connection = socket.create_connection(("127.0.0.1", cluster.nginx_port), timeout=5)
            connection.sendall(
                b"POST /api/v1/deployments/iris/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000\r\n\r\n{\"inp"
            )
            held.append(connection)
        time.sleep(0.5)
        for _ in range(5):
            response = http.request("GET", cluster.front("/healthz"), timeout=CHANGE_SECONDS)
            assert response.status == 200
        assert predict(cluster.front("/api/v1/deployments/iris/predict"), token).status == 200
    finally:
        for connection in held:
            connection.close()
