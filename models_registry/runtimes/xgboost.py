"""XGBoost boosters saved with save_model (JSON or UBJSON): data only, safe to load."""

import json
import mmap
import re
from pathlib import Path

import numpy as np

from core.errors import InvalidModel, without_paths
from models_registry.runtimes import ENGINE_OPTIONS, Batch, Prediction
from models_registry.schema import Field, ModelInfo, class_output_fields

FEATURE_TYPES = {
    "q": ("double", "continuous"),
    "float": ("double", "continuous"),
    "int": ("integer", "continuous"),
    "i": ("boolean", "categorical"),
    "c": ("integer", "categorical"),
}


# XGBoost sizes its buffers from these model parameters (num_class 1e8: gigabytes at load, more
# per predicted row), so they are read from the file and checked before XGBoost sees it.
SIZE_LIMITS = {b"num_class": 10_000, b"num_target": 10_000, b"num_feature": 100_000}
_JSON_SIZE = re.compile(rb'"(num_class|num_target|num_feature)"\s*:\s*"\s*\+?(\d+)')
_UBJ_SIZE = re.compile(rb"(num_class|num_target|num_feature)S([iUIlL])")
_UBJ_LENGTH = {b"i": (1, True), b"U": (1, False), b"I": (2, True), b"l": (4, True), b"L": (8, True)}


def _declared_sizes(data) -> list[tuple[bytes, int]]:
    """(parameter, value) for each size parameter in a JSON or UBJSON model, read from the bytes."""
    found = [(m.group(1), int(m.group(2))) for m in _JSON_SIZE.finditer(data)]
    for m in _UBJ_SIZE.finditer(data):  # UBJSON: the key, then S, a length marker, the length, the text
        width, signed = _UBJ_LENGTH[m.group(2)]
        start = m.end()
        length = int.from_bytes(data[start : start + width], "big", signed=signed)
        text = bytes(data[start + width : start + width + max(0, min(length, 32))]).strip()
        if text.lstrip(b"+").isdigit():
            found.append((m.group(1), int(text)))
    return found


def check_sizes(path: Path) -> None:
    """Refuse a model whose declared class, target or feature count would make XGBoost allocate
    without bound, before it loads anything."""
    with open(path, "rb") as f:
        if path.stat().st_size == 0:
            return
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            declared = _declared_sizes(data)
    for name, value in declared:
        limit = SIZE_LIMITS[name]
        if value > limit:
            raise InvalidModel(
                f"This XGBoost model declares {name.decode()} = {value}; mlserve accepts at most {limit} "
                "(beyond that, loading and predicting take memory without bound).",
                code="model_too_large",
            )


def check_trees(model: dict) -> None:
    """What libxgboost trusts in a JSON model and crashes on when it lies: every child index
    inside its tree (and never the root, never both children the same node), every split on
    a feature the model has. Cheap: one pass over the arrays, before the engine sees them."""
    learner = model.get("learner") if isinstance(model, dict) else None
    try:
        num_feature = int(learner["learner_model_param"]["num_feature"])
        trees = learner["gradient_booster"]["model"]["trees"]
    except (KeyError, TypeError, ValueError):
        return  # not the gbtree layout (gblinear, dart's wrapper): left to the engine, in its sandbox
    for t, tree in enumerate(trees):
        try:
            n = int(tree["tree_param"]["num_nodes"])
            left, right, splits = (np.asarray(tree[k], dtype=np.int64) for k in ("left_children", "right_children", "split_indices"))
        except (KeyError, TypeError, ValueError, OverflowError):
            raise InvalidModel(f"Tree {t} of this XGBoost model is malformed (its node arrays cannot be read).", code="invalid_tree") from None
        if not (len(left) == len(right) == len(splits) == n):
            raise InvalidModel(f"Tree {t} declares {n} nodes but its arrays have other lengths.", code="invalid_tree")
        inner = left != -1
        bad = (
            ((left < -1) | (left >= n) | (right < -1) | (right >= n)).any()
            or (inner & ((left == 0) | (right == 0) | (left == right) | (right == -1))).any()
            or (inner & ((splits < 0) | (splits >= max(num_feature, 1)))).any()
        )
        if bad:
            raise InvalidModel(
                f"Tree {t} of this XGBoost model has child or feature indices outside the tree "
                f"({n} nodes, {num_feature} features): the file is damaged or crafted.",
                code="invalid_tree",
            )


