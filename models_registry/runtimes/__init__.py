"""One module per model format behind one small interface.

Each runtime module exposes:

- ``inspect(path, fmt) -> (ModelInfo, Predictor)``: load the artifact and extract
  its schema; the loaded predictor comes along so an upload loads only once;
- ``load(path, info) -> Predictor``: a stored version, loaded for serving.

``inspect_artifact`` adds what every format shares: detection from the content,
and a probe prediction on a sample built from the extracted schema.
"""

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Protocol

import numpy as np

from mlserve.errors import InvalidModel
from models_registry.schema import ModelInfo


@dataclass
class Batch:
    """Validated input rows, one array per input field (first axis: rows)."""

    columns: dict[str, np.ndarray]
    n_rows: int
    # All-numeric input already laid out as (rows, fields) in `matrix_names` order.
    prepared_matrix: np.ndarray | None = None
    matrix_names: tuple | None = None

    def matrix(self, names: list[str], dtype=np.float64) -> np.ndarray:
        """The named scalar columns side by side: the (rows, features) array most models take."""
        if self.prepared_matrix is not None and tuple(names) == self.matrix_names:
            return self.prepared_matrix.astype(dtype, copy=False)
        return np.column_stack([self.columns[n].astype(dtype, copy=False) for n in names]) if names else np.empty(
            (self.n_rows, 0), dtype=dtype
        )

    def frame(self, names: list[str]):
        import pandas as pd

        return pd.DataFrame({n: self.columns[n] for n in names})


@dataclass
class Prediction:
    """What a model answered for a batch, before it is shaped into a response."""

    # One entry per row: a label, a value, a cluster id, or for generic models a dict of outputs.
    predictions: list
    # (rows, classes) for classifiers, aligned with ``classes``.
    probabilities: np.ndarray | None = None
    classes: list | None = None


# Engine settings. Runtimes run inside sandboxed runner processes that have no Django and no
# settings: the process that starts them fills this in (models_registry.runners).
ENGINE_OPTIONS = {
    "onnx_threads": 1,
    "xgboost_threads": 1,
    "lightgbm_threads": 1,
    "catboost_threads": 1,
    "java_path": None,
    "java_opts": "-Xmx1g -XX:+UseSerialGC -Xshare:auto",
}


class Predictor(Protocol):
    def predict(self, batch: Batch) -> Prediction: ...


FORMAT_LABELS = {
    "pmml": "PMML",
    "onnx": "ONNX",
    "xgboost": "XGBoost",
    "lightgbm": "LightGBM",
    "catboost": "CatBoost",
    "skops": "scikit-learn (skops)",
    "pickle": "scikit-learn / pickle",
}
# Formats whose loading can run arbitrary code: only users with the upload_code permission.
CODE_FORMATS = {"pickle"}


def runtime_for(fmt: str) -> ModuleType:
    if fmt == "pmml":
        from models_registry.runtimes import pmml as module
    elif fmt == "onnx":
        from models_registry.runtimes import onnx as module
    elif fmt == "xgboost":
        from models_registry.runtimes import xgboost as module
    elif fmt == "lightgbm":
        from models_registry.runtimes import lightgbm as module
    elif fmt == "catboost":
        from models_registry.runtimes import catboost as module
    elif fmt in ("skops", "pickle"):
        from models_registry.runtimes import sklearn as module
    else:
        raise InvalidModel(f"Unknown model format {fmt!r}.")
    return module


ENGINE_LIBRARIES = {
    "pmml": ("pypmml",),
    "onnx": ("onnx", "onnxruntime"),
    "xgboost": ("xgboost",),
    "lightgbm": ("lightgbm",),
    "catboost": ("catboost",),
    "skops": ("sklearn", "skops.io"),
    "pickle": ("sklearn", "joblib"),
}


def resident_bytes() -> int:
    """This process's resident memory (Linux /proc; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def inspect_artifact(
    path: Path, fmt: str, *, adjust: Callable[[ModelInfo], bool] | None = None, probe: dict | None = None
) -> tuple[ModelInfo, Predictor]:
    """Load the artifact, extract its schema and prove it predicts on a sample row.

    adjust(info) may amend the schema (an MLflow signature); when it renames inputs it
    returns True and the predictor is built again with the new names. probe is a request
    body to try instead of the sample row (an MLflow input example); if it does not fit
    the schema, the sample row is tried and details["probe_note"] says why.

    Also estimates the memory the loaded model takes (details["memory_bytes"]): the
    growth of this process while loading it, engines already imported, and never
    less than the file's size. PMML models live in the JVM: 4x the document."""
    from mlserve.errors import InvalidInput
    from models_registry.inputs import batch_from_records, parse_json_body
    from models_registry.samples import sample_record

    module = runtime_for(fmt)
    for library in ENGINE_LIBRARIES.get(fmt, ()):
        importlib.import_module(library)  # so their import is not counted as the model's memory
    before = resident_bytes()
    info, predictor = module.inspect(path, fmt)
    size = path.stat().st_size
    grown = max(0, resident_bytes() - before)
    info.details["memory_bytes"] = 4 * size if fmt == "pmml" else max(grown, size)
    if adjust is not None and adjust(info):
        predictor = module.load(path, info)
    batch = None
    if probe is not None:
        try:
            batch = parse_json_body(probe, info.inputs).batch
        except InvalidInput as exc:
            info.details["probe_note"] = f"The input example does not fit the schema ({exc.message}); a sample row was tried instead."
    if batch is None:
        batch = batch_from_records([sample_record(info.inputs)], info.inputs)
    try:
        prediction = predictor.predict(batch)
    except InvalidModel:
        raise
    except Exception as exc:  # the model's own code failed: that is the finding
        what = "its input example" if probe is not None and "probe_note" not in info.details else "a sample input built from its schema"
        raise InvalidModel(
            f"The model loaded but failed to predict on {what}: {exc}",
            code="probe_failed",
        ) from exc
    if len(prediction.predictions) != batch.n_rows:
        raise InvalidModel(
            f"The model answered {len(prediction.predictions)} rows for {batch.n_rows} input rows.", code="probe_failed"
        )
    return info, predictor


def load_predictor(path: Path, info: ModelInfo) -> Predictor:
    """Load a stored version, whose schema is already known, for serving."""
    return runtime_for(info.format).load(path, info)
