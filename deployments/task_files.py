"""A task's files: its input and its results.

They are made and read in a local working folder, $MLSERVE_DATA_DIR/tasks/<id>/, which
with the default local storage is also where they stay. With an object store
(MLSERVE_STORAGE_URL) the input is uploaded once it has been validated (publish_input),
the results once the task has succeeded (publish_results), both under tasks/<id>/ in the
store, and the working folder is emptied: the worker that runs a task may be on another
node (fetch_input brings the input there), and a download may come through any node
(result_chunks and result_lines stream from the store)."""

import shutil
from pathlib import Path, PurePosixPath

from django.conf import settings

from core import storage

RESULT_JSONL = "result.jsonl"
RESULT_CSV = "result.csv"
# A JSON task whose deployment script has postprocess(): its response, served as the JSON result.
SCRIPT_RESPONSE = "response.json"
RESULTS = (RESULT_JSONL, RESULT_CSV, SCRIPT_RESPONSE)


def task_dir(task_id) -> Path:
    return Path(settings.MLSERVE_DATA_DIR) / "tasks" / str(task_id)


def _input_name(task) -> str:
    return f"input{PurePosixPath(task.input_name).suffix.lower()[:12]}"


def _stored(task_id, name: str) -> str:
    return f"tasks/{task_id}/{name}"


def input_path(task) -> Path:
    """Where the input is (or is being) written locally."""
    return task_dir(task.id) / _input_name(task)


def result_jsonl(task) -> Path:
    return task_dir(task.id) / RESULT_JSONL


def result_csv(task) -> Path:
    return task_dir(task.id) / RESULT_CSV


def script_response(task) -> Path:
    return task_dir(task.id) / SCRIPT_RESPONSE


def publish_input(task) -> None:
    """The validated input goes to the store (a no-op with local storage)."""
    if storage.is_remote():
        storage.put(input_path(task), _stored(task.id, _input_name(task)))
        shutil.rmtree(task_dir(task.id), ignore_errors=True)


def fetch_input(task) -> Path:
    """The input as a local file, fetched from the store by the node that runs the task."""
    path = input_path(task)
    if storage.is_remote() and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        storage.download(_stored(task.id, _input_name(task)), partial)
        partial.rename(path)
    return path


def input_exists(task) -> bool:
    if storage.is_remote():
        return storage.exists(_stored(task.id, _input_name(task)))
    return input_path(task).exists()


def publish_results(task) -> None:
    """Upload the finished results (multipart, streamed from disk) and empty the working folder."""
    if not storage.is_remote():
        return
    for name in RESULTS:
        local = task_dir(task.id) / name
        if local.exists():
            storage.put(local, _stored(task.id, name))
    shutil.rmtree(task_dir(task.id), ignore_errors=True)


def result_exists(task, name: str) -> bool:
    if (task_dir(task.id) / name).exists():
        return True
    return storage.is_remote() and storage.exists(_stored(task.id, name))


def result_chunks(task, name: str):
    """A result file's bytes, streamed from wherever it is; FileNotFoundError if it is gone."""
    local = task_dir(task.id) / name
    if local.exists() or not storage.is_remote():
        stream = open(local, "rb")
    else:
        stream = storage.open_stream(_stored(task.id, name))
    return _chunks_of(stream)


def _chunks_of(stream):
    try:
        while chunk := stream.read(storage.STREAM_CHUNK):
            yield chunk
    finally:
        stream.close()


def result_lines(task, name: str = RESULT_JSONL):
    """A result file's lines; nothing if it does not exist (yet, or any more)."""
    local = task_dir(task.id) / name
    if local.exists():
        with open(local, "rb") as f:
            yield from f
        return
    if not storage.is_remote():
        return
    try:
        yield from storage.iter_lines(_stored(task.id, name))
    except FileNotFoundError:
        return


def result_bytes(task, name: str) -> bytes:
    """A small result file whole (a script's JSON response)."""
    return b"".join(result_chunks(task, name))


def remove_results(task) -> None:
    for name in RESULTS:
        (task_dir(task.id) / name).unlink(missing_ok=True)
    if storage.is_remote():
        storage.delete([_stored(task.id, name) for name in RESULTS])


def remove_all(task_ids) -> None:
    """Every file of these tasks, here and in the store."""
    for task_id in task_ids:
        shutil.rmtree(task_dir(task_id), ignore_errors=True)
        if storage.is_remote():
            storage.delete_prefix(f"tasks/{task_id}")


def discard_local(task) -> None:
    """The working folder of a task whose files live in the store."""
    if storage.is_remote():
        shutil.rmtree(task_dir(task.id), ignore_errors=True)
