"""Faults of the machine and of the services it shares, as errors: the one place where an
exception becomes what the caller sees. The DRF exception handler (core.api), the fast path
(deployments.fastpath), the serving path and the pages' middleware
(mlserve.middleware.FaultMiddleware) all call fault_error() and retry_after().

Apart from core.errors because it knows Django's database, Redis and boto: the model
runtimes raise core.errors' classes inside sandboxed runners that import none of these."""

import errno

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as StoreConnectionError
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import ApplicationError, ServiceUnavailable, Unavailable

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
