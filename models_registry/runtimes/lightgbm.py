"""LightGBM boosters: the model text of Booster.save_model() and the JSON of dump_model().

Data only, safe to load once lightgbm_format has checked the text (see there why).
Classifiers answer as XGBoost's do: classes 0..k-1 (LightGBM keeps no class names),
the label is the most probable class, as LGBMClassifier.predict gives it.
"""

import ctypes
from pathlib import Path

import numpy as np
import orjson

from core.errors import InvalidModel
from models_registry.runtimes import ENGINE_OPTIONS, Batch, Prediction
from models_registry.runtimes.lightgbm_format import checked_model_text, text_from_json_dump
from models_registry.schema import Field, ModelInfo, class_output_fields, python_scalar

RANKING = ("lambdarank", "rank_xendcg")


def _model_text(path: Path) -> tuple[str, dict, str]:
    """(model text for LightGBM, its header, where it came from: 'model text' or 'JSON dump')."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidModel("This LightGBM model file is not text (save_model writes UTF-8 text or JSON).") from None
    source = "model text"
    if text.lstrip().startswith("{"):
        try:
            dump = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise InvalidModel(f"This LightGBM JSON dump is not valid JSON (cut short?): {exc}") from None
        text, source = text_from_json_dump(dump), "JSON dump"
    text, header = checked_model_text(text)
    return text, header, source


def _booster(text: str):
    import lightgbm as lgb
    from lightgbm.basic import _LIB

    # Loading runs OpenMP loops: at most this many threads (MLSERVE_LIGHTGBM_THREADS), none left behind.
    _LIB.LGBM_SetMaxThreads(ctypes.c_int(ENGINE_OPTIONS["lightgbm_threads"]))
    try:
        return lgb.Booster(model_str=text)
    except Exception as exc:  # LightGBMError: a value LightGBM cannot parse
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidModel(f"LightGBM could not load this model: {message}") from exc


def _model_type(objective: str, num_class: int) -> tuple[str, list | None]:
    name = objective.split()[0] if objective else ""
    if name == "binary":
        return "classification", [0, 1]
    if name in ("multiclass", "multiclassova", "softmax", "ova"):
        return "classification", list(range(num_class))
    if name in RANKING:
        return "ranking", None
    return "regression", None


def _input_fields(header: dict, categories: list | None) -> tuple[list[Field], dict]:
    """Fields from the header: features whose info lists values are categorical. When the
    booster was trained on a DataFrame, pandas_categorical gives their categories, in order."""
    names = header["feature_names"].split()
    infos = header.get("feature_infos", "").split()
    categorical = [i for i, info in enumerate(infos) if info != "none" and not info.startswith("[")]
    named_categories = {}
    if categories and len(categories) == len(categorical):
        named_categories = {names[i]: [python_scalar(c) for c in cats] for i, cats in zip(categorical, categories)}
    fields = []
    for i, name in enumerate(names):
        if name in named_categories:
            values = named_categories[name]
            kind = "string" if any(isinstance(v, str) for v in values) else "integer"
            fields.append(Field(name=name, type=kind, optype="categorical", values=values))
        elif i in categorical:
            fields.append(Field(name=name, type="integer", optype="categorical", description="category code"))
        else:
            fields.append(Field(name=name, type="double"))
    return fields, named_categories


def inspect(path: Path, fmt: str = "lightgbm") -> tuple[ModelInfo, "LightGBMPredictor"]:
    import lightgbm as lgb

    text, header, source = _model_text(path)
    booster = _booster(text)
    objective = header.get("objective", "")
    num_class = int(header.get("num_class", "1"))
    model_type, classes = _model_type(objective, num_class)
    inputs, categories = _input_fields(header, booster.pandas_categorical)
    outputs = class_output_fields(classes, "integer") if classes else [Field(name="prediction", type="double", role="value")]
    per_iteration = int(header["num_tree_per_iteration"])
    trees = booster.num_trees()
    boosting = header["boosting"] or "trees"
    info = ModelInfo(
        format="lightgbm",
        model_type=model_type,
        algorithm=f"LightGBM {boosting} ({trees // per_iteration} boosting rounds, objective {objective.split()[0] if objective else '?'})",
        engine="lightgbm",
        engine_version=lgb.__version__,
        inputs=inputs,
        outputs=outputs,
        classes=classes,
        details={
            "objective": objective,
            "num_class": num_class,
            "trees": trees,
            "source": source,
            "categories": categories,
        },
    )
    return info, LightGBMPredictor(booster, info)


class LightGBMPredictor:
    def __init__(self, booster, info: ModelInfo):
        self.booster = booster
        self.names = [f.name for f in info.inputs]
        self.categories = info.details.get("categories") or {}
        self.model_type = info.model_type
        self.classes = info.classes
        self.threads = ENGINE_OPTIONS["lightgbm_threads"]

    def _features(self, batch: Batch):
        if not self.categories:
            return batch.matrix(self.names)
        import pandas as pd

        # As trained on a DataFrame: category columns, which LightGBM maps to its codes itself.
        return pd.DataFrame(
            {
                n: pd.Categorical(batch.columns[n], categories=self.categories[n])
                if n in self.categories
                else batch.columns[n].astype(np.float64, copy=False)
                for n in self.names
            }
        )

    def predict(self, batch: Batch) -> Prediction:
        raw = np.asarray(self.booster.predict(self._features(batch), num_threads=self.threads))
        if self.model_type != "classification":
            return Prediction(predictions=raw.tolist())
        proba = np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw
        # LGBMClassifier.predict: the most probable class (a tie goes to the lower class).
        return Prediction(predictions=proba.argmax(axis=1).tolist(), probabilities=proba, classes=self.classes)


def load(path: Path, info: ModelInfo) -> LightGBMPredictor:
    text, _, _ = _model_text(path)
    return LightGBMPredictor(_booster(text), info)
