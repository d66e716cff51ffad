"""One module per model format behind one small interface.

Each runtime module exposes:

- ``inspect(path, fmt) -> (ModelInfo, Predictor)``: load the artifact and extract
  its schema; the loaded predictor comes along so an upload loads only once;
- ``load(path, info) -> Predictor``: a stored version, loaded for serving.

They run only inside sandboxed runners (models_registry/runners), which have no
Django: nothing here or in a format module may import it. Detection from the
content (detect.py) runs in mlserve itself and reads bytes only.
"""

from dataclasses import dataclass
from types import ModuleType
from typing import Protocol

import numpy as np

from core.errors import InvalidModel


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
    # Check an XGBoost JSON model's trees before libxgboost reads them (off only to test the sandbox).
    "xgboost_check_trees": True,
    "lightgbm_threads": 1,
    "catboost_threads": 1,
    "java_path": None,
    # The JVM fetches no external DTD, entity or schema (the same lockdown as mlserve.settings).
    "java_opts": "-Djavax.xml.accessExternalDTD= -Djavax.xml.accessExternalSchema= -Djavax.xml.accessExternalStylesheet= "
    "-Djdk.xml.entityExpansionLimit=1000 -Xmx1g -XX:+UseSerialGC -Xshare:auto",
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
