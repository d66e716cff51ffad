"""Where a task's input and results live: $MLSERVE_DATA_DIR/tasks/<id>/."""

import shutil
from pathlib import Path, PurePosixPath

from django.conf import settings

RESULT_JSONL = "result.jsonl"
RESULT_CSV = "result.csv"
# A JSON task whose deployment script has postprocess(): its response, served as the JSON result.
SCRIPT_RESPONSE = "response.json"


def task_dir(task_id) -> Path:
    return Path(settings.MLSERVE_DATA_DIR) / "tasks" / str(task_id)


def input_path(task) -> Path:
    suffix = PurePosixPath(task.input_name).suffix.lower()[:12]
    return task_dir(task.id) / f"input{suffix}"


def result_jsonl(task) -> Path:
    return task_dir(task.id) / RESULT_JSONL


def result_csv(task) -> Path:
    return task_dir(task.id) / RESULT_CSV


def script_response(task) -> Path:
    return task_dir(task.id) / SCRIPT_RESPONSE


def remove_results(task) -> None:
    for path in (result_jsonl(task), result_csv(task), script_response(task)):
        path.unlink(missing_ok=True)


def remove_all(task_ids) -> None:
    for task_id in task_ids:
        shutil.rmtree(task_dir(task_id), ignore_errors=True)
