"""/metrics in the Prometheus text format, from the shared counters in the database
(so every scrape sees what all processes served, up to MLSERVE_METRICS_FLUSH_SECONDS ago)."""

from django.db.models import Count
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from deployments import metrics
from deployments.models import Deployment, DeploymentTotals, PredictionTask

# Prometheus histogram buckets (seconds), summed from our finer histogram.
LE_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def _cumulative(histogram: dict) -> list[tuple[str, float]]:
    counts = {int(i): n for i, n in histogram.items()}
    result = []
    for le in LE_SECONDS:
        limit_ms = le * 1000
        # A bucket counts below `le` when its upper bound is (with float slack) within it.
        result.append((repr(le), float(sum(n for i, n in counts.items() if metrics.bucket_upper_ms(i) <= limit_ms * 1.0000001))))
    result.append(("+Inf", float(sum(counts.values()))))
    return result


class MlserveCollector:
    def collect(self):
        deployments = {d.pk: d for d in Deployment.objects.select_related("owner")}
        requests = CounterMetricFamily("mlserve_requests", "Calls to a deployment, by HTTP status", labels=["owner", "deployment", "status"])
        errors = CounterMetricFamily("mlserve_errors", "Failed calls, by error code", labels=["owner", "deployment", "code"])
        rows = CounterMetricFamily("mlserve_rows_predicted", "Rows predicted", labels=["owner", "deployment"])
        latency = HistogramMetricFamily(
            "mlserve_request_latency_seconds", "Latency of synchronous calls (REST and OIP)", labels=["owner", "deployment"]
        )
        up = GaugeMetricFamily("mlserve_deployment_running", "1 if the deployment is running, 0 if paused", labels=["owner", "deployment"])
        for deployment in deployments.values():
            up.add_metric([deployment.owner.username, deployment.name], 1.0 if deployment.is_running else 0.0)
        for totals in DeploymentTotals.objects.all():
            deployment = deployments.get(totals.deployment_id)
            if deployment is None:
                continue
            labels = [deployment.owner.username, deployment.name]
            for status, count in sorted(totals.by_status.items()):
                requests.add_metric([*labels, status], count)
            for code, count in sorted(totals.by_error.items()):
                errors.add_metric([*labels, code], count)
            rows.add_metric(labels, totals.rows)
            latency.add_metric(labels, _cumulative(totals.latency_histogram), totals.latency_sum_ms / 1000)
        tasks = GaugeMetricFamily("mlserve_tasks", "Prediction tasks by state", labels=["owner", "deployment", "state"])
        counts = PredictionTask.objects.values("deployment_id", "status").annotate(n=Count("id"))
        queued = 0
        for row in counts:
            deployment = deployments.get(row["deployment_id"])
            if deployment is not None:
                tasks.add_metric([deployment.owner.username, deployment.name, row["status"]], row["n"])
            if row["status"] == PredictionTask.Status.QUEUED:
                queued += row["n"]
        depth = GaugeMetricFamily("mlserve_queue_depth", "Prediction tasks waiting for a worker")
        depth.add_metric([], queued)
        yield from (requests, errors, rows, latency, up, tasks, depth)


def exposition() -> bytes:
    metrics.flush()  # what this process holds back
    registry = CollectorRegistry()
    registry.register(MlserveCollector())
    return generate_latest(registry)
