"""Where mlserve keeps its files: the data dir (the default, one machine or a shared mount)
or an S3-compatible object store (MLSERVE_STORAGE_URL=s3://bucket/prefix), through
django-storages' S3 backend, so that nodes share nothing but the database, Redis and the store.

Every file is written locally first (an upload being validated, a task's result being
written) and handed over whole with put(): with a store that is one streamed (multipart)
upload, so a refused file is never stored. Reads stream (open_stream) or land in a local
file by ranged GETs (download); nothing copies a whole file into memory."""

import posixpath
import shutil
from pathlib import Path

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import default_storage

# boto3's transfer manager: parts of this size, uploaded and downloaded in parallel.
TRANSFER_CHUNK = 8 * 1024 * 1024
STREAM_CHUNK = 1024 * 1024


def is_remote() -> bool:
    """True when files live in an object store (each node then caches what it needs)."""
    return settings.MLSERVE_STORAGE_URL.startswith("s3:")


def local_path(name: str) -> Path:
    """The file's path in the data dir (local storage only)."""
    return Path(default_storage.path(name))


def _key(name: str) -> str:
    location = default_storage.location or ""
    return posixpath.join(location, name) if location else name


def _object(name: str):
    return default_storage.bucket.Object(_key(name))


def _transfer_config() -> TransferConfig:
    return TransferConfig(multipart_threshold=TRANSFER_CHUNK, multipart_chunksize=TRANSFER_CHUNK, max_concurrency=4)


def put(local: Path, name: str, *, keep_local: bool = False) -> None:
    """Move a finished local file to its place in storage: gone locally afterwards, unless
    keep_local (a store only: the node keeps it as its cached copy)."""
    if not is_remote():
        final = local_path(name)
        final.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(local), final)
        return
    _object(name).upload_file(str(local), Config=_transfer_config())
    if not keep_local:
        Path(local).unlink(missing_ok=True)


def download(name: str, local: Path) -> None:
    """Copy a stored file into a local file (ranged GETs with a store; a copy otherwise)."""
    if not is_remote():
        shutil.copyfile(local_path(name), local)
        return
    _object(name).download_file(str(local), Config=_transfer_config())


def exists(name: str) -> bool:
    if not is_remote():
        return local_path(name).exists()
    return default_storage.exists(name)


def open_stream(name: str):
    """A binary stream of the stored file, read as it is consumed; FileNotFoundError if absent."""
    if not is_remote():
        return open(local_path(name), "rb")
    try:
        return _object(name).get()["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
            raise FileNotFoundError(name) from None
        raise


def iter_chunks(name: str, chunk_size: int = STREAM_CHUNK):
    """The stored file's bytes, chunk by chunk (for streamed downloads)."""
    stream = open_stream(name)
    try:
        while True:
            chunk = stream.read(chunk_size)
            if not chunk:
                return
            yield chunk
    finally:
        stream.close()


def iter_lines(name: str):
    """The stored file's lines (bytes, with their newline), streamed."""
    stream = open_stream(name)
    try:
        if hasattr(stream, "iter_lines"):
            yield from stream.iter_lines(chunk_size=STREAM_CHUNK, keepends=True)
        else:
            yield from stream
    finally:
        stream.close()


def check_reachable() -> None:
    """Raises when the object store does not answer for its bucket (for /healthz)."""
    default_storage.bucket.meta.client.head_bucket(Bucket=default_storage.bucket_name)


def delete(names: list[str]) -> None:
    """Delete stored files; local storage also removes the folders they leave empty."""
    names = [n for n in names if n]
    if not names:
        return
    if is_remote():
        for start in range(0, len(names), 1000):  # S3's DeleteObjects takes 1000 keys
            batch = names[start : start + 1000]
            default_storage.bucket.delete_objects(Delete={"Objects": [{"Key": _key(n)} for n in batch], "Quiet": True})
        return
    for name in names:
        path = local_path(name)
        path.unlink(missing_ok=True)
        remove_empty_folders(path)


def remove_empty_folders(path: Path) -> None:
    """The folders above a removed local file, up to the data dir, while they are empty."""
    root = local_path("")
    parent = path.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent


def delete_prefix(prefix: str) -> None:
    """Delete every stored file under a folder (a task's files)."""
    prefix = prefix.rstrip("/") + "/"
    if is_remote():
        default_storage.bucket.objects.filter(Prefix=_key(prefix)).delete()
        return
    shutil.rmtree(local_path(prefix), ignore_errors=True)
