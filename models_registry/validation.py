"""An upload is validated by really loading it, and predicting a sample built from its
schema, in a short-lived sandboxed runner: the web worker never opens the model.

A file that crashes its engine, needs more memory than an upload may take, or never
finishes loading is refused here with the cause in words (400 invalid_model), and
nothing is stored."""

import dataclasses
import uuid
from collections.abc import Callable
from pathlib import Path

from django.utils.translation import gettext as _

from core.errors import ApplicationError, InvalidInput, InvalidModel
from models_registry.inputs import batch_from_records, parse_json_body
from models_registry.runners import client
from models_registry.samples import sample_record
from models_registry.schema import ModelInfo


def inspect_artifact(
    path: Path, fmt: str, extension: str, *, adjust: Callable[[ModelInfo], bool] | None = None, probe: dict | None = None
) -> ModelInfo:
    """The artifact's schema, once it has loaded and answered in a runner.

    adjust(info) may amend the schema (an MLflow signature); when it renames inputs it
    returns True and the model is loaded again, in a runner of its own, with the new
    names. probe is a request body to try instead of the sample row (an MLflow input
    example); if it does not fit the schema, the sample row is tried and
    details["probe_note"] says why."""
    info_dict, spec = client.inspect(path, fmt, extension, label="The uploaded model")
    keys = [spec.key]
    try:
        info = ModelInfo.from_dict(info_dict)
        if adjust is not None and adjust(info):
            spec = dataclasses.replace(spec, key=f"{spec.key}-{uuid.uuid4().hex[:6]}", info=info.to_dict())
            keys.append(spec.key)
        batch = None
        if probe is not None:
            try:
                batch = parse_json_body(probe, info.inputs).batch
            except InvalidInput as exc:
                info.details["probe_note"] = f"The input example does not fit the schema ({exc.message}); a sample row was tried instead."
        what = _("its input example") if batch is not None else _("a sample input built from its schema")
        try:
            if batch is None:
                batch = batch_from_records([sample_record(info.inputs)], info.inputs)
            client.predict(spec, batch)
        except (client.ModelCrashed, client.ModelOutOfMemory, client.ModelTimeout) as exc:
            raise InvalidModel(_("The model loaded, but on %(what)s: %(error)s") % {"what": what, "error": exc.message}, details=exc.details) from None
        except ApplicationError as exc:
            raise InvalidModel(
                _("The model loaded but failed to predict on %(what)s: %(error)s") % {"what": what, "error": exc.message}, code="probe_failed"
            ) from None
        return info
    finally:
        client.stop(keys=keys)
