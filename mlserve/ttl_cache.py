"""A small per-process cache whose entries expire: the hot path's lookups (tokens,
deployments) hit the database once per TTL instead of on every request.

A change that must not wait for the TTL (a token revoked, a deployment paused)
calls announce_change(): it appends a byte to a file in the data dir, and every
process on this machine sees the file change on its next lookup (one stat()) and
empties its caches. Processes on other machines still wait for the TTL."""

import logging
import os
import threading
import time
import weakref

from django.conf import settings

log = logging.getLogger(__name__)
CHANGES_FILE = "cache-changes"
CHANGES_FILE_MAX_BYTES = 65536

_caches: "weakref.WeakSet[TtlCache]" = weakref.WeakSet()
_paths: dict = {}
_seen = None


def _changes_path() -> str:
    data_dir = settings.MLSERVE_DATA_DIR
    path = _paths.get(data_dir)
    if path is None:
        path = _paths[data_dir] = os.path.join(data_dir, CHANGES_FILE)
    return path


def _drop_if_changed_elsewhere() -> None:
    global _seen
    try:
        st = os.stat(_changes_path())
        stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    except FileNotFoundError:
        stamp = None
    if stamp != _seen:
        _seen = stamp
        for cache in list(_caches):
            cache.clear()


def announce_change() -> None:
    """Every process on this machine drops its cached lookups before its next request."""
    for cache in list(_caches):
        cache.clear()
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
