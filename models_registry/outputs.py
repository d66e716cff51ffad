"""A model's Prediction shaped into the answer every prediction path gives:

{"predictions": [...one per row...], "probabilities": [{label: p, ...}, ...],
 "model": name, "version": n}

An Answer writes its JSON straight from the model's arrays (``to_json``): a
10,000-row answer is never 10,000 Python dicts. Its ``body`` (the same answer as a
dict) is built only when something needs one: a deployment script's postprocess,
a page, a test.
"""

from functools import cached_property

import numpy as np
import orjson

from models_registry.inputs import ParsedInput
from models_registry.runtimes import Prediction

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def dumps(value) -> bytes:
    return orjson.dumps(value, option=JSON_OPTIONS)


def _labels(prediction: Prediction) -> list[str] | None:
    if prediction.probabilities is None or prediction.classes is None:
        return None
    return [str(c) for c in prediction.classes]


def probability_rows(prediction: Prediction) -> list[dict] | None:
    labels = _labels(prediction)
    if labels is None:
        return None
    return [dict(zip(labels, row)) for row in np.asarray(prediction.probabilities, dtype=np.float64).tolist()]


def probability_rows_json(probabilities: np.ndarray, labels: list[str]) -> bytes:
    """[{label: p, ...}, ...] as JSON, straight from the (rows, classes) array: the numbers as
    orjson writes them, the keys between them, joined once. Equal to dumps(probability_rows)."""
    proba = np.ascontiguousarray(probabilities, dtype=np.float64)
    n, k = proba.shape
    if n == 0:
        return b"[]"
    if k == 0:
        return b"[" + b",".join([b"{}"] * n) + b"]"
    numbers = dumps(proba.reshape(-1))[1:-1].split(b",")
    keys = [dumps(label) + b":" for label in labels]
    # One flat list of pieces, filled a column at a time by slice assignment (loops in C).
    stride = 2 * k + 1
    parts = [b""] * (n * stride)
    for j in range(k):
        parts[2 * j :: stride] = [(b"{" if j == 0 else b",") + keys[j]] * n
        parts[2 * j + 1 :: stride] = numbers[j::k]
    parts[2 * k :: stride] = [b"},"] * n
    parts[-1] = b"}"
    return b"[" + b"".join(parts) + b"]"


class Answer:
    """One prediction call's answer, before it becomes JSON."""

    def __init__(self, prediction: Prediction, *, model_name: str, version: int, parsed: ParsedInput | None = None):
        self.prediction = prediction
        self.model_name = model_name
        self.version = version
        self.sources = parsed.row_sources if parsed is not None else None
        self.timestamps = parsed.timestamps if parsed is not None else None  # video frames, in seconds
        self.ignored_fields = parsed.ignored_fields if parsed is not None else None

    def _tail(self) -> dict:
        tail = {"model": self.model_name, "version": self.version}
        if self.sources:
            tail["sources"] = self.sources
        if self.timestamps is not None:
            tail["timestamps"] = self.timestamps
        if self.ignored_fields:
            tail["ignored_fields"] = self.ignored_fields
        return tail

    @cached_property
    def body(self) -> dict:
        predictions = self.prediction.predictions
        body = {"predictions": predictions.tolist() if isinstance(predictions, np.ndarray) else predictions}
        probabilities = probability_rows(self.prediction)
        if probabilities is not None:
            body["probabilities"] = probabilities
        return {**body, **self._tail()}

    def to_json(self) -> bytes:
        if "body" in self.__dict__:  # already a dict (and maybe changed): that is the answer
            return dumps(self.body)
        parts = [b'{"predictions":', dumps(self.prediction.predictions)]
        labels = _labels(self.prediction)
        if labels is not None:
            parts += [b',"probabilities":', probability_rows_json(self.prediction.probabilities, labels)]
        parts += [b",", dumps(self._tail())[1:]]
        return b"".join(parts)


def answer(prediction: Prediction, *, model_name: str, version: int, parsed: ParsedInput | None = None) -> dict:
    """The answer as a dict (scripts, pages and tests use this shape)."""
    return Answer(prediction, model_name=model_name, version=version, parsed=parsed).body
