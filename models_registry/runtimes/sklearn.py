"""scikit-learn estimators and pipelines: .skops (safe, allow-listed types) and
.pkl/.joblib (pickle: runs code on load, so only for users allowed to upload code)."""

import warnings
from pathlib import Path

import numpy as np

from core.errors import InvalidModel, without_paths
from models_registry.runtimes import Batch, Prediction
from models_registry.schema import Field, ModelInfo, class_output_fields, python_scalar

# Types that skops does not trust by default and that we reviewed: they hold
# arrays and numbers only, and skops rebuilds them without running their code.
SKOPS_ALLOWED_TYPES = {
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.LogLink",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfPoissonLoss",
    "sklearn._loss.loss.AbsoluteError",
    "sklearn._loss.loss.PinballLoss",
    "sklearn._loss.loss.HuberLoss",
    "sklearn._loss._loss.CyHalfSquaredError",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss._loss.CyHalfMultinomialLoss",
    "sklearn._loss._loss.CyHalfPoissonLoss",
    "sklearn._loss._loss.CyAbsoluteError",
    "sklearn._loss._loss.CyPinballLoss",
    "sklearn._loss._loss.CyHuberLoss",
    "collections.OrderedDict",
    "numpy.dtype",
}
ENCODERS = ("OneHotEncoder", "OrdinalEncoder", "TargetEncoder")
# A pipeline that starts with one of these takes one text per row, not a table.
TEXT_VECTORIZERS = ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer")
TEXT_INPUT = "text"


def _load_estimator(path: Path, fmt: str):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            if fmt == "skops":
                import skops.io as sio

                untrusted = sio.get_untrusted_types(file=str(path))
                refused = sorted(set(untrusted) - SKOPS_ALLOWED_TYPES)
                if refused:
                    raise InvalidModel(
                        "This .skops file contains types that mlserve does not load for safety: "
                        + ", ".join(refused)
                        + ". Export the model to ONNX, or ask an administrator to upload it as a pickle.",
                        code="untrusted_types",
                        details={"untrusted_types": refused},
                    )
                estimator = sio.load(str(path), trusted=list(untrusted))
                refuse_file_parameters(estimator)
            else:
                import joblib

                estimator = joblib.load(path)
        except InvalidModel:
            raise
        except MemoryError:
            raise  # over the runner's memory budget: said as such by the runner
        except Exception as exc:
            kind = "skops file" if fmt == "skops" else "pickle"
            raise InvalidModel(f"The {kind} could not be loaded: {type(exc).__name__}: {without_paths(str(exc))}") from exc
    notes = sorted({str(w.message).splitlines()[0] for w in caught if "version" in str(w.message).lower()})
    if not hasattr(estimator, "predict"):
        raise InvalidModel(
            f"The file holds a {type(estimator).__module__}.{type(estimator).__name__}, "
            "not a fitted model with a predict() method."
        )
    try:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(estimator)
    except TypeError:
        pass  # not a scikit-learn estimator (e.g. a bare object with predict); the probe decides
    except MemoryError:
        raise  # over the runner's memory budget: said as such by the runner
    except Exception as exc:
        raise InvalidModel(f"The estimator is not fitted: {without_paths(str(exc))}") from exc
    return estimator, notes


# Estimators that read a file or folder named by a parameter: harmless types, dangerous values.
TEXT_VECTORIZERS = ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer")


def _components(estimator, seen=None):
    """The estimator and everything inside it (pipeline steps, transformers, ensembles' members)."""
    seen = set() if seen is None else seen
    if id(estimator) in seen or not hasattr(estimator, "get_params"):
        return
    seen.add(id(estimator))
    yield estimator
    for value in estimator.get_params(deep=False).values():
        items = value if isinstance(value, (list, tuple)) else [value]
        for item in items:
            if isinstance(item, tuple):  # ("name", estimator[, columns])
                for part in item:
                    yield from _components(part, seen)
            else:
                yield from _components(item, seen)
    for fitted in ("transformers_", "steps", "estimators_", "named_estimators_"):
        value = getattr(estimator, fitted, None)
        if isinstance(value, dict):
            value = list(value.values())
        for item in value if isinstance(value, (list, tuple)) else []:
            parts = item if isinstance(item, tuple) else (item,)
            for part in parts:
                yield from _components(part, seen)


