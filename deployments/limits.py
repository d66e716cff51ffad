"""Per-deployment limits on the synchronous path: concurrent requests across every
process (429), and the request timeout (504).

Concurrency slots live where all processes see them:
- with REDIS_URL, a counter in the shared cache (every machine);
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
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _

from mlserve.errors import ApplicationError

# A slot counter left by a process that died mid-request expires after this long.
REDIS_SLOT_TTL_PAD = 30


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


@contextmanager
def _redis_slot(deployment):
    key = f"concurrency:{deployment.pk}"
    ttl = int(deployment.timeout_seconds) + REDIS_SLOT_TTL_PAD
    cache.add(key, 0, ttl)
    count = cache.incr(key)
    cache.touch(key, ttl)
    try:
        if count > deployment.max_concurrency:
            raise _busy(deployment)
        yield
    finally:
        cache.decr(key)


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
