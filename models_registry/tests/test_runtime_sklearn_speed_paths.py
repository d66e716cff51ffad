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
    assert answer.predictions == forest.predict(X).tolist()
    assert np.array_equal(answer.probabilities, forest.predict_proba(X))
