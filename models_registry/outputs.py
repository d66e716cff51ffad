"""A model's Prediction shaped into the answer every prediction path gives:

{"predictions": [...one per row...], "probabilities": [{label: p, ...}, ...],
 "model": name, "version": n}
"""

import numpy as np

from models_registry.inputs import ParsedInput
from models_registry.runtimes import Prediction

_row_builders: dict[tuple, object] = {}


def _row_builder(labels: tuple):
    """A function turning [[p0, p1, ...], ...] into [{label0: p0, ...}, ...]: a dict display per
    row is 3x faster than dict(zip()), which matters for 10,000-row answers. Labels enter the
    generated code only through repr(), as string literals."""
    builder = _row_builders.get(labels)
    if builder is None:
        if len(labels) > 64:
            return lambda rows: [dict(zip(labels, row)) for row in rows]
        names = [f"p{i}" for i in range(len(labels))]
        display = ", ".join(f"{label!r}: {name}" for label, name in zip(labels, names))
        builder = eval(f"lambda rows: [{{{display}}} for {', '.join(names)}, in rows]", {"__builtins__": {}})  # noqa: S307
        _row_builders[labels] = builder
    return builder


def probability_rows(prediction: Prediction) -> list[dict] | None:
    if prediction.probabilities is None or prediction.classes is None:
        return None
    labels = tuple(str(c) for c in prediction.classes)
    return _row_builder(labels)(np.asarray(prediction.probabilities, dtype=np.float64).tolist())


def answer(prediction: Prediction, *, model_name: str, version: int, parsed: ParsedInput | None = None) -> dict:
    body = {"predictions": prediction.predictions}
    probabilities = probability_rows(prediction)
    if probabilities is not None:
        body["probabilities"] = probabilities
    body["model"] = model_name
    body["version"] = version
    if parsed is not None:
        if parsed.row_sources:
            body["sources"] = parsed.row_sources
        if parsed.timestamps is not None:
            body["timestamps"] = parsed.timestamps
        if parsed.ignored_fields:
            body["ignored_fields"] = parsed.ignored_fields
    return body
