"""An upload is validated by really loading it, and predicting a sample built from its
schema, in a short-lived sandboxed runner: the web worker never opens the model.

A file that crashes its engine, needs more memory than an upload may take, or never
finishes loading is refused here with the cause in words (400 invalid_model), and
nothing is stored."""

from pathlib import Path

from mlserve.errors import ApplicationError, InvalidModel
from models_registry.inputs import batch_from_records
from models_registry.runners import client
from models_registry.samples import sample_record
from models_registry.schema import ModelInfo


def inspect_artifact(path: Path, fmt: str, extension: str) -> ModelInfo:
    """The artifact's schema, once it has loaded and answered a sample row in a runner."""
    info_dict, spec = client.inspect(path, fmt, extension, label="The uploaded model")
    try:
        info = ModelInfo.from_dict(info_dict)
        try:
            batch = batch_from_records([sample_record(info.inputs)], info.inputs)
            client.predict(spec, batch)
        except (client.ModelCrashed, client.ModelOutOfMemory, client.ModelTimeout) as exc:
            raise InvalidModel(f"The model loaded, but on a sample input: {exc.message}", details=exc.details) from None
        except ApplicationError as exc:
            raise InvalidModel(
                f"The model loaded but failed to predict on a sample input built from its schema: {exc.message}",
                code="probe_failed",
            ) from None
        return info
    finally:
        client.stop(keys=[spec.key])
