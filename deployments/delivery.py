"""Getting every queued task run, whatever dies on the way.

The task row is the truth; the queue only carries wake-up calls. A worker that takes a
task holds a lease on it (owner + expiry, renewed by its heartbeat). Recovery, run every
MLSERVE_TASK_RECOVER_SECONDS by every serving and worker process and by `recover_tasks`,
queues again:

- a `running` task whose lease expired (its worker was killed, OOM, lost with its node);
- a `queued` task whose last message is older than a lease and no longer waiting in the
  broker (a worker took it ahead of time and died: django-q2's ORM broker would hide it for
  its `retry` time, Redis's BLPOP has no acknowledgement at all).

A message sent twice is harmless: the claim (a conditional UPDATE in deployments.batch)
lets exactly one worker run a task; the other copy is skipped.
"""

import logging
import os
import socket
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.models import OrmQ
from django_q.signing import BadSignature, SignedPackage
from django_q.tasks import async_task

from deployments.models import Deployment, PredictionTask

log = logging.getLogger(__name__)

TASK_FUNC = "deployments.tasks.run_prediction_task"
MAX_INSPECTED_MESSAGES = 10_000


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_deadline():
    return timezone.now() + timedelta(seconds=settings.MLSERVE_TASK_LEASE_SECONDS)


def broker():
    # The queue is named at call time (get_broker's default is frozen at import).
    return get_broker(list_key=Conf.PREFIX)


def send(task_id) -> None:
    """One wake-up message for the task; the row remembers when (see waiting_task_ids)."""
    PredictionTask.objects.filter(pk=task_id).update(enqueued=timezone.now())
    async_task(TASK_FUNC, str(task_id), task_name=f"predict-{task_id}", broker=broker())


def _task_id_of(payload) -> str | None:
    try:
        message = SignedPackage.loads(payload)
    except (BadSignature, TypeError, ValueError):
        return None
    if message.get("func") != TASK_FUNC or not message.get("args"):
        return None
    return str(message["args"][0])


def waiting_task_ids() -> set[str]:
    """Tasks with a message the broker will still hand out (not one a worker took already)."""
    queue = broker()
    if settings.REDIS_URL:
        payloads = queue.connection.lrange(queue.list_key, 0, MAX_INSPECTED_MESSAGES - 1)
    else:
        payloads = OrmQ.objects.using(settings.Q_CLUSTER.get("orm", "default")).filter(
            key=queue.list_key, lock__lte=timezone.now()
        ).values_list("payload", flat=True)[:MAX_INSPECTED_MESSAGES]
    return {task_id for payload in payloads if (task_id := _task_id_of(payload))}


def message_lost(task: PredictionTask) -> bool:
    """A queued task whose last message is older than a lease and no longer waits in the broker."""
    cutoff = timezone.now() - timedelta(seconds=settings.MLSERVE_TASK_LEASE_SECONDS)
    sent = task.enqueued or task.created
    return sent is not None and sent < cutoff and str(task.pk) not in waiting_task_ids()


def _lost_running():
    """Running tasks whose holder stopped renewing its lease (or, rows from before leases,
    whose heartbeat stopped for MLSERVE_TASK_STALL_SECONDS)."""
    now = timezone.now()
    stall_cutoff = now - timedelta(seconds=settings.MLSERVE_TASK_STALL_SECONDS)
    return PredictionTask.objects.filter(status=PredictionTask.Status.RUNNING).filter(
        Q(lease_expires__lt=now) | Q(lease_expires__isnull=True, heartbeat__lt=stall_cutoff)
    )


def hand_back(task: PredictionTask, notice: str, *, may_give_up: bool = True) -> bool:
    """A running task goes back to the queue (or fails after MLSERVE_TASK_MAX_ATTEMPTS starts,
    unless a person asked for it); True when it was queued again."""
    if may_give_up and task.attempts >= settings.MLSERVE_TASK_MAX_ATTEMPTS:
        PredictionTask.objects.filter(pk=task.pk, status=PredictionTask.Status.RUNNING, attempts=task.attempts).update(
            status=PredictionTask.Status.FAILED,
            finished=timezone.now(),
            lease_owner="",
            lease_expires=None,
            notice=f"{notice}; gave up after {task.attempts} attempts",
            error=(
                f"The worker running this task stopped {task.attempts} times (killed or restarted) "
                "without finishing it; the task was given up. Retry it, or split the input."
            ),
        )
        return False
    requeued = PredictionTask.objects.filter(pk=task.pk, status=PredictionTask.Status.RUNNING, attempts=task.attempts).update(
        status=PredictionTask.Status.QUEUED,
        rows_done=0,
        heartbeat=None,
        lease_owner="",
        lease_expires=None,
        notice=f"{notice}, attempt {task.attempts + 1}",
    )
    if requeued:
        send(task.pk)
    return bool(requeued)


def recover() -> dict:
    """One recovery round (see the module's docstring); returns the ids it queued again or failed."""
    requeued, failed, resent = [], [], []
    for task in _lost_running():
        if hand_back(task, "worker lost"):
            requeued.append(task.pk)
        elif PredictionTask.objects.filter(pk=task.pk, status=PredictionTask.Status.FAILED).exists():
            failed.append(task.pk)
    cutoff = timezone.now() - timedelta(seconds=settings.MLSERVE_TASK_LEASE_SECONDS)
    quiet = list(
        PredictionTask.objects.filter(status=PredictionTask.Status.QUEUED, deployment__status=Deployment.Status.RUNNING)
        .filter(Q(enqueued__lt=cutoff) | Q(enqueued__isnull=True, created__lt=cutoff))
        .values_list("pk", flat=True)[:MAX_INSPECTED_MESSAGES]
    )
    if quiet:
        waiting = waiting_task_ids()
        for task_id in quiet:
            if str(task_id) not in waiting:
                send(task_id)
                resent.append(task_id)
    if requeued or failed or resent:
        log.warning("task recovery: %d lost running tasks queued again, %d given up, %d lost messages sent again",
                    len(requeued), len(failed), len(resent))
    return {"requeued": requeued, "failed": failed, "resent": resent}


_last_round = 0.0


def recover_every_interval() -> dict | None:
    """recover() at most once per MLSERVE_TASK_RECOVER_SECONDS in this process (called from
    background loops that tick faster)."""
    global _last_round
    if time.monotonic() - _last_round < settings.MLSERVE_TASK_RECOVER_SECONDS:
        return None
    _last_round = time.monotonic()
    return recover()
