"""Metrics: the arithmetic on known latencies, recording on every path, the monitoring tab and API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from deployments import metrics
from deployments.models import Deployment, DeploymentTotals, MetricBucket
from tests.model_files import IRIS_ROW


def test_bucket_edges_and_percentiles_of_a_known_histogram():
    assert metrics.bucket_index(0.01) == 0 and metrics.bucket_index(0.05) == 0
    for ms in (0.1, 1, 3.3, 50, 1234):
        index = metrics.bucket_index(ms)
        assert metrics.bucket_upper_ms(index - 1) < ms <= metrics.bucket_upper_ms(index) * (1 + 1e-9)
    histogram = {}
    for ms in range(1, 101):
        key = str(metrics.bucket_index(ms))
        histogram[key] = histogram.get(key, 0) + 1
    for q, exact in ((0.5, 50), (0.95, 95), (0.99, 99)):
        estimate = metrics.percentile(histogram, q, 1, 100)
        assert abs(estimate - exact) / exact < 0.19  # within one bucket (2^(1/4))
    assert metrics.percentile({}, 0.5) is None
    assert metrics.percentile({"40": 3}, 0.5, 7.0, 7.0) == 7.0  # clamped to the real min/max


def test_known_latencies_give_exact_counts_and_averages(api, iris):
    deployment = Deployment.objects.get(name="iris")
    now = timezone.now()
    for ms in range(1, 101):
        metrics.record(deployment.pk, source="rest", status=200, latency_ms=float(ms), rows=2, when=now)
    metrics.record(deployment.pk, source="rest", status=400, latency_ms=0.5, error_code="invalid_input", when=now)
    metrics.record(deployment.pk, source="oip", status=503, latency_ms=0.2, error_code="deployment_paused", when=now)
    metrics.record(deployment.pk, source="task", status=200, latency_ms=None, rows=1000, when=now)
    metrics.flush()
    summary = metrics.summary(deployment)
    assert summary["requests"] == 103 and summary["errors"] == 2 and summary["rows"] == 1200
    assert summary["errors_by_kind"] == {"invalid_input": 1, "deployment_paused": 1}
    assert summary["by_status"] == {"200": 101, "400": 1, "503": 1}
    assert summary["by_source"] == {"rest": 101, "oip": 1, "task": 1}
    latency = summary["latency_ms"]
    assert latency["min"] == 0.2 and latency["max"] == 100.0
    assert latency["avg"] == pytest.approx((5050 + 0.5 + 0.2) / 102)
    assert abs(latency["p50"] - 49.5) / 49.5 < 0.19 and abs(latency["p99"] - 99) / 99 < 0.19
    assert summary["first_call"] == summary["last_call"] == now


def test_flushes_add_up_in_the_same_rows(api, iris):
    deployment = Deployment.objects.get(name="iris")
    when = timezone.now()
    for _ in range(3):
        metrics.record(deployment.pk, source="rest", status=200, latency_ms=2.0, when=when)
        metrics.flush()
    assert MetricBucket.objects.get().requests == 3
    assert DeploymentTotals.objects.get().requests == 3


def test_series_per_minute_over_the_last_hour(api, iris):
    deployment = Deployment.objects.get(name="iris")
    now = timezone.now().replace(second=30, microsecond=0)
    for minutes_ago, calls in ((0, 3), (5, 2), (59, 1), (61, 9)):
        for _ in range(calls):
            metrics.record(deployment.pk, source="rest", status=200, latency_ms=10.0, when=now - timedelta(minutes=minutes_ago))
    metrics.flush()
    points = metrics.series(deployment, span=timedelta(hours=1), step=timedelta(minutes=1), now=now)
    assert len(points) == 60
    assert [p["requests"] for p in points][-1] == 3 and points[-6]["requests"] == 2 and points[0]["requests"] == 1
    assert sum(p["requests"] for p in points) == 6  # 61 minutes ago is outside
    day = metrics.series(deployment, span=timedelta(days=1), step=timedelta(minutes=15), now=now)
    assert len(day) == 96 and sum(p["requests"] for p in day) == 15


def test_every_path_is_recorded(api, iris, submit):
    api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json")
    api.post("/api/v1/deployments/iris/predict", {"inputs": {"petal_width": 1}}, format="json")
    api.post("/v2/models/iris/infer", {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}, format="json")
    submit("iris", json={"inputs": [IRIS_ROW] * 5})
    api.post("/api/v1/deployments/iris/pause")
    api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json")
    body = api.get("/api/v1/deployments/iris/metrics").json()
    summary = body["summary"]
    assert summary["by_source"] == {"rest": 3, "oip": 1, "task": 1}
    assert summary["errors_by_kind"] == {"invalid_input": 1, "deployment_paused": 1}
    assert summary["rows"] == 1 + 1 + 5
    assert len(body["series"]) == 60 and body["series"][-1]["requests"] >= 5
    assert api.get("/api/v1/deployments/iris").json()["metrics"]["requests"] == 5


def test_the_monitoring_tab_shows_real_figures(api, iris, owner_client):
    for _ in range(4):
        api.post("/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, format="json")
    api.post("/api/v1/deployments/iris/predict", {"inputs": {"petal_width": "x"}}, format="json")
    page = owner_client.get("/deployments/iris/monitoring/").content.decode()
    assert '<div class="stat" id="total-calls">5</div>' in page
    assert "invalid_input" in page
    assert "<svg" in page and "Calls per minute" in page and "p95" in page
    day = owner_client.get("/deployments/iris/monitoring/?window=day").content.decode()
    assert "Calls per 15 minutes" in day


def test_someone_elses_metrics_are_404(stranger_api, client, stranger, iris):
    assert stranger_api.get("/api/v1/deployments/iris/metrics").status_code == 404
    client.force_login(stranger)
    assert client.get("/deployments/iris/monitoring/").status_code == 404


def test_a_flush_that_fails_keeps_its_counts_for_the_next_one(api, iris, monkeypatch):
    from django.db import OperationalError

    deployment = Deployment.objects.get(name="iris")
    for _ in range(5):
        metrics.record(deployment.pk, source="rest", status=200, latency_ms=1.0)
    real = metrics._write_deployment

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(metrics, "_write_deployment", locked)
    with pytest.raises(OperationalError):
        metrics.flush()
    assert metrics.pending_calls() == 5
    metrics.record(deployment.pk, source="rest", status=200, latency_ms=1.0)
    monkeypatch.setattr(metrics, "_write_deployment", real)
    metrics.flush()
    assert metrics.pending_calls() == 0
    assert metrics.summary(deployment)["requests"] == 6


def test_an_outage_longer_than_the_bound_drops_the_oldest_minutes_and_counts_them(api, iris, settings):
    settings.MLSERVE_METRICS_MAX_PENDING = 3
    deployment = Deployment.objects.get(name="iris")
    now = timezone.now()
    for minutes_ago in range(5, 0, -1):  # five minutes: the two oldest cannot be held
        for _ in range(2):
            metrics.record(deployment.pk, source="rest", status=200, latency_ms=1.0, when=now - timedelta(minutes=minutes_ago))
    assert metrics.pending_calls() == 6
    metrics.flush()
    summary = metrics.summary(deployment)
    assert summary["requests"] == 6 and summary["dropped"] == 4
    response = api.get("/api/v1/deployments/iris/metrics")
    assert response.json()["summary"]["dropped"] == 4


def test_a_body_that_cannot_be_parsed_is_counted_as_malformed_request(api, iris):
    response = api.post("/api/v1/deployments/iris/predict", data=b"{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"
    summary = api.get("/api/v1/deployments/iris/metrics").json()["summary"]
    assert summary["requests"] == 1 and summary["errors_by_kind"] == {"malformed_request": 1}
