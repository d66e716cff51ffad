"""Loaded models, kept per process so that no request pays for loading.

Keyed by the artifact's content hash (and format), bounded (least recently used
goes first) and emptied of a version when it is deleted.
"""

import threading
from collections import OrderedDict
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from models_registry.runtimes import Predictor, load_predictor
from models_registry.schema import ModelInfo, fields_from_json

_cache: "OrderedDict[str, Predictor]" = OrderedDict()
_lock = threading.Lock()
# Bumped on every load, so long-running processes know when to freeze new long-lived objects.
loads = 0
_loading_locks: dict[str, threading.Lock] = {}


def cache_key(version) -> str:
    return f"{version.sha256}:{version.format}:{version.pk}"


def version_info(version) -> ModelInfo:
    return ModelInfo(
        format=version.format,
        model_type=version.model_type,
        algorithm=version.algorithm,
        engine=version.engine,
        engine_version=version.engine_version,
        inputs=fields_from_json(version.inputs),
        outputs=fields_from_json(version.outputs),
        classes=version.classes,
        details=version.details,
    )


def _store(key: str, predictor: Predictor) -> None:
    global loads
    with _lock:
        loads += 1
        _cache[key] = predictor
        _cache.move_to_end(key)
        while len(_cache) > max(1, settings.MLSERVE_MODEL_CACHE_SIZE):
            _cache.popitem(last=False)


def get_predictor(version) -> Predictor:
    key = cache_key(version)
    with _lock:
        predictor = _cache.get(key)
        if predictor is not None:
            _cache.move_to_end(key)
            return predictor
        loading = _loading_locks.setdefault(key, threading.Lock())
    with loading:  # one thread loads; the others wait for it
        with _lock:
            predictor = _cache.get(key)
        if predictor is None:
            predictor = load_predictor(Path(default_storage.path(version.artifact.name)), version_info(version))
            _store(key, predictor)
    with _lock:
        _loading_locks.pop(key, None)
    return predictor


def is_cached(version) -> bool:
    return cache_key(version) in _cache


def put_predictor(version, predictor: Predictor) -> None:
    """Keep a predictor that was loaded anyway (at upload), so the first test is fast."""
    _store(cache_key(version), predictor)


def evict(version) -> None:
    with _lock:
        _cache.pop(cache_key(version), None)
