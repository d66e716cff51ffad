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


def _onnx_named_input(model, path: Path) -> None:
    """The digits classifier with its flat [N, 64] input named "image", as an image model's would be."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    onx = convert_sklearn(model, initial_types=[("image", FloatTensorType([None, 64]))], options={id(model): {"zipmap": False}},
                          target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())


def _onnx_mixed(model, path: Path) -> None:
    """One ONNX input per column (numbers and strings), as skl2onnx makes from a DataFrame."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    types = [(c, FloatTensorType([None, 1])) for c in ["age", "bmi", "bp", "s5"]]
    types += [(c, StringTensorType([None, 1])) for c in ["sex", "bmi_band"]]
    onx = convert_sklearn(model, initial_types=types, target_opset={"": 17, "ai.onnx.ml": 3})
    path.write_bytes(onx.SerializeToString())


def mixed_categorical_frame() -> tuple[pd.DataFrame, np.ndarray]:
    """The mixed frame with its text columns as pandas categories, as LightGBM is trained on them."""
    X, y = mixed_frame()
    return X.astype({"sex": "category", "bmi_band": "category"}), y


def _lightgbm_models() -> dict:
    import lightgbm as lgb

    common = {"n_estimators": 20, "num_leaves": 7, "min_child_samples": 5, "verbose": -1, "n_jobs": 1}
    X, y = iris_frame()
    Xc, yc = breast_cancer_frame()
    Xm, ym = mixed_categorical_frame()
    return {
        "iris_lgbm": lgb.LGBMClassifier(**common).fit(X, y).booster_,
        "cancer_lgbm": lgb.LGBMClassifier(**common).fit(Xc, yc).booster_,
        "mixed_lgbm": lgb.LGBMRegressor(**common).fit(Xm, ym).booster_,
        # fitted on an array: the booster names its features Column_0 ... (an MLflow signature knows better)
        "cancer_lgbm_unnamed": lgb.LGBMClassifier(**common).fit(Xc.to_numpy(), yc).booster_,
    }


def iris_species() -> np.ndarray:
    _, y = iris_frame()
    return np.array(["setosa", "versicolor", "virginica"])[y]


def _catboost_models() -> dict:
    from catboost import CatBoostClassifier, CatBoostRegressor

    common = {"iterations": 20, "depth": 3, "verbose": False, "thread_count": 1, "random_seed": 0, "allow_writing_files": False}
    X, _ = iris_frame()
    Xc, yc = breast_cancer_frame()
    Xm, ym = mixed_frame()
    return {
        "iris_catboost": CatBoostClassifier(**common).fit(X, iris_species()),
        "cancer_catboost": CatBoostClassifier(**common).fit(Xc, yc),
        "mixed_catboost": CatBoostRegressor(**common, cat_features=["sex", "bmi_band"]).fit(Xm, ym),
    }


def digits_mlp():
    from sklearn.neural_network import MLPClassifier

    X, y = digits_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few iterations short of convergence is fine here
        return MLPClassifier(hidden_layer_sizes=(32,), max_iter=200, random_state=0).fit(X, y)


def text_pipeline():
    from sklearn.feature_extraction.text import TfidfVectorizer

    return Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression(max_iter=1000))]).fit(TEXTS, TEXT_LABELS)


TEXTS = [
    "great movie, loved it",
    "terrible plot and awful acting",
    "wonderful, fun from start to end",
    "boring and bad",
    "loved the music and the cast",
    "an awful waste of time",
    "a great cast and a fun story",
    "bad, boring, terrible",
]
TEXT_LABELS = ["positive", "negative", "positive", "negative", "positive", "negative", "positive", "negative"]