def refuse_file_parameters(estimator) -> None:
    """A .skops model whose steps would open files (a vectorizer told input='filename', a
    pipeline cache folder): the next such estimator is why models run in a sandbox, but these
    are refused up front, naming the parameter."""
    for part in _components(estimator):
        name = type(part).__name__
        if name in TEXT_VECTORIZERS and getattr(part, "input", "content") != "content":
            raise InvalidModel(
                f"This model's {name} has input={part.input!r}: it would read the files its input names. "
                "mlserve only accepts text vectorizers with input='content' (the default).",
                code="file_reading_estimator",
                details={"estimator": name, "parameter": "input"},
            )
        memory = getattr(part, "memory", None)
        if memory is not None and not isinstance(memory, (int, float, bool)):
            raise InvalidModel(
                f"This model's {name} has memory={memory!r}: it would cache to a folder on the server. "
                "Save the model with memory=None.",
                code="file_reading_estimator",
                details={"estimator": name, "parameter": "memory"},
            )


def _final_step(estimator):
    steps = getattr(estimator, "steps", None)
    return steps[-1][1] if steps else estimator


def _model_type(estimator) -> str:
    from sklearn.base import is_classifier, is_regressor

    final = _final_step(estimator)
    if is_classifier(estimator) and hasattr(final, "classes_"):
        return "classification"
    if is_regressor(estimator):
        return "regression"
    if getattr(final, "_estimator_type", None) == "clusterer" or type(final).__name__ in ("KMeans", "MiniBatchKMeans"):
        return "clustering"
    try:
        from sklearn.base import ClusterMixin

        if isinstance(final, ClusterMixin):
            return "clustering"
    except ImportError:
        pass
    return "other"


def _algorithm(estimator) -> tuple[str, list[str]]:
    steps = getattr(estimator, "steps", None)
    if not steps:
        return type(estimator).__name__, []
    names = []
    for _, step in steps:
        if step == "passthrough" or step is None:
            continue
        names.append(type(step).__name__)
    return f"{names[-1]} (Pipeline: {' → '.join(names)})", names


def _categorical_columns(estimator, feature_names: list[str]) -> dict[str, list]:
    """Columns that an encoder inside the model turns into categories, with the categories it knows."""
    first = estimator.steps[0][1] if getattr(estimator, "steps", None) else estimator
    found: dict[str, list] = {}
    transformers = getattr(first, "transformers_", None)
    if transformers is None:
        return found
    indices = getattr(first, "_transformer_to_input_indices", {})
    for name, transformer, columns in transformers:
        encoders = [transformer]
        if hasattr(transformer, "steps"):
            encoders = [s for _, s in transformer.steps]
        encoder = next((e for e in encoders if type(e).__name__ in ENCODERS and hasattr(e, "categories_")), None)
        if encoder is None:
            continue
        cols = [feature_names[i] for i in indices.get(name, [])] or [c for c in np.atleast_1d(columns) if isinstance(c, str)]
        for col, cats in zip(cols, encoder.categories_):
            found[col] = [python_scalar(c) for c in cats if not (isinstance(c, float) and np.isnan(c))]
    return found


def _takes_text(estimator) -> bool:
    first = estimator.steps[0][1] if getattr(estimator, "steps", None) else estimator
    return type(first).__name__ in TEXT_VECTORIZERS


def _input_fields(estimator) -> list[Field]:
    if _takes_text(estimator):
        return [Field(name=TEXT_INPUT, type="string", optype="text", description="one text per row")]
    names = getattr(estimator, "feature_names_in_", None)
    if names is not None:
        names = [str(n) for n in names]
    else:
        n = getattr(estimator, "n_features_in_", None)
        if n is None:
            raise InvalidModel(
                "Cannot tell how many input features this model takes (no n_features_in_ or feature_names_in_)."
            )
        names = [f"x{i}" for i in range(int(n))]
    categorical = _categorical_columns(estimator, names)
    fields = []
    for name in names:
        if name in categorical:
            values = categorical[name]
            kind = "string" if any(isinstance(v, str) for v in values) else "integer" if all(
                isinstance(v, int) for v in values
            ) else "double"
            fields.append(Field(name=name, type=kind, optype="categorical", values=values))
        else:
            fields.append(Field(name=name, type="double"))
    return fields


def _label_type(classes) -> str:
    if all(isinstance(c, bool) for c in classes):
        return "boolean"
    if all(isinstance(c, int) for c in classes):
        return "integer"
    if all(isinstance(c, (int, float)) for c in classes):
        return "double"
    return "string"


