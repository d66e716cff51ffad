"""Artifact files: staging an upload (hashed, size-checked) and keeping or removing it."""

import hashlib
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from core import storage
from core.errors import ArtifactStoreUnwritable, InvalidModel, TooLarge
from models_registry import artifact_cache

log = logging.getLogger(__name__)
CHUNK = 1024 * 1024


@dataclass
class StagedFile:
    path: Path
    sha256: str
    size: int
    filename: str

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def staging_dir() -> Path:
    path = Path(settings.MLSERVE_DATA_DIR) / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _too_large(size: int) -> TooLarge:
    limit = settings.MLSERVE_MAX_UPLOAD_SIZE
    return TooLarge(
        f"The file is {size / 1e6:.1f} MB; the upload limit is {limit / 1e6:.1f} MB "
        "(MLSERVE_MAX_UPLOAD_SIZE).",
        details={"size": size, "limit": limit},
    )


def stage_upload(upload) -> StagedFile:
    """Copy an uploaded file (Django UploadedFile or an open binary file) into the
    staging area, hashing it on the way; nothing is kept if this fails."""
    limit = settings.MLSERVE_MAX_UPLOAD_SIZE
    declared = getattr(upload, "size", None)
    if declared is not None and declared > limit:
        raise _too_large(declared)
    filename = os.path.basename(getattr(upload, "name", "") or "model")
    target = staging_dir() / f"upload-{uuid.uuid4().hex}"
    digest = hashlib.sha256()
    size = 0
    try:
        with open(target, "wb") as out:
            chunks = upload.chunks(CHUNK) if hasattr(upload, "chunks") else iter(lambda: upload.read(CHUNK), b"")
            for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise _too_large(size)
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise InvalidModel(_("The file is empty (0 bytes): upload the saved model file itself."), code="empty_file")
    return StagedFile(path=target, sha256=digest.hexdigest(), size=size, filename=filename)


def keep(staged: StagedFile, relative_name: str) -> str:
    """Move the validated file to its final place in storage; returns the stored name. With an
    object store it is uploaded and the staged file becomes this node's cached copy."""
    storage.put(staged.path, relative_name, keep_local=storage.is_remote())
    artifact_cache.adopt(staged.path, staged.sha256, relative_name)
    return relative_name


@dataclass
class SetAside:
    """Files on their way out with their rows: local ones renamed beside themselves (moved),
    object-store ones (remote) only named until the rows' transaction deletes them."""

    moved: list[tuple[Path, Path]]
    remote: list[str]


def take_aside(relative_names: list[str]) -> SetAside:
    """Rename each stored file to a hidden name beside it, before its row is deleted: a file that
    cannot be removed (read-only or failing store) stops the delete while nothing is lost yet.
    Raises ArtifactStoreUnwritable after putting back what it had moved. An object store has no
    rename: its objects are deleted inside the rows' transaction (delete_remote)."""
    names = [name for name in relative_names if name]
    if storage.is_remote():
        return SetAside(moved=[], remote=names)
    moved: list[tuple[Path, Path]] = []
    for name in names:
        path = storage.local_path(name)
        if not path.exists():
            continue  # already gone: nothing to orphan
        aside = path.with_name(f".deleting-{path.name}")
        try:
            os.rename(path, aside)
        except OSError as exc:
            put_back(SetAside(moved=moved, remote=[]))
            raise ArtifactStoreUnwritable(
                f"The model's file cannot be removed from the artifact store ({exc.strerror}); nothing was deleted. "
                "Retry once the store is writable again.",
            ) from None
        moved.append((path, aside))
    return SetAside(moved=moved, remote=[])


def delete_remote(aside: SetAside) -> None:
    """Called inside the transaction that deletes the rows: a store that refuses raises, and the
    rows stay (ArtifactStoreUnwritable)."""
    if not aside.remote:
        return
    try:
        storage.delete(aside.remote)
    except Exception as exc:
        raise ArtifactStoreUnwritable(
            f"The model's files cannot be removed from the object store ({type(exc).__name__}); nothing was deleted. "
            "Retry once the store answers.",
        ) from None


def put_back(aside: SetAside) -> None:
    for path, hidden in reversed(aside.moved):
        try:
            os.rename(hidden, path)
        except OSError:
            log.error("could not put %s back as %s", hidden, path)


def discard(aside: SetAside) -> None:
    """The rows are gone for good: the files set aside go too (with the folders they leave empty)."""
    if not aside.moved:
        return
    for _path, hidden in aside.moved:
        try:
            hidden.unlink(missing_ok=True)
        except OSError:
            log.error("could not remove %s; remove it by hand", hidden)
    for path, _hidden in aside.moved:
        storage.remove_empty_folders(path)


def remove(relative_names: list[str]) -> None:
    """Delete stored files (and, locally, the folders they leave empty)."""
    storage.delete(relative_names)
