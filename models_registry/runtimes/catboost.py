"""CatBoost models saved with save_model() in its own binary format (.cbm): data only,
safe to load (CatBoost verifies the file's flatbuffers before using it).

The schema comes from the model: feature names, which are categorical or text, and the
class names CatBoost keeps from training (strings or numbers). Classifiers answer as
XGBoost's do, with those names: the label is the most probable class (for two classes,
above the model's probability threshold, 0.5 unless set), as CatBoostClassifier.predict.
"""

from pathlib import Path

import numpy as np

from core.errors import InvalidModel
from models_registry.runtimes import ENGINE_OPTIONS, Batch, Prediction
from models_registry.schema import Field, ModelInfo, class_output_fields, python_scalar

MAGIC = b"CBM1"
BINARY_LOSSES = {"Logloss", "CrossEntropy"}
MULTICLASS_LOSSES = {"MultiClass", "MultiClassOneVsAll"}
RANKING_LOSSES = {
    "YetiRank",
    "YetiRankPairwise",
    "PairLogit",
    "PairLogitPairwise",
    "QueryRMSE",
    "QuerySoftMax",
    "QueryCrossEntropy",
    "LambdaMart",
    "StochasticRank",
    "StochasticFilter",
}
MULTI_OUTPUT_LOSSES = {"MultiRMSE", "MultiLogloss", "MultiCrossEntropy", "MultiQuantile", "SurvivalAft"}


def _load(path: Path):
    import catboost

    with open(path, "rb") as f:
        if f.read(4) != MAGIC:
            raise InvalidModel("This is not a CatBoost model file (a .cbm starts with 'CBM1').")
    model = catboost.CatBoost()
    try:
        model.load_model(str(path), format="cbm")
    except Exception as exc:  # CatBoostError, or a damaged file's metadata that is not UTF-8
        message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise InvalidModel(f"CatBoost could not load this model (damaged or cut short?): {message}") from exc
    return model


def _loss(model) -> str:
    try:
        return str(model.get_all_params().get("loss_function", "")).split(":")[0]
    except Exception:  # noqa: BLE001  (a model without its training parameters)
        return ""


def _model_type(loss: str) -> str:
    if loss in BINARY_LOSSES or loss in MULTICLASS_LOSSES:
        return "classification"
    if loss in RANKING_LOSSES:
        return "ranking"
    if loss in MULTI_OUTPUT_LOSSES:
        return "other"
    return "regression"


def _classes(model, loss: str) -> list:
    raw = getattr(model, "classes_", None)
    names = [python_scalar(c) for c in raw] if raw is not None else []
    if names:
        return [int(c) if isinstance(c, float) and c.is_integer() else c for c in names]
    return [0, 1] if loss in BINARY_LOSSES else []


def _input_fields(model) -> list[Field]:
    names = list(model.feature_names_ or [])
    if model.get_embedding_feature_indices():
        raise InvalidModel("This CatBoost model has embedding features, which mlserve cannot feed yet.", code="unsupported_format")
    categorical = set(model.get_cat_feature_indices())
    text = set(model.get_text_feature_indices())
    fields = []
    for i, name in enumerate(names):
        if i in categorical:
            fields.append(Field(name=name, type="string", optype="categorical"))
        elif i in text:
            fields.append(Field(name=name, type="string", optype="text"))
        else:
            fields.append(Field(name=name, type="double"))
    return fields


def _label_type(classes: list) -> str:
    if all(isinstance(c, bool) for c in classes):
        return "boolean"
    if all(isinstance(c, int) for c in classes):
        return "integer"
    if all(isinstance(c, (int, float)) for c in classes):
        return "double"
    return "string"


def inspect(path: Path, fmt: str = "catboost") -> tuple[ModelInfo, "CatBoostPredictor"]:
    import catboost

    model = _load(path)
    loss = _loss(model)
    model_type = _model_type(loss)
    inputs = _input_fields(model)
    classes = None
    if model_type == "classification":
        classes = _classes(model, loss)
        if not classes:
            raise InvalidModel("This CatBoost classifier does not say its classes.")
        outputs = class_output_fields(classes, _label_type(classes))
    elif model_type == "other":
        outputs = [Field(name="prediction", type="tensor(double)", shape=[None], role="tensor")]
    else:
        outputs = [Field(name="prediction", type="double", role="value")]
    threshold = model.get_metadata().get("binclass_probability_threshold")
    details = {
        "loss_function": loss,
        "trees": model.tree_count_,
        "categorical": [f.name for f in inputs if f.optype == "categorical"],
        "text": [f.name for f in inputs if f.optype == "text"],
    }
    if threshold:
        details["probability_threshold"] = float(threshold)
    info = ModelInfo(
        format="catboost",
        model_type=model_type,
        algorithm=f"CatBoost ({model.tree_count_} trees, loss {loss or '?'})",
        engine="catboost",
        engine_version=catboost.__version__,
        inputs=inputs,
        outputs=outputs,
        classes=classes,
        details=details,
    )
    return info, CatBoostPredictor(model, info)


class CatBoostPredictor:
    def __init__(self, model, info: ModelInfo):
        self.model = model
        self.names = [f.name for f in info.inputs]
        self.categorical = [i for i, f in enumerate(info.inputs) if f.optype == "categorical"]
        self.text = [i for i, f in enumerate(info.inputs) if f.optype == "text"]
        self.model_type = info.model_type
        self.classes = info.classes
        self.threshold = info.details.get("probability_threshold", 0.5)
        self.threads = ENGINE_OPTIONS["catboost_threads"]

    def _pool(self, batch: Batch):
        if not self.categorical and not self.text:
            return batch.matrix(self.names, np.float32)
        import catboost

        frame = batch.frame(self.names)
        return catboost.Pool(frame, cat_features=self.categorical or None, text_features=self.text or None)

    def predict(self, batch: Batch) -> Prediction:
        data = self._pool(batch)
        if self.model_type != "classification":
            return Prediction(predictions=np.asarray(self.model.predict(data, thread_count=self.threads)).tolist())
        # CatBoost answers a column-major array: made row-major, as every other runtime's.
        proba = np.ascontiguousarray(self.model.predict(data, prediction_type="Probability", thread_count=self.threads), dtype=np.float64)
        if proba.shape[1] == 2:
            index = (proba[:, 1] > self.threshold).astype(int)
        else:
            index = proba.argmax(axis=1)
        return Prediction(predictions=[self.classes[i] for i in index], probabilities=proba, classes=self.classes)


def load(path: Path, info: ModelInfo) -> CatBoostPredictor:
    return CatBoostPredictor(_load(path), info)
