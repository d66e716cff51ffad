"""A small per-process cache whose entries expire: the hot path's lookups (tokens,
deployments) hit the database once per TTL instead of on every request."""

import threading
import time


class TtlCache:
    def __init__(self, max_entries: int = 10_000):
        self._data: dict = {}
        self._lock = threading.Lock()
        self.max_entries = max_entries

    def get(self, key):
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
