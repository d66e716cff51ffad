"""Writes the sklearn2pmml_*.pmml files of this folder with the real exporter.

sklearn2pmml 0.133.1 (its JPMML-SkLearn) refuses scikit-learn 1.9.1, which mlserve pins,
so the files are made once in a side environment and committed; the tests train the
same models with the project's own scikit-learn and XGBoost and compare the answers.

    python3.11 -m venv /tmp/s2p && /tmp/s2p/bin/pip install scikit-learn==1.9.0 \
        sklearn2pmml==0.133.1 xgboost-cpu==3.2.0 pandas
    /tmp/s2p/bin/python tests/data/pmml/make_sklearn2pmml.py     # needs java on PATH
"""

from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeClassifier
from sklearn2pmml import sklearn2pmml
from sklearn2pmml.pipeline import PMMLPipeline

HERE = Path(__file__).parent
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def main() -> None:
    data = load_iris(as_frame=True)
    X = data.data.set_axis(IRIS_COLUMNS, axis=1)
    species = pd.Series(np.array(data.target_names)[data.target], name="species")
    tree = PMMLPipeline([("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]).fit(X, species)
    sklearn2pmml(tree, str(HERE / "sklearn2pmml_iris_tree.pmml"))
    booster = PMMLPipeline([("xgb", xgb.XGBClassifier(n_estimators=10, max_depth=2))]).fit(X, pd.Series(data.target, name="species"))
    sklearn2pmml(booster, str(HERE / "sklearn2pmml_iris_xgboost.pmml"))
    Xd, yd = load_diabetes(return_X_y=True, as_frame=True)
    linear = PMMLPipeline([("linear", LinearRegression())]).fit(Xd, yd.rename("progression"))
    sklearn2pmml(linear, str(HERE / "sklearn2pmml_diabetes_linear.pmml"))


if __name__ == "__main__":
    main()
