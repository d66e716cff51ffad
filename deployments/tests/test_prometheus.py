"""/metrics: the Prometheus text format, parsed by prometheus-client's own parser."""

from prometheus_client.parser import text_string_to_metric_families

from tests.model_files import IRIS_ROW


def scrape(client, **extra) -> dict:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    return families


def samples(family, **labels):
    return [s for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]


def test_the_exposition_parses_and_counts(client, api, iris, deploy, inline_queue, submit):
    deploy("tree_iris.pmml", "tree")
    for _ in range(3):
        api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json")
    api.post("/api/v1/deployments/iris/predict", {"inputs": [IRIS_ROW] * 4}, format="json")
    api.post("/api/v1/deployments/iris/predict", {"inputs": {"x": 1}}, format="json")
    submit("iris", json={"inputs": [IRIS_ROW] * 10})
    api.post("/api/v1/deployments/tree/pause")
    families = scrape(client)

    requests = families["mlserve_requests"]
    assert [s.value for s in samples(requests, deployment="iris", status="200", owner="olivia") if s.name.endswith("_total")] == [5.0]
    assert [s.value for s in samples(requests, deployment="iris", status="400") if s.name.endswith("_total")] == [1.0]
    rows = families["mlserve_rows_predicted"]
    assert [s.value for s in samples(rows, deployment="iris") if s.name.endswith("_total")] == [17.0]
    histogram = families["mlserve_request_latency_seconds"]
    count = [s.value for s in samples(histogram, deployment="iris") if s.name.endswith("_count")]
    assert count == [5.0]  # the synchronous calls; the task has no request latency
    inf = [s.value for s in samples(histogram, deployment="iris", le="+Inf")]
    assert inf == [5.0]
    buckets = [s.value for s in samples(histogram, deployment="iris") if s.name.endswith("_bucket")]
    assert buckets == sorted(buckets)  # cumulative
    running = {s.labels["deployment"]: s.value for s in families["mlserve_deployment_running"].samples}
    assert running == {"iris": 1.0, "tree": 0.0}
    tasks = families["mlserve_tasks"]
    assert [s.value for s in samples(tasks, deployment="iris", state="succeeded")] == [1.0]
    assert families["mlserve_queue_depth"].samples[0].value == 0.0


def test_access_needs_the_token_when_one_is_set(client, settings, db):
    settings.MLSERVE_METRICS_TOKEN = "scrape-me"
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


def test_without_a_token_only_loopback_and_staff(client, db, admin, owner):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    client.force_login(owner)
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 403
    client.force_login(admin)
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
