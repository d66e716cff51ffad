"""A model's Prediction shaped into the answer every prediction path gives:

{"predictions": [...one per row...], "probabilities": [{label: p, ...}, ...],
 "model": name, "version": n}
"""

import numpy as np

from models_registry.inputs import ParsedInput
from models_registry.runtimes import Prediction


def probability_rows(prediction: Prediction) -> list[dict] | None:
    if prediction.probabilities is None or prediction.classes is None:
        return None
    labels = [str(c) for c in prediction.classes]
    return [dict(zip(labels, row)) for row in np.asarray(prediction.probabilities, dtype=np.float64).tolist()]


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
        if parsed.ignored_fields:
            body["ignored_fields"] = parsed.ignored_fields
    return body
