"""The local path a runner opens for a model version's artifact.

Runners load models from files, so with an object store (MLSERVE_STORAGE_URL) each node
keeps a read-through cache of artifacts under $MLSERVE_DATA_DIR/cache/artifacts, named by
their sha256. Several processes of a node share it safely: a download goes to a temporary
file that is checked against the hash and renamed into place (a reader never sees half a
file, two processes fetching the same file just both rename), and eviction of the least
recently used files, down to MLSERVE_ARTIFACT_CACHE_MB, runs under an flock so only one
process evicts at a time. A runner that already opened an evicted file keeps reading it.
With local storage the data dir's own file is the path, and nothing is cached."""

import fcntl
import hashlib
import logging
import os
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from core import storage
from core.errors import ApplicationError

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024
# A file's mtime records its last use; refreshed at most this often (one utime, not one per request).
TOUCH_SECONDS = 60


class ArtifactUnavailable(ApplicationError):
    """The store cannot be reached, has no such file, or sent another file than was uploaded."""

    status_code = 503
    code = "artifact_unavailable"


def cache_dir() -> Path:
    path = Path(settings.MLSERVE_DATA_DIR) / "cache" / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_name(sha256: str, name: str) -> str:
    return f"{sha256}{Path(name).suffix}"


def local_artifact(version) -> Path:
    """A local file holding the version's artifact (fetched once per node with a store)."""
    if not storage.is_remote():
        return storage.local_path(version.artifact.name)
    path = cache_dir() / cached_name(version.sha256, version.artifact.name)
    try:
        st = path.stat()
    except FileNotFoundError:
        return _fetch(version, path)
    if time.time() - st.st_mtime > TOUCH_SECONDS:
        try:
            os.utime(path)
        except FileNotFoundError:  # evicted just now by another process
            return _fetch(version, path)
    return path


def _fetch(version, path: Path) -> Path:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        try:
            storage.download(version.artifact.name, partial)
        except Exception as exc:  # botocore's errors, a full disk: the call fails with a reason
            log.warning("could not fetch artifact %s from the store: %s", version.artifact.name, exc)
            raise ArtifactUnavailable(
                _("The model file of %(version)s cannot be fetched from the object store right now (%(error)s); retry in a moment.")
                % {"version": version, "error": type(exc).__name__}
            ) from None
        digest = hashlib.sha256()
        with open(partial, "rb") as f:
            for chunk in iter(lambda: f.read(CHUNK), b""):
                digest.update(chunk)
        if digest.hexdigest() != version.sha256:
            raise ArtifactUnavailable(
                _("The stored model file of %(version)s does not match its sha256: it was changed in the store.") % {"version": version}
            )
        os.chmod(partial, 0o644)  # runners run as another user in their sandbox
        os.rename(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    log.info("artifact %s fetched into the local cache", version.artifact.name)
    evict(keep=path)
    return path


def adopt(local: Path, sha256: str, name: str) -> None:
    """Keep a file just uploaded to the store as this node's cached copy (no download later)."""
    if not storage.is_remote():
        return
    path = cache_dir() / cached_name(sha256, name)
    os.chmod(local, 0o644)
    os.replace(local, path)
    evict(keep=path)


def evict(keep: Path | None = None) -> None:
    """Remove the least recently used files until the cache fits MLSERVE_ARTIFACT_CACHE_MB.
    Another process already evicting does the job: this one does not wait for it."""
    folder = cache_dir()
    limit = settings.MLSERVE_ARTIFACT_CACHE_MB * 1024 * 1024
    with open(folder / ".lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return
        entries = []
        for entry in os.scandir(folder):
            if entry.name.startswith("."):
                continue
            try:
                st = entry.stat()
            except FileNotFoundError:
                continue
            entries.append((st.st_mtime, st.st_size, Path(entry.path)))
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= limit:
                break
            if path == keep:
                continue
            path.unlink(missing_ok=True)
            total -= size


def forget(versions) -> None:
    """Drop this node's cached copies of deleted versions (other nodes evict theirs in time)."""
    if not storage.is_remote():
        return
    for version in versions:
        (cache_dir() / cached_name(version.sha256, version.artifact.name)).unlink(missing_ok=True)
