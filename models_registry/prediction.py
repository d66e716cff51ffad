"""Predicting with a model version: request data in, the answer out.

The model test page, its API, and the deployments' sync and queued paths all
come through here, so a body is parsed, validated and answered one way. The
model itself runs in a sandboxed runner (models_registry/runners): this process
only parses, validates, sends the batch and shapes the answer.
"""

import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import InvalidInput
from models_registry import artifact_cache, files, outputs
from models_registry.images import default_config, image_field
from models_registry.inputs import ParsedInput, check_row_limit, parse_json_body
from models_registry.runners import client
from models_registry.runners.client import RunnerSpec
from models_registry.runtimes import Prediction
from models_registry.schema import ModelInfo, fields_from_json


@dataclass
class Result:
    answer: outputs.Answer
    prediction: Prediction
    parsed: ParsedInput
    elapsed_ms: float
    # What a deployment script's postprocess returned instead of the answer.
    response: object = None

    @property
    def body(self):
        return self.response if self.response is not None else self.answer.body

    def to_json(self) -> bytes:
        return outputs.dumps(self.response) if self.response is not None else self.answer.to_json()


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


def version_runner_key(version) -> str:
    """The key of a stored version's own runner (stopping it needs no artifact at hand)."""
    return f"{client.namespace()}-v{version.pk}-{version.sha256[:12]}"


def spec_for_version(version, **overrides) -> RunnerSpec:
    """The runner of a stored version, outside any deployment (the Test tab, comparisons)."""
    values = {
        "key": version_runner_key(version),
        "artifact": artifact_cache.local_artifact(version),
        "format": version.format,
        "extension": Path(version.artifact.name).suffix,
        "info": version_info(version).to_dict(),
        "timeout": settings.MLSERVE_RUNNER_CALL_TIMEOUT,
        "label": f"Model {version.model.name} v{version.number}",
    }
    return RunnerSpec(**{**values, **overrides})


def image_config(version) -> dict | None:
    """The version's preprocessing config, if its model takes images."""
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
        name = getattr(upload, "name", "") or "upload"
        return files.read_request_file(upload, name, fields, image_config(version), max_rows, sampling)
    if data is None:
        raise InvalidInput(
            _('The request has no body. Send JSON such as {"inputs": {...}} or a multipart "file".'), code="empty_input"
        )
    parsed = parse_json_body(data, fields, image_config(version))
    check_row_limit(parsed.batch.n_rows, max_rows)
    return parsed


def run(spec: RunnerSpec, parsed: ParsedInput, *, timeout: float | None = None) -> Prediction:
    """The model's answer for validated rows, from its runner."""
    return client.predict(spec, parsed.batch, timeout=timeout)


def predict(
    version, *, data=None, upload=None, max_rows: int | None = None, spec: RunnerSpec | None = None, sampling=None
) -> Result:
    started = time.perf_counter()
    parsed = parse_input(version, data=data, upload=upload, max_rows=max_rows, sampling=sampling)
    prediction = run(spec or spec_for_version(version), parsed)
    answer = outputs.Answer(prediction, model_name=version.model.name, version=version.number, parsed=parsed)
    return Result(answer=answer, prediction=prediction, parsed=parsed, elapsed_ms=(time.perf_counter() - started) * 1000)