def _softmax_onnx(path: Path, metadata: dict | None = None) -> None:
    """A tiny network whose only output is a softmax over 3 classes (no label output)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weights = np.array([[1.0, -1.0, 0.0], [0.5, 0.5, -1.0], [-1.0, 0.0, 1.0], [0.0, 1.0, 0.5]], dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["features", "W"], ["scores"]), helper.make_node("Softmax", ["scores"], ["output"], axis=1)],
        "softmax",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(weights, "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="hand-made")
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())


def _with_image_denotation(source: Path, path: Path) -> None:
    """The same model, its input marked as an image the ONNX way (type denotation IMAGE)."""
    import onnx

    model = onnx.load(str(source))
    model.graph.input[0].type.denotation = "IMAGE"
    path.write_bytes(model.SerializeToString())


# ---- MLflow model directories, zipped (MLmodel written as MLflow writes it) ----------


def _signature(columns: list[tuple[str, str]] | None = None, tensor: tuple[str, list] | None = None, output: str = "long") -> dict:
    if tensor is not None:
        dtype, shape = tensor
        inputs = [{"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": shape}}]
    else:
        inputs = [{"type": kind, "name": name, "required": True} for name, kind in columns]
    return {"inputs": json.dumps(inputs), "outputs": json.dumps([{"type": output, "required": True}]), "params": None}


def mlflow_zip(path: Path, *, flavor: str, flavor_conf: dict, artifact: tuple[str, bytes], signature: dict | None = None,
               example: dict | None = None, serving_example: dict | None = None, folder: str = "", pyfunc: bool = True) -> None:
    """A zipped MLflow model directory: MLmodel, the flavor's artifact, and the input example files."""
    import zipfile

    import yaml

    name, data = artifact
    flavors = {}
    if pyfunc:
        flavors["python_function"] = {
            "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
            "loader_module": "mlflow.pyfunc.model" if flavor == "python_function" else f"mlflow.{flavor}",
            "python_version": "3.11.7",
            **({"python_model": name} if flavor == "python_function" else {"model_path": name}),
        }
    if flavor != "python_function":
        flavors[flavor] = {"code": None, **flavor_conf}
    document = {
        "artifact_path": "model",
        "flavors": flavors,
        "mlflow_version": "2.16.2",
        "model_size_bytes": len(data),
        "model_uuid": "5b0d5f1c0c9c4a3e9e6a0f4d2b1f6c7e",
        "run_id": "9a8b7c6d5e4f40312a1b2c3d4e5f6a7b",
        "utc_time_created": "2026-11-30 09:41:12.482011",
    }
    if signature:
        document["signature"] = signature
    files = {name: data, "conda.yaml": b"name: mlflow-env\n", "python_env.yaml": b"python: 3.11.7\n",
             "requirements.txt": b"mlflow==2.16.2\n"}
    if example is not None:
        info = {"artifact_path": "input_example.json", "type": "dataframe" if "columns" in example else "ndarray"}
        if "columns" in example:
            info["pandas_orient"] = "split"
        if serving_example is not None:
            info["serving_input_path"] = "serving_input_example.json"
            files["serving_input_example.json"] = json.dumps(serving_example).encode()
        document["saved_input_example_info"] = info
        files["input_example.json"] = json.dumps(example).encode()
    files["MLmodel"] = yaml.safe_dump(document, sort_keys=True).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if folder:
            archive.writestr(zipfile.ZipInfo(folder + "/"), b"")
        for member, content in files.items():
            archive.writestr(f"{folder}/{member}" if folder else member, content)


