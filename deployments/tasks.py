"""Background jobs, enqueued by dotted path; each loads by id and calls the real logic."""

from django.conf import settings

from deployments import batch, metrics, services


def run_prediction_task(task_id: str) -> str:
    return batch.run(task_id)


def recover_stalled_tasks() -> dict:
    result = services.tasks_recover()
    return {k: [str(i) for i in v] for k, v in result.items()}


def expire_task_results() -> int:
    return services.tasks_expire_results()


def prune_metrics() -> int:
    return metrics.delete_old_buckets(settings.MLSERVE_METRICS_RETENTION_DAYS)
