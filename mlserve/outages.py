"""A shared service that does not answer (PostgreSQL, Redis, the object store) is an outage,
not a bug: the request answers 503 with the service's name and a reason, and the caller
retries. The database's transactions and the staging of every file before it is stored
mean nothing is left half-written. Used by the API's 500 handler and the predict fast path."""

from botocore.exceptions import ClientError, ReadTimeoutError
from botocore.exceptions import ConnectionError as StoreConnectionError
from django.db import InterfaceError, OperationalError
from django.utils.translation import gettext as _
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from mlserve.errors import ServiceUnavailable

REDIS_ERRORS = (ConnectionInterrupted, RedisConnectionError, RedisTimeoutError)
STORE_ERRORS = (StoreConnectionError, ReadTimeoutError)


def _server_side(exc) -> bool:
    """An S3 error answer that is the store's trouble (5xx, throttling), not a missing key."""
    if not isinstance(exc, ClientError):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return status >= 500 or exc.response.get("Error", {}).get("Code") in ("SlowDown", "ServiceUnavailable")


def outage(exc: BaseException | None) -> ServiceUnavailable | None:
    """The 503 for an exception that says a shared service is down; None for anything else."""
    if exc is None:
        return None
    if isinstance(exc, (OperationalError, InterfaceError)):
        service, message = "database", _("The database cannot be reached right now; nothing was changed. Retry in a moment.")
    elif isinstance(exc, REDIS_ERRORS):
        service, message = "redis", _("Redis (limits, cache, queue) cannot be reached right now; nothing was changed. Retry in a moment.")
    elif isinstance(exc, STORE_ERRORS) or _server_side(exc):
        service, message = "object_store", _("The object store cannot be reached right now; nothing was changed. Retry in a moment.")
    else:
        return None
    return ServiceUnavailable(
        message,
        details={"service": service, "retry_after_seconds": 5},
    )
