"""Requests per API token (or deployment key): MLSERVE_TOKEN_RATE, e.g. "50000/minute".

A fixed-window counter in the Django cache: per web process with the default
local cache, across every process and machine with REDIS_URL. The DRF throttle and
the predict fast path call the same check."""

import time

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from rest_framework.throttling import BaseThrottle

from core.errors import ApplicationError

PERIODS = {"s": 1, "second": 1, "m": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}


class Throttled(ApplicationError):
    status_code = 429
    code = "throttled"


def parse_rate(rate: str) -> tuple[int, int] | None:
    """"600/minute" -> (600, 60); an empty rate means no limit."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip().lower()]


def check_token_rate(credential) -> None:
    """Count one request for this token or key; 429 past the rate."""
    rate = parse_rate(settings.MLSERVE_TOKEN_RATE)
    if rate is None or credential is None:
        return
    limit, period = rate
    window = int(time.time() // period)
    key = f"rate:{type(credential).__name__}:{credential.pk}:{window}"
    cache.add(key, 0, period + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, period + 1)
        count = 1
    if count > limit:
        raise Throttled(
            _("This token made more than %(limit)s requests in %(period)s s (MLSERVE_TOKEN_RATE); slow down, or send many rows per request.")
            % {"limit": limit, "period": period},
            details={"retry_after_seconds": period - int(time.time()) % period},
        )


class TokenRateThrottle(BaseThrottle):
    """The same limit for DRF views; session (browser) requests are not counted."""

    def allow_request(self, request, view) -> bool:
        check_token_rate(request.auth)
        return True
