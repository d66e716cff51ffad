"""A small per-process cache whose entries expire: the hot path's lookups (tokens,
deployments) hit the database once per TTL instead of on every request.

A change that must not wait for the TTL (a token revoked, a deployment paused)
calls announce_change(): it appends a byte to a file in the data dir, and every
process on this machine sees the file change on its next lookup (one stat()) and
empties its caches. With REDIS_URL it also increments a generation counter in
Redis, which every process of every node reads at most every
CHANGES_REDIS_CHECK_SECONDS: a change reaches the whole cluster well within 1 s.
When Redis cannot be reached, processes on other nodes fall back to the TTL."""

import logging
import os
import threading
import time
import weakref

from django.conf import settings
from django.core.cache import cache as shared_cache

log = logging.getLogger(__name__)
CHANGES_FILE = "cache-changes"
CHANGES_FILE_MAX_BYTES = 65536
# The Redis key of the generation counter (under MLSERVE_CACHE_PREFIX), and how often a process reads it.
CHANGES_REDIS_KEY = "cache-changes"
CHANGES_REDIS_CHECK_SECONDS = 0.2
# A Redis that does not answer is logged this often at most, not on every lookup.
REDIS_WARNING_SECONDS = 60

_caches: "weakref.WeakSet[TtlCache]" = weakref.WeakSet()
_paths: dict = {}
_seen = None
_seen_generation = None
_next_redis_check = 0.0
_last_redis_warning = 0.0


def _changes_path() -> str:
    data_dir = settings.MLSERVE_DATA_DIR
    path = _paths.get(data_dir)
    if path is None:
        path = _paths[data_dir] = os.path.join(data_dir, CHANGES_FILE)
    return path


def _redis_trouble(action: str, exc: Exception) -> None:
    global _last_redis_warning
    now = time.monotonic()
    if now - _last_redis_warning > REDIS_WARNING_SECONDS:
        _last_redis_warning = now
        log.warning("could not %s the cache generation in Redis (%s): other nodes see changes within their cache TTL", action, exc)


def _redis_generation_changed() -> bool:
    """True when another node announced a change since this process last looked (a read every
    CHANGES_REDIS_CHECK_SECONDS at most, so the hot path pays one GET per process per period)."""
    global _seen_generation, _next_redis_check
    now = time.monotonic()
    if now < _next_redis_check:
        return False
    _next_redis_check = now + CHANGES_REDIS_CHECK_SECONDS
    try:
        generation = shared_cache.get(CHANGES_REDIS_KEY)
    except Exception as exc:  # any client error: Redis down must not take lookups down with it
        _redis_trouble("read", exc)
        return False
    if generation == _seen_generation:
        return False
    _seen_generation = generation
    return True


def _drop_if_changed_elsewhere() -> None:
    global _seen
    try:
        st = os.stat(_changes_path())
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        stamp = None
    changed = stamp != _seen
    _seen = stamp
    if settings.REDIS_URL and _redis_generation_changed():
        changed = True
    if changed:
        for cache in list(_caches):
            cache.clear()


def _announce_in_redis() -> None:
    try:
        # A counter that starts again (Redis restarted, key evicted) starts from the clock, never
        # from a value some process may have seen before and would not tell apart.
        shared_cache.add(CHANGES_REDIS_KEY, time.time_ns(), timeout=None)
        shared_cache.incr(CHANGES_REDIS_KEY)
    except ValueError:  # evicted between add and incr: a new value is a change too
        shared_cache.set(CHANGES_REDIS_KEY, time.time_ns(), timeout=None)
    except Exception as exc:
        _redis_trouble("increment", exc)


def announce_change() -> None:
    """Every process on this machine, and with REDIS_URL on every node, drops its cached
    lookups before its next request."""
    for cache in list(_caches):
        cache.clear()
    if settings.REDIS_URL:
        _announce_in_redis()
    path = _changes_path()
    try:
        with open(path, "ab") as f:
            f.write(b".")
            size = f.tell()
        if size > CHANGES_FILE_MAX_BYTES:  # start a new file: a new inode is a change too
            fresh = f"{path}.{os.getpid()}"
            with open(fresh, "wb") as f:
                f.write(b".")
            os.replace(fresh, path)
    except OSError as exc:  # the change itself is saved; other processes fall back to the TTL
        log.warning("could not announce a change in %s (%s): other processes see it within their cache TTL", path, exc)


class TtlCache:
    def __init__(self, max_entries: int = 10_000):
        self._data: dict = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries
        _caches.add(self)

    def get(self, key):
        _drop_if_changed_elsewhere()
        entry = self._data.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def set(self, key, value, ttl: float) -> None:
        if ttl <= 0:
            return
        with self._lock:
            if len(self._data) >= self.max_entries:
                self._data.clear()  # rare: a flood of distinct keys; start over
            self._data[key] = (time.monotonic() + ttl, value)

    def pop(self, key) -> None:
        with self._lock:
            self._data.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