def _load_booster(path: Path):
    import xgboost as xgb

    check_sizes(path)
    if path.suffix == ".json" and ENGINE_OPTIONS.get("xgboost_check_trees", True):
        try:
            check_trees(json.loads(path.read_bytes()))
        except (ValueError, RecursionError):
            pass  # not JSON after all: the engine says what is wrong
    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except MemoryError:
        raise  # over the runner's memory budget: said as such by the runner
    except Exception as exc:  # XGBoostError and friends: a corrupt or truncated file
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidModel(f"XGBoost could not load this model: {without_paths(message)}") from exc
    return booster


def _objective(config: dict) -> tuple[str, int]:
    learner = config["learner"]
    objective = learner["objective"]["name"]
    num_class = int(learner.get("learner_model_param", {}).get("num_class", "0") or 0)
    return objective, num_class


def _model_type(objective: str) -> str:
    if objective.startswith(("binary:", "multi:")):
        return "classification"
    if objective.startswith("rank:"):
        return "ranking"
    return "regression"


def inspect(path: Path, fmt: str = "xgboost") -> tuple[ModelInfo, "XGBoostPredictor"]:
    import xgboost as xgb

    booster = _load_booster(path)
    config = json.loads(booster.save_config())
    objective, num_class = _objective(config)
    n_features = booster.num_features()
    names = booster.feature_names or [f"f{i}" for i in range(n_features)]
    types = booster.feature_types or ["float"] * n_features
    inputs = []
    for name, ftype in zip(names, types):
        kind, optype = FEATURE_TYPES.get(ftype, ("double", "continuous"))
        inputs.append(Field(name=name, type=kind, optype=optype))

    model_type = _model_type(objective)
    classes = None
    if model_type == "classification":
        classes = list(range(num_class if objective.startswith("multi:") else 2))
        outputs = class_output_fields(classes, "integer")
        if objective == "binary:hinge":
            outputs = outputs[:1]  # hinge gives labels, no probabilities
    else:
        outputs = [Field(name="prediction", type="double", role="value")]

    booster_name = config["learner"]["gradient_booster"]["name"]
    rounds = booster.num_boosted_rounds()
    info = ModelInfo(
        format="xgboost",
        model_type=model_type,
        algorithm=f"XGBoost {booster_name} ({rounds} boosting rounds, objective {objective})",
        engine="xgboost",
        engine_version=xgb.__version__,
        inputs=inputs,
        outputs=outputs,
        classes=classes,
        details={"objective": objective, "num_class": num_class, "booster": booster_name, "rounds": rounds},
    )
    return info, XGBoostPredictor(booster, info)


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class XGBoostPredictor:
    def __init__(self, booster, info: ModelInfo):
        self.booster = booster
        self.names = [f.name for f in info.inputs]
        self.objective = info.details.get("objective", "")
        self.model_type = info.model_type
        self.classes = info.classes
        # Checking names against ours on every call costs time and says nothing new.
        self.booster.feature_names = None
        self.booster.feature_types = None
        # One thread per call: the web workers already use every core (MLSERVE_XGBOOST_THREADS).
        self.booster.set_param({"nthread": ENGINE_OPTIONS["xgboost_threads"]})

    def predict(self, batch: Batch) -> Prediction:
        X = batch.matrix(self.names, np.float32)
        if self.model_type != "classification":
            return Prediction(predictions=self.booster.inplace_predict(X))

        objective = self.objective
        if objective == "binary:hinge":
            labels = self.booster.inplace_predict(X).astype(int)
            return Prediction(predictions=labels, classes=self.classes)
        if objective == "multi:softmax":
            proba = _softmax(self.booster.inplace_predict(X, predict_type="margin"))
        elif objective == "binary:logitraw":
            p = _sigmoid(self.booster.inplace_predict(X))
            proba = np.column_stack([1 - p, p])
        elif objective.startswith("binary:"):
            p = self.booster.inplace_predict(X)
            proba = np.column_stack([1 - p, p])
        else:
            proba = self.booster.inplace_predict(X)
        # XGBClassifier.predict: the most probable class (ties and 0.5 go to the lower class).
        if proba.shape[1] == 2:
            labels = (proba[:, 1] > 0.5).astype(int)
        else:
            labels = proba.argmax(axis=1)
        return Prediction(predictions=labels, probabilities=proba, classes=self.classes)


def load(path: Path, info: ModelInfo) -> XGBoostPredictor:
    return XGBoostPredictor(_load_booster(path), info)
