"""The shortcuts on scikit-learn's hot path give exactly what scikit-learn gives."""

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import ExtraTreesClassifier, RandomForestClassifier, RandomForestRegressor

from models_registry.runtimes import Batch
from models_registry.runtimes.sklearn import SklearnPredictor, forest_average, inspect


@pytest.mark.parametrize("forest_class", [RandomForestClassifier, ExtraTreesClassifier])
def test_forest_average_is_bit_identical_to_predict_proba(forest_class):
    X, y = load_breast_cancer(return_X_y=True)
    forest = forest_class(n_estimators=30, random_state=0).fit(X, y)
    rows = X[np.random.default_rng(0).integers(0, len(X), 500)]
    assert np.array_equal(forest_average(forest, rows, classify=True), forest.predict_proba(rows))
    assert np.array_equal(forest.classes_[forest_average(forest, rows, classify=True).argmax(axis=1)], forest.predict(rows))


def test_forest_average_is_bit_identical_to_a_regressors_predict():
    X, y = load_diabetes(return_X_y=True)
    forest = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    assert np.array_equal(forest_average(forest, X, classify=False), forest.predict(X))


def test_the_predictor_answers_as_scikit_learn_on_a_frame_fitted_forest(tmp_path):
    import skops.io as sio

    data = load_breast_cancer()
    X = pd.DataFrame(data.data, columns=[n.replace(" ", "_") for n in data.feature_names])
    forest = RandomForestClassifier(n_estimators=25, random_state=1).fit(X, data.target)
    path = tmp_path / "forest.skops"
    sio.dump(forest, path)
    info, predictor = inspect(path, "skops")
    assert isinstance(predictor, SklearnPredictor) and predictor.forest is not None
    batch = Batch(columns={c: X[c].to_numpy() for c in X.columns}, n_rows=len(X))
    answer = predictor.predict(batch)
    assert np.asarray(answer.predictions).tolist() == forest.predict(X).tolist()
    assert np.array_equal(answer.probabilities, forest.predict_proba(X))


def _logistic_cases():
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    iris_X, iris_y = load_iris(return_X_y=True)
    cancer_X, cancer_y = load_breast_cancer(return_X_y=True)
    return {
        "multinomial": (LogisticRegression(max_iter=500).fit(iris_X, iris_y), iris_X),
        "string labels": (LogisticRegression(max_iter=500).fit(iris_X, np.array(["a", "b", "c"])[iris_y]), iris_X),
        "binary": (LogisticRegression(max_iter=5000).fit(cancer_X, cancer_y), cancer_X),
        "binary liblinear": (LogisticRegression(solver="liblinear").fit(cancer_X, cancer_y), cancer_X),
    }


@pytest.mark.parametrize("case", ["multinomial", "string labels", "binary", "binary liblinear"])
def test_linear_proba_is_bit_identical_to_a_logistic_regressions_predict_proba(case, tmp_path):
    import skops.io as sio

    from models_registry.runtimes.sklearn import LinearProba

    model, X = _logistic_cases()[case]
    shortcut = LinearProba.verified(model)
    assert shortcut is not None
    assert np.array_equal(shortcut(X), model.predict_proba(X))
    assert all(np.array_equal(shortcut(X[i : i + 1]), model.predict_proba(X[i : i + 1])) for i in range(0, len(X), 7))
    # and through the predictor, as a deployment calls it
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    info, predictor = inspect(path, "skops")
    assert predictor.linear is not None
    names = [f.name for f in info.inputs]
    answer = predictor.predict(Batch(columns={n: X[:, i] for i, n in enumerate(names)}, n_rows=len(X)))
    assert np.asarray(answer.predictions).tolist() == model.predict(X).tolist()
    assert np.array_equal(answer.probabilities, model.predict_proba(X))


def test_rows_with_nan_still_get_scikit_learns_error(tmp_path):
    import skops.io as sio

    model, X = _logistic_cases()["multinomial"]
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    info, predictor = inspect(path, "skops")
    columns = {f.name: X[:3, i].copy() for i, f in enumerate(info.inputs)}
    columns[info.inputs[0].name][1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        predictor.predict(Batch(columns=columns, n_rows=3))


def test_no_shortcut_unless_it_matches_scikit_learn():
    from models_registry.runtimes.sklearn import LinearProba

    model, _ = _logistic_cases()["multinomial"]
    model.predict_proba = lambda rows: np.full((len(rows), 3), 1 / 3)  # a scikit-learn that computes otherwise
    assert LinearProba.verified(model) is None


@pytest.mark.parametrize("classes", [1, 2, 3, 7, 8, 12])
def test_column_wise_row_reductions_give_numpys_bits_and_first_maxima(classes):
    from models_registry.runtimes.sklearn import row_argmax, row_reduce

    values = np.random.default_rng(classes).normal(size=(5000, classes))
    assert np.array_equal(row_reduce(values, np.add), values.sum(axis=1, keepdims=True))
    assert np.array_equal(row_reduce(values, np.maximum), values.max(axis=1, keepdims=True))
    assert np.array_equal(row_argmax(values), values.argmax(axis=1))
    ties = np.round(values)
    assert np.array_equal(row_argmax(ties), ties.argmax(axis=1))
    assert np.array_equal(row_argmax(values[:1]), values[:1].argmax(axis=1))


def test_linear_proba_on_ten_thousand_rows_is_bit_identical_to_predict_proba():
    from models_registry.runtimes.sklearn import LinearProba, row_argmax

    model, X = _logistic_cases()["multinomial"]
    rows = np.random.default_rng(3).normal(5.0, 3.0, (10_000, X.shape[1]))
    shortcut = LinearProba.verified(model)
    assert np.array_equal(shortcut(rows), model.predict_proba(rows))
    assert np.array_equal(model.classes_[row_argmax(shortcut(rows))], model.predict(rows))
