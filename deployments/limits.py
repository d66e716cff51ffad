"""Per-deployment limits on the synchronous path: concurrent requests across every
process (429), and the request timeout (504).

Concurrency slots live where all processes see them:
- with REDIS_URL, a sorted set per deployment in Redis (every machine): one member per
  call, scored with its deadline (the deployment's timeout from the call's start, on
  Redis's clock). Expired members are purged before counting, in the same Lua script,
  so a slot of a process that died mid-call (kill -9, OOM, a gunicorn timeout) is free
  again within the deployment's timeout, however much traffic keeps coming;
- without it (one machine, the embedded default), N lock files per deployment
  under the data dir, taken with flock: the kernel frees a slot the moment its
  process dies, so a crash never leaks one.
"""

import errno
import fcntl
import os
import random
import signal
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from django_redis import get_redis_connection

from core.errors import ApplicationError

# A call's slot outlives its deadline by this much (a call is stopped at its timeout, give or
# take a native call that must return first); the whole set expires when nobody calls.
REDIS_SLOT_PAD_SECONDS = 1.0
REDIS_KEY_TTL_PAD = 60

# Atomically: drop expired members, count, take a slot if one is free. Redis's own clock, so
# nodes whose clocks differ agree.
_TAKE_SLOT = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[3])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return 1
"""
_take_slot_script = None


class TooManyRequests(ApplicationError):
    status_code = 429
    code = "too_many_requests"


class RequestTimeout(ApplicationError):
    status_code = 504
    code = "timeout"


def _busy(deployment) -> TooManyRequests:
    return TooManyRequests(
        _("Deployment '%(name)s' is already serving %(count)s requests (its max_concurrency); retry in a moment.")
        % {"name": deployment.name, "count": deployment.max_concurrency},
        details={"max_concurrency": deployment.max_concurrency, "retry_after_seconds": 1},
    )


def redis_slot_key(deployment) -> str:
    return cache.make_key(f"concurrency-slots:{deployment.pk}")


@contextmanager
def _redis_slot(deployment):
    global _take_slot_script
    connection = get_redis_connection("default")
    if _take_slot_script is None:
        _take_slot_script = connection.register_script(_TAKE_SLOT)
    key = redis_slot_key(deployment)
    member = uuid.uuid4().hex
    lifetime = deployment.timeout_seconds + REDIS_SLOT_PAD_SECONDS
    taken = _take_slot_script(
        keys=[key], args=[deployment.max_concurrency, lifetime, member, int(lifetime) + REDIS_KEY_TTL_PAD], client=connection
    )
    if not taken:
        raise _busy(deployment)
    try:
        yield
    finally:
        connection.zrem(key, member)


_slot_dirs: dict[tuple, str] = {}


def _slot_dir(deployment) -> str:
    key = (str(settings.MLSERVE_DATA_DIR), deployment.pk)
    path = _slot_dirs.get(key)
    if path is None:
        folder = Path(settings.MLSERVE_DATA_DIR) / "locks" / f"deployment-{deployment.pk}"
        folder.mkdir(parents=True, exist_ok=True)
        path = _slot_dirs[key] = str(folder)
    return path


@contextmanager
def _file_slot(deployment):
    folder = _slot_dir(deployment)
    n = deployment.max_concurrency
    start = random.randrange(n)
    for i in range(n):
        # A fresh open file description per attempt, so threads of one process exclude each other too.
        fd = os.open(f"{folder}/slot-{(start + i) % n}", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                continue
            raise
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return
    raise _busy(deployment)


def concurrency_slot(deployment):
    """Hold one of the deployment's max_concurrency slots for the duration, or raise 429."""
    return _redis_slot(deployment) if settings.REDIS_URL else _file_slot(deployment)


@contextmanager
def time_limit(deployment):
    """Raise 504 once the request has run timeout_seconds.

    In a process's main thread (gunicorn's sync workers) a real-time timer
    interrupts the work: Python code stops at once, a long call into native
    code (a model's C++ kernel) as soon as it returns. The elapsed time is also
    checked when the work is done: off the main thread there is no timer, and
    an exception raised by the timer while Python runs a garbage-collector
    callback or a __del__ is swallowed by the interpreter, so the work goes on."""
    seconds = deployment.timeout_seconds
    message = _("The request took longer than this deployment's %(seconds)s s timeout; send fewer rows, or submit a queued task.") % {
        "seconds": f"{seconds:g}"
    }
    started = time.monotonic()
    use_timer = threading.current_thread() is threading.main_thread()
    if use_timer:

        def expired(signum, frame):
            raise RequestTimeout(message)

        previous = signal.signal(signal.SIGALRM, expired)
        # One shot, never an interval: a repeating timer could fire after the work is done.
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        if use_timer:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    if time.monotonic() - started > seconds:
        raise RequestTimeout(message)