def inspect(path: Path, fmt: str) -> tuple[ModelInfo, "SklearnPredictor"]:
    import sklearn

    estimator, notes = _load_estimator(path, fmt)
    model_type = _model_type(estimator)
    algorithm, steps = _algorithm(estimator)
    inputs = _input_fields(estimator)
    classes = None
    if model_type == "classification":
        classes = [python_scalar(c) for c in _final_step(estimator).classes_]
        outputs = class_output_fields(classes, _label_type(classes))
    elif model_type == "clustering":
        n = getattr(_final_step(estimator), "n_clusters", None)
        outputs = [
            Field(
                name="cluster",
                type="integer",
                optype="categorical",
                values=list(range(n)) if isinstance(n, int) else None,
                role="cluster",
            )
        ]
    else:
        outputs = [Field(name="prediction", type="double", role="value")]
    details = {"steps": steps, "estimator": type(_final_step(estimator)).__name__}
    if _takes_text(estimator):
        details["text_input"] = True
    if notes:
        details["warnings"] = notes
    info = ModelInfo(
        format=fmt,
        model_type=model_type,
        algorithm=algorithm,
        engine="scikit-learn",
        engine_version=sklearn.__version__,
        inputs=inputs,
        outputs=outputs,
        classes=classes,
        details=details,
    )
    return info, SklearnPredictor(estimator, info)


# Classifiers whose predict() is exactly the most probable class of predict_proba():
# one call gives both (the equality tests hold us to it).
ARGMAX_CLASSIFIERS = {
    "LogisticRegression",
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "DecisionTreeClassifier",
    "ExtraTreeClassifier",
    "GradientBoostingClassifier",
    "HistGradientBoostingClassifier",
    "GaussianNB",
    "MultinomialNB",
    "BernoulliNB",
    "ComplementNB",
    "MLPClassifier",
}
# A model fitted on a DataFrame but given the same columns as an array works the
# same; scikit-learn just warns, on every call.
warnings.filterwarnings("ignore", message="X does not have valid feature names", category=UserWarning)


FORESTS = {"RandomForestClassifier", "ExtraTreesClassifier", "RandomForestRegressor", "ExtraTreesRegressor"}


def forest_average(forest, X: np.ndarray, classify: bool) -> np.ndarray:
    """What a forest's predict_proba / predict computes (the mean over its trees, added up in
    the same order), without joblib's dispatch per tree: about 5x faster on a single row."""
    X = np.ascontiguousarray(X, dtype=np.float32)  # the trees' own dtype, as sklearn converts it
    trees = forest.estimators_
    total = np.zeros((X.shape[0], forest.n_classes_) if classify else X.shape[0], dtype=np.float64)
    for tree in trees:
        total += tree.predict_proba(X, check_input=False) if classify else tree.predict(X, check_input=False)
    total /= len(trees)
    return total


# Below this many columns numpy adds a row's values one after another (its pairwise sum
# starts at 8), so adding whole columns in order gives the same bits.
SEQUENTIAL_COLUMNS = 8


def row_reduce(values: np.ndarray, ufunc) -> np.ndarray:
    """ufunc.reduce(values, axis=1, keepdims=True) for a (rows, classes) array, computed a
    column at a time when there are few classes: numpy's reduction along a short last axis
    pays its loop overhead per row (10,000 rows x 3 classes: 450 µs for max, 20 µs this
    way); the values, and their order of addition, are the same."""
    columns = values.shape[1]
    if columns >= SEQUENTIAL_COLUMNS or columns == 0 or values.shape[0] < 2 * columns:
        return ufunc.reduce(values, axis=1, keepdims=True)
    result = values[:, 0:1].copy()
    for j in range(1, columns):
        ufunc(result, values[:, j : j + 1], out=result)
    return result


def row_argmax(values: np.ndarray) -> np.ndarray:
    """values.argmax(axis=1) for NaN-free (rows, classes) values, a column at a time (the
    first of equal maxima, as argmax); numpy's argmax along a short axis is slow per row."""
    columns = values.shape[1]
    if columns >= SEQUENTIAL_COLUMNS or columns == 0 or values.shape[0] < 2 * columns:
        return values.argmax(axis=1)
    best = values[:, 0].copy()
    index = np.zeros(values.shape[0], dtype=np.intp)
    for j in range(1, columns):
        column = values[:, j]
        higher = column > best
        index[higher] = j
        np.maximum(best, column, out=best)
    return index


