"""Artifact files: staging an upload (hashed, size-checked) and keeping or removing it."""

import hashlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from mlserve import storage
from mlserve.errors import InvalidModel, TooLarge
from models_registry import artifact_cache

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


def remove(relative_names: list[str]) -> None:
    """Delete stored files (and, locally, the folders they leave empty)."""
    storage.delete(relative_names)
