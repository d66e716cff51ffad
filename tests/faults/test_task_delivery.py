"""Queued tasks survive any death of the worker (kill -9 of the whole qcluster, SIGTERM to its
parent alone or to every process as systemd sends it), on the ORM broker (SQLite) and on Redis
(PostgreSQL + Redis, `make test-faults` runs this module on both)."""

import signal
import time

import pytest

from deployments.models import PredictionTask
from deployments.tests.test_worker_qcluster import iris_csv
from tests.faults.processes import finish, kill_all, start_worker, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]
RECOVERY_BOUND = 30  # seconds: a hard-killed task is back in the queue within this (lease 3 s + rounds of 1 s here)
DONE_BOUND = 120  # seconds after the restart: every task done


def states(ids):
    return {str(t["id"]): t for t in PredictionTask.objects.filter(pk__in=ids).values("id", "status", "rows_done", "rows_total", "attempts", "notice", "error")}


def running(task_id) -> bool:
    state = states([task_id])[task_id]
    return state["status"] == "running" and state["rows_done"] > 0


def all_done(ids):
    current = states(ids)
    return all(t["status"] in PredictionTask.FINISHED for t in current.values()) and current


def test_kill_9_of_the_whole_worker_loses_no_task_and_each_is_done_after_the_restart(api, deploy, tmp_path):
    deploy("iris_logreg.skops", "iris")
    log = tmp_path / "worker.log"
    ids = []
    for _ in range(4):  # one running, one prefetched, two waiting in the broker when the worker dies
        response = api.post("/api/v1/deployments/iris/tasks", {"file": iris_csv(20_000)}, format="multipart")
        assert response.status_code == 202
        ids.append(response.json()["task_id"])
    worker = start_worker(log, MLSERVE_BATCH_CHUNK_ROWS="250")
    try:
        running = wait_for(
            lambda: next((i for i, t in states(ids).items() if t["status"] == "running" and t["rows_done"] > 0), None),
            90, "a task to be running", log,
        )
        kill_all(worker, signal.SIGKILL)
        worker.wait(timeout=10)
        killed_at = time.monotonic()
    finally:
        finish(worker)

    worker = start_worker(log, MLSERVE_BATCH_CHUNK_ROWS="5000")
    try:
        wait_for(lambda: states([running])[running]["attempts"] >= 2, RECOVERY_BOUND, "the killed task back in the queue", log)
        assert time.monotonic() - killed_at < RECOVERY_BOUND
        final = wait_for(lambda: all_done(ids), DONE_BOUND, "every task done after the restart", log)
    finally:
        finish(worker)
    assert [t["status"] for t in final.values()] == ["succeeded"] * 4, final
    assert all(t["rows_done"] == t["rows_total"] == 20_000 for t in final.values())
    assert final[running]["notice"] == "worker lost, attempt 2"


def test_sigterm_stops_the_worker_within_its_bound_and_hands_the_running_task_back(api, deploy, tmp_path):
    deploy("iris_logreg.skops", "iris")
    log = tmp_path / "worker.log"
    ids = []
    for how in ("parent", "every process"):  # `kill <pid>`, then systemd's stop of the unit
        response = api.post("/api/v1/deployments/iris/tasks", {"file": iris_csv(100_000)}, format="multipart")
        task_id = response.json()["task_id"]
        ids.append(task_id)
        worker = start_worker(log, MLSERVE_BATCH_CHUNK_ROWS="100")
        try:
            wait_for(lambda task_id=task_id: running(task_id), 90, "the task to run", log)
            if how == "parent":
                worker.send_signal(signal.SIGTERM)
            else:
                kill_all(worker, signal.SIGTERM)
            worker.wait(timeout=20)  # the bound: MLSERVE_SHUTDOWN_SECONDS (3) + the hand-back (5), with room
        finally:
            finish(worker)
        state = states([task_id])[task_id]
        if how == "parent" and state["status"] == "succeeded":
            continue  # it finished within MLSERVE_SHUTDOWN_SECONDS: the other good outcome
        assert state["status"] == "queued" and state["notice"].startswith("worker stopped"), (how, state)

    worker = start_worker(log, MLSERVE_BATCH_CHUNK_ROWS="10000")
    try:
        final = wait_for(lambda: all_done(ids), DONE_BOUND, "the handed-back tasks done", log)
    finally:
        finish(worker)
    assert all(t["status"] == "succeeded" and t["rows_done"] == 100_000 for t in final.values()), final


def test_retry_puts_a_stuck_task_back_at_once(api, deploy, tmp_path):
    deploy("iris_logreg.skops", "iris")
    log = tmp_path / "worker.log"
    response = api.post("/api/v1/deployments/iris/tasks", {"file": iris_csv(20_000)}, format="multipart")
    task_id = response.json()["task_id"]
    worker = start_worker(log, MLSERVE_BATCH_CHUNK_ROWS="250", MLSERVE_TASK_LEASE_SECONDS="2")
    try:
        wait_for(lambda: states([task_id])[task_id]["rows_done"] > 0, 90, "the task to run", log)
        kill_all(worker, signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        finish(worker)
    time.sleep(2.5)  # its lease runs out; nobody recovers it (no process is left)
    retried = api.post(f"/api/v1/tasks/{task_id}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "queued", retried.content
    worker = start_worker(log, MLSERVE_BATCH_CHUNK_ROWS="10000")
    try:
        final = wait_for(lambda: all_done([task_id]), DONE_BOUND, "the retried task done", log)
    finally:
        finish(worker)
    assert final[task_id]["status"] == "succeeded"