def _mlflow_models(out, xgb_models: dict, lgb_models: dict, cb_models: dict, folder: Path) -> None:
    import pickle

    import cloudpickle

    X, y = iris_frame()
    rows = X.iloc[[0, 50, 100]]
    split = {"columns": IRIS_COLUMNS, "data": rows.to_numpy().tolist()}
    iris_signature = _signature([(c, "double") for c in IRIS_COLUMNS])
    # scikit-learn fitted on an array: the pickle knows no column names, the signature does
    unnamed = LogisticRegression(max_iter=1000).fit(X.to_numpy(), y)
    mlflow_zip(out("iris_mlflow_sklearn.zip"), flavor="sklearn",
               flavor_conf={"pickled_model": "model.pkl", "serialization_format": "cloudpickle", "sklearn_version": "1.9.1"},
               artifact=("model.pkl", cloudpickle.dumps(unnamed)), signature=iris_signature, example=split,
               serving_example={"dataframe_split": split})
    skops_bytes = (folder / "iris_logreg.skops").read_bytes()
    mlflow_zip(out("iris_mlflow_skops.zip"), flavor="sklearn",
               flavor_conf={"pickled_model": "model.skops", "serialization_format": "skops", "sklearn_version": "1.9.1"},
               artifact=("model.skops", skops_bytes), signature=iris_signature, example=split, folder="model")
    xgb_path = folder / "iris_mlflow_model.xgb"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Saving model in the UBJSON format as default": as MLflow gets it
        xgb_models["iris_xgb"].save_model(str(xgb_path))
    mlflow_zip(out("iris_mlflow_xgboost.zip"), flavor="xgboost",
               flavor_conf={"data": "model.xgb", "model_class": "xgboost.sklearn.XGBClassifier", "model_format": "xgb", "xgb_version": "3.2.0"},
               artifact=("model.xgb", xgb_path.read_bytes()), signature=iris_signature, example=split)
    xgb_path.unlink()
    Xc, _ = breast_cancer_frame()
    cancer_rows = Xc.iloc[[0, 19, 568]]
    mlflow_zip(out("cancer_mlflow_lightgbm.zip"), flavor="lightgbm",
               flavor_conf={"data": "model.lgb", "lgb_version": "4.7.0", "model_class": "lightgbm.basic.Booster"},
               artifact=("model.lgb", lgb_models["cancer_lgbm_unnamed"].model_to_string().encode()),
               signature=_signature([(c, "double") for c in Xc.columns]),
               example={"columns": list(Xc.columns), "data": cancer_rows.to_numpy().tolist()})
    cb_path = folder / "iris_mlflow_model.cb"
    cb_models["iris_catboost"].save_model(str(cb_path), format="cbm")
    mlflow_zip(out("iris_mlflow_catboost.zip"), flavor="catboost",
               flavor_conf={"catboost_version": "1.2.10", "data": "model.cb", "model_type": "CatBoostClassifier", "save_format": "cbm"},
               artifact=("model.cb", cb_path.read_bytes()), signature=_signature([(c, "double") for c in IRIS_COLUMNS], output="string"),
               example=split)
    cb_path.unlink()
    mlflow_zip(out("iris_mlflow_onnx.zip"), flavor="onnx",
               flavor_conf={"data": "model.onnx", "onnx_version": "1.23.2", "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]},
               artifact=("model.onnx", (folder / "iris_logreg.onnx").read_bytes()),
               signature=_signature(tensor=("float32", [-1, 4])), example={"inputs": rows.to_numpy().tolist()},
               serving_example={"inputs": rows.to_numpy().tolist()})
    mlflow_zip(out("mlflow_pyfunc_only.zip"), flavor="python_function", flavor_conf={}, pyfunc=True,
               artifact=("python_model.pkl", pickle.dumps({"not": "a model"})))


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

    xgb_models = _xgb_models()
    for name, model in xgb_models.items():
        model.save_model(out(f"{name}.json"))
        model.save_model(out(f"{name}.ubj"))

    lgb_models = _lightgbm_models()
    for name, booster in lgb_models.items():
        booster.save_model(str(out(f"{name}.txt")))
    for name in ("iris_lgbm", "mixed_lgbm"):
        out(f"{name}_dump.json").write_text(json.dumps(lgb_models[name].dump_model()))
    cb_models = _catboost_models()
    for name, model in cb_models.items():
        model.save_model(str(out(f"{name}.cbm")), format="cbm")
    sio.dump(text_pipeline(), out("text_sentiment.skops"))

    _onnx(logreg, X_iris.to_numpy(np.float32)[:1], out("iris_logreg.onnx"))
    _onnx(logreg, X_iris.to_numpy(np.float32)[:1], out("iris_logreg_nozipmap.onnx"), zipmap=False)
    _onnx(forest, X_cancer.to_numpy(np.float32)[:1], out("cancer_forest.onnx"))
    _onnx(diabetes_linear(), diabetes_frame()[0].to_numpy(np.float32)[:1], out("diabetes_linear.onnx"))
    _onnx(digits, digits_data()[0][:1], out("digits_logreg.onnx"), zipmap=False)
    _onnx(digits_mlp(), digits_data()[0][:1], out("digits_mlp.onnx"), zipmap=False)
    _onnx_named_input(digits, out("digits_image_input.onnx"))
    _with_image_denotation(files["digits_logreg.onnx"], out("digits_denoted_image.onnx"))
    _softmax_onnx(out("softmax_scores.onnx"))
    _softmax_onnx(out("softmax_named_classes.onnx"), {"classes": json.dumps(["cat", "dog", "bird"])})
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

    _mlflow_models(out, xgb_models, lgb_models, cb_models, folder)

    (folder / "manifest.json").write_text(json.dumps(sorted(files)))
    return files
