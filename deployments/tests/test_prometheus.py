"""/metrics: the Prometheus text format, parsed by prometheus-client's own parser."""

import pytest
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from tests.model_files import IRIS_ROW

TOKEN = "scrape-me"


@pytest.fixture
def scrape_token(settings):
    settings.MLSERVE_METRICS_TOKEN = TOKEN


def scrape(client, **extra) -> dict:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    return families


def samples(family, **labels):
    return [s for s in family.samples if all(s.labels.get(k) == v for k, v in labels.items())]


def test_the_exposition_parses_and_counts(client, api, iris, deploy, inline_queue, submit, scrape_token):
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


def test_it_answers_the_bearer_token(client, scrape_token, db):
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Token {TOKEN}", f"Bearer {TOKEN}x"])
def test_it_refuses_a_missing_or_wrong_token_with_401(client, scrape_token, db, header):
    response = client.get("/metrics", **({"HTTP_AUTHORIZATION": header} if header else {}))
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["error"]["code"] == "not_authenticated"
    assert b"olivia" not in response.content


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.1.2.3"])
def test_loopback_clients_get_nothing_without_the_token(client, db, iris, address):
    """A same-host proxy or script is loopback too: the address proves nothing."""
    for token in (None, TOKEN):
        with override_settings(MLSERVE_METRICS_TOKEN=token):
            response = client.get("/metrics", REMOTE_ADDR=address)
        assert response.status_code == 401
        assert b"iris" not in response.content and b"olivia" not in response.content


def test_a_staff_session_reads_it_and_other_users_get_403(client, db, admin, owner):
    client.force_login(owner)
    assert client.get("/metrics").status_code == 403
    client.force_login(admin)
    assert client.get("/metrics").status_code == 200


def test_metrics_public_opens_it_to_everyone(client, settings, db):
    settings.MLSERVE_METRICS_PUBLIC = True
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
