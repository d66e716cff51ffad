"""The domain's errors: raised by services, turned into one JSON shape by the API
and into form errors or flash messages on pages."""

import errno
import re
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as StoreConnectionError
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# An absolute file path of two parts or more (or a file: URL) inside an engine's message.
# Not a URL's path: a slash right after a word character, a dot or another slash is left alone.
_SERVER_PATH = re.compile(r"(?:\bfile:/{0,2}|(?<![\w./~-]))(?:/[\w.@+~-]+){2,}/?")


def without_paths(text: str) -> str:
    """An engine's error text fit to show a caller: every server path (the data dir's staging
    file, a library's install or build path) becomes '…/<last part>'."""
    return _SERVER_PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)


class ApplicationError(Exception):
    """Something the caller can fix; carries the HTTP status and a stable code."""

    status_code = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None, status_code: int | None = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.details = details

    def as_dict(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class InvalidModel(ApplicationError):
    """The uploaded artifact cannot be loaded or does not predict."""

    code = "invalid_model"


class UnsupportedFormat(InvalidModel):
    code = "unsupported_format"


class InvalidInput(ApplicationError):
    """A prediction request whose body or fields do not fit the model's schema."""

    code = "invalid_input"


class TooLarge(ApplicationError):
    status_code = 413
    code = "too_large"


class NameTaken(ApplicationError):
    status_code = 409
    code = "name_taken"


class NotAllowed(ApplicationError):
    status_code = 403
    code = "permission_denied"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class Unavailable(ApplicationError):
    status_code = 503
    code = "unavailable"


class ServiceUnavailable(Unavailable):
    """Redis or the object store does not answer (fault_error)."""

    code = "service_unavailable"


class ModelCrashed(ApplicationError):
    """The model's runner process died while answering (a crash in the engine or the model)."""

    status_code = 502
    code = "model_crashed"


class ModelOutOfMemory(ApplicationError):
    """The model needed more memory than its runner's budget."""

    status_code = 503
    code = "model_out_of_memory"


class ModelTimeout(ApplicationError):
    """The model's runner did not answer within the time limit; it was stopped and restarted."""

    status_code = 504
    code = "model_timeout"


class ArtifactMissing(Unavailable):
    """The model's file is not in this node's artifact store (a lost volume, an unsynced node):
    the node cannot serve it, the model is not wrong."""

    code = "artifact_missing"


class ArtifactStoreUnwritable(Unavailable):
    """A file of the store cannot be changed (read-only or failing volume)."""

    code = "artifact_store_unwritable"


# ---- faults of the machine, as errors ----------------------------------------------
#
# The one place where an exception becomes what the caller sees: the DRF exception handler
# (mlserve.api), the fast path (deployments.fastpath) and the pages' middleware
# (mlserve.middleware.FaultMiddleware) all call fault_error() and retry_after().

DATABASE_RETRY_SECONDS = 5
DISK_RETRY_SECONDS = 60
_DISK_FULL = {errno.ENOSPC, errno.EDQUOT}


REDIS_ERRORS = (ConnectionInterrupted, RedisConnectionError, RedisTimeoutError)
STORE_ERRORS = (StoreConnectionError, ReadTimeoutError)
SERVICE_RETRY_SECONDS = 5


def _store_trouble(exc) -> bool:
    """An S3 error answer that is the store's trouble (5xx, throttling), not a missing key."""
    if isinstance(exc, STORE_ERRORS):
        return True
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status >= 500 or exc.response.get("Error", {}).get("Code") in ("SlowDown", "ServiceUnavailable")


def fault_error(exc: BaseException | None) -> ApplicationError | None:
    """A fault of the database, the disk, Redis or the object store as a 503 with its reason
    (and, for a shared service, its name in details.service); the ApplicationError itself;
    None for anything else (a bug: 500). The transactions and the staging of every file before
    it is stored mean nothing is left half-written by any of these."""
    if exc is None:
        return None
    if isinstance(exc, ApplicationError):
        return exc
    if isinstance(exc, (OperationalError, InterfaceError)):
        text = str(exc).lower()
        if "locked" in text or "busy" in text or "lock timeout" in text:
            return Unavailable(
                _("The database is busy (locked by another writer); nothing was changed. Retry in a few seconds."),
                code="database_locked",
                details={"service": "database", "retry_after_seconds": DATABASE_RETRY_SECONDS},
            )
        return Unavailable(
            _("The database cannot be reached; nothing was changed. Retry in a few seconds."),
            code="database_unavailable",
            details={"service": "database", "retry_after_seconds": DATABASE_RETRY_SECONDS},
        )
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return Unavailable(
            _("The server's disk is full; nothing was kept. Retry later (the operator has to free space)."),
            code="disk_full",
            details={"retry_after_seconds": DISK_RETRY_SECONDS},
        )
    if isinstance(exc, REDIS_ERRORS):
        service, message = "redis", _("Redis (limits, cache, queue) cannot be reached right now; nothing was changed. Retry in a moment.")
    elif _store_trouble(exc):
        service, message = "object_store", _("The object store cannot be reached right now; nothing was changed. Retry in a moment.")
    else:
        return None
    return ServiceUnavailable(
        message,
        details={"service": service, "retry_after_seconds": SERVICE_RETRY_SECONDS},
    )


def retry_after(error: ApplicationError) -> str | None:
    """The Retry-After header of a 429 or 503: the seconds its details name (1 by default)."""
    if error.status_code not in (429, 503):
        return None
    seconds = error.details.get("retry_after_seconds", 1) if isinstance(error.details, dict) else 1
    return str(int(seconds))