class LinearProba:
    """A LogisticRegression's predict_proba as scikit-learn computes it, without its input
    checks, which take most of a single row's time: the scores, then a softmax
    (multinomial) or the logistic function normalised per row (two classes, one-vs-rest).
    Built only when one of the two gives scikit-learn's own answer on probe rows; rows with
    NaN or infinity go to scikit-learn, to get its error."""

    PROBE_ROWS = 64

    def __init__(self, model, softmax: bool):
        from scipy.special import expit  # scikit-learn's own logistic function

        self.expit = expit
        self.coef_t = np.ascontiguousarray(np.asarray(model.coef_, dtype=np.float64).T)
        self.intercept = np.asarray(model.intercept_, dtype=np.float64)
        self.softmax = softmax

    def __call__(self, X: np.ndarray) -> np.ndarray:
        scores = X @ self.coef_t
        scores += self.intercept
        if self.softmax:
            scores -= row_reduce(scores, np.maximum)
            np.exp(scores, out=scores)
        else:
            self.expit(scores, out=scores)
            if scores.shape[1] == 1:
                return np.hstack([1 - scores, scores])
        scores /= row_reduce(scores, np.add)
        return scores

    @classmethod
    def verified(cls, model) -> "LinearProba | None":
        if type(model).__name__ != "LogisticRegression" or not hasattr(model, "coef_"):
            return None
        rows = np.random.default_rng(0).normal(0.0, 3.0, (cls.PROBE_ROWS, np.asarray(model.coef_).shape[1]))
        try:
            expected = model.predict_proba(rows)
        except Exception:  # noqa: BLE001  (the shortcut is only an optimisation)
            return None
        for softmax in (True, False):
            shortcut = cls(model, softmax)
            got = shortcut(rows)
            if got.shape == expected.shape and np.allclose(got, expected, rtol=1e-12, atol=1e-15):
                return shortcut
        return None


def _selects_columns_by_name(estimator) -> bool:
    steps = [s for _, s in getattr(estimator, "steps", [])] or [estimator]
    return any(hasattr(step, "transformers_") for step in steps)


class SklearnPredictor:
    def __init__(self, estimator, info: ModelInfo):
        self.estimator = estimator
        self.model_type = info.model_type
        self.names = [f.name for f in info.inputs]
        self.text = bool(info.details.get("text_input"))
        numeric = all(f.type in ("float", "double", "integer") for f in info.inputs)
        # A DataFrame only where the model needs one: columns picked by name, or text columns.
        self.use_frame = getattr(estimator, "feature_names_in_", None) is not None and (
            not numeric or _selects_columns_by_name(estimator)
        )
        self.classes = list(info.classes) if info.classes is not None else None
        self.has_proba = hasattr(estimator, "predict_proba")
        final = _final_step(estimator)
        self.labels_from_proba = self.has_proba and type(final).__name__ in ARGMAX_CLASSIFIERS
        self.class_array = np.asarray(final.classes_) if hasattr(final, "classes_") else None
        self.forest = (
            estimator
            if type(estimator).__name__ in FORESTS and getattr(estimator, "n_outputs_", 1) == 1 and not self.use_frame
            else None
        )
        self.linear = LinearProba.verified(estimator) if self.labels_from_proba and not self.use_frame and not self.text else None

    def _features(self, batch: Batch):
        if self.text:
            return batch.columns[TEXT_INPUT].astype(str).tolist()
        return batch.frame(self.names) if self.use_frame else batch.matrix(self.names)

    def predict(self, batch: Batch) -> Prediction:
        X = self._features(batch)
        if self.forest is not None:
            if self.model_type == "classification":
                proba = forest_average(self.forest, X, classify=True)
                return Prediction(predictions=self.class_array[proba.argmax(axis=1)], probabilities=proba, classes=self.classes)
            return Prediction(predictions=forest_average(self.forest, X, classify=False))
        if self.model_type == "classification":
            if self.labels_from_proba:
                finite = self.linear is not None and not self.text and np.isfinite(X).all()
                proba = self.linear(X) if finite else self.estimator.predict_proba(X)
                labels = self.class_array[row_argmax(proba) if finite else proba.argmax(axis=1)]
                return Prediction(predictions=labels, probabilities=proba, classes=self.classes)
            labels = [python_scalar(v) for v in self.estimator.predict(X)]
            proba = self.estimator.predict_proba(X) if self.has_proba else None
            return Prediction(predictions=labels, probabilities=proba, classes=self.classes)
        values = np.asarray(self.estimator.predict(X))
        return Prediction(predictions=values if values.ndim == 1 else values.tolist())


def load(path: Path, info: ModelInfo) -> SklearnPredictor:
    estimator, _ = _load_estimator(path, info.format)
    return SklearnPredictor(estimator, info)
