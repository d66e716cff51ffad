"""Model artifacts for the tests, trained at test time from scikit-learn's bundled data sets.

Each builder writes one file into a folder and returns its path. `build_all`
makes them all once per test session (shared by the xdist workers through a lock).
"""

import json
import shutil
import warnings
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import skops.io as sio
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

PMML_DIR = Path(__file__).parent / "data" / "pmml"
IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS_ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def iris_frame() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_iris(return_X_y=True)
    return pd.DataFrame(X, columns=IRIS_COLUMNS), y


def breast_cancer_frame() -> tuple[pd.DataFrame, np.ndarray]:
    data = load_breast_cancer()
    names = [n.replace(" ", "_") for n in data.feature_names]
    return pd.DataFrame(data.data, columns=names), data.target


def diabetes_frame() -> tuple[pd.DataFrame, np.ndarray]:
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    return X, y.to_numpy()


def mixed_frame() -> tuple[pd.DataFrame, np.ndarray]:
    """Diabetes with two columns made categorical: the ColumnTransformer pipeline's data."""
    X, y = diabetes_frame()
    frame = X[["age", "bmi", "bp", "s5"]].copy()
    frame["sex"] = np.where(X["sex"] > 0, "male", "female")
    frame["bmi_band"] = pd.cut(X["bmi"], bins=[-1, -0.03, 0.03, 1], labels=["low", "mid", "high"]).astype(str)
    return frame, y


def digits_data() -> tuple[np.ndarray, np.ndarray]:
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


# ---- estimators -------------------------------------------------------------------


def iris_logreg():
    X, y = iris_frame()
    return LogisticRegression(max_iter=1000).fit(X, y)


def cancer_forest():
    X, y = breast_cancer_frame()
    return RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(X, y)


def iris_gboost():
    X, y = iris_frame()
    return GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X, y)


def mixed_pipeline():
    X, y = mixed_frame()
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), ["age", "bmi", "bp", "s5"]),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["sex", "bmi_band"]),
        ]
    )
    return Pipeline([("prep", prep), ("model", Ridge(alpha=1.0))]).fit(X, y)


def diabetes_linear():
    X, y = diabetes_frame()
    return LinearRegression().fit(X.to_numpy(), y)


def iris_kmeans():
    X, _ = iris_frame()
    return KMeans(n_clusters=3, n_init=3, random_state=0).fit(X)


def digits_logreg():
    X, y = digits_data()
    return LogisticRegression(max_iter=2000).fit(X, y)


# ---- writers ----------------------------------------------------------------------


def _xgb_models():
    import xgboost as xgb

    X, y = iris_frame()
    iris_clf = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X, y)
    Xc, yc = breast_cancer_frame()
    cancer_clf = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(Xc, yc)
    Xd, yd = diabetes_frame()
    diabetes_reg = xgb.XGBRegressor(n_estimators=30, max_depth=3).fit(Xd, yd)
    return {"iris_xgb": iris_clf, "cancer_xgb": cancer_clf, "diabetes_xgb": diabetes_reg}


def _onnx(model, X, path: Path, zipmap: bool = True) -> None:
    from skl2onnx import to_onnx

    options = None if zipmap else {id(model): {"zipmap": False}}
    onx = to_onnx(model, X, options=options, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())


def _onnx_mixed(model, path: Path) -> None:
    """One ONNX input per column (numbers and strings), as skl2onnx makes from a DataFrame."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [(c, FloatTensorType([None, 1])) for c in ["age", "bmi", "bp", "s5"]]
    types += [(c, StringTensorType([None, 1])) for c in ["sex", "bmi_band"]]
    onx = convert_sklearn(model, initial_types=types, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())


def _pmml(pipeline, columns, target, path: Path) -> None:
    from nyoka import skl_to_pmml

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        skl_to_pmml(pipeline, list(columns), target, str(path))


def build_all(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}

    def out(name: str) -> Path:
        files[name] = folder / name
        return files[name]

    X_iris, y_iris = iris_frame()
    X_cancer, _ = breast_cancer_frame()

    logreg = iris_logreg()
    forest = cancer_forest()
    gboost = iris_gboost()
    mixed = mixed_pipeline()
    kmeans = iris_kmeans()
    digits = digits_logreg()

    sio.dump(logreg, out("iris_logreg.skops"))
    sio.dump(forest, out("cancer_forest.skops"))
    sio.dump(gboost, out("iris_gboost.skops"))
    sio.dump(mixed, out("mixed_pipeline.skops"))
    sio.dump(kmeans, out("iris_kmeans.skops"))
    joblib.dump(logreg, out("iris_logreg.joblib"))
    joblib.dump(logreg, out("iris_logreg.pkl"))

    for name, model in _xgb_models().items():
        model.save_model(out(f"{name}.json"))
        model.save_model(out(f"{name}.ubj"))

    _onnx(logreg, X_iris.to_numpy(np.float32)[:1], out("iris_logreg.onnx"))
    _onnx(logreg, X_iris.to_numpy(np.float32)[:1], out("iris_logreg_nozipmap.onnx"), zipmap=False)
    _onnx(forest, X_cancer.to_numpy(np.float32)[:1], out("cancer_forest.onnx"))
    _onnx(diabetes_linear(), diabetes_frame()[0].to_numpy(np.float32)[:1], out("diabetes_linear.onnx"))
    _onnx(digits, digits_data()[0][:1], out("digits_logreg.onnx"), zipmap=False)
    _onnx_mixed(mixed, out("mixed_pipeline.onnx"))

    _pmml(Pipeline([("scale", StandardScaler()), ("lr", LogisticRegression(max_iter=1000))]).fit(X_iris, y_iris),
          IRIS_COLUMNS, "species", out("iris_logreg_nyoka.pmml"))
    from sklearn.tree import DecisionTreeClassifier

    _pmml(Pipeline([("tree", DecisionTreeClassifier(max_depth=3, random_state=0))]).fit(X_iris, y_iris),
          IRIS_COLUMNS, "species", out("iris_tree_nyoka.pmml"))
    _pmml(Pipeline([("rf", RandomForestClassifier(n_estimators=5, max_depth=3, random_state=0))]).fit(X_iris, y_iris),
          IRIS_COLUMNS, "species", out("iris_forest_nyoka.pmml"))
    Xd, yd = diabetes_frame()
    _pmml(Pipeline([("lin", LinearRegression())]).fit(Xd, yd), list(Xd.columns), "progression",
          out("diabetes_linear_nyoka.pmml"))
    for source in sorted(PMML_DIR.glob("*.pmml")):
        shutil.copy(source, out(source.name))

    (folder / "manifest.json").write_text(json.dumps(sorted(files)))
    return files
