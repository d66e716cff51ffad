"""Predicting with a model version: request data in, the answer out.

The model test page, its API, and the deployments' sync and queued paths all
come through here, so a body is parsed, validated and answered one way.
"""

import time
from dataclasses import dataclass

from django.conf import settings

from mlserve.errors import ApplicationError, InvalidInput
from models_registry import files, model_cache, outputs
from models_registry.images import image_field
from models_registry.inputs import ParsedInput, check_row_limit, parse_json_body
from models_registry.runtimes import Prediction


@dataclass
class Result:
    body: dict
    prediction: Prediction
    parsed: ParsedInput
    elapsed_ms: float


def image_config(version) -> dict | None:
    """The version's preprocessing config, if its model takes images."""
    from models_registry.images import default_config

    field = image_field(version.input_fields)
    if field is None:
        return None
    return version.preprocessing or default_config(field)


def parse_input(version, *, data=None, upload=None, max_rows: int | None = None, sampling=None) -> ParsedInput:
    """A JSON body (already decoded) or an uploaded file, validated against the version's inputs.
    sampling (models_registry.video.Sampling) picks a video's frames."""
    max_rows = max_rows or settings.MLSERVE_MAX_ROWS_PER_REQUEST
    fields = version.input_fields
    if upload is not None:
        content = upload.read()
        name = getattr(upload, "name", "") or "upload"
        return files.parse_bytes(content, name, fields, image_config(version), max_rows, sampling)
    if data is None:
        raise InvalidInput(
            'The request has no body. Send JSON such as {"inputs": {...}} or a multipart "file".', code="empty_input"
        )
    parsed = parse_json_body(data, fields, image_config(version))
    check_row_limit(parsed.batch.n_rows, max_rows)
    return parsed


def run(version, parsed: ParsedInput) -> Prediction:
    predictor = model_cache.get_predictor(version)
    try:
        return predictor.predict(parsed.batch)
    except ApplicationError:
        raise
    except Exception as exc:  # the model's own code refused these rows
        raise InvalidInput(
            f"The model could not predict these rows: {type(exc).__name__}: {str(exc)[:500]}", code="prediction_failed"
        ) from exc


def predict(version, *, data=None, upload=None, max_rows: int | None = None, sampling=None) -> Result:
    started = time.perf_counter()
    parsed = parse_input(version, data=data, upload=upload, max_rows=max_rows, sampling=sampling)
    prediction = run(version, parsed)
    body = outputs.answer(prediction, model_name=version.model.name, version=version.number, parsed=parsed)
    return Result(body=body, prediction=prediction, parsed=parsed, elapsed_ms=(time.perf_counter() - started) * 1000)
