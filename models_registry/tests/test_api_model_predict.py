"""POST /api/v1/models/{name}/predict answers what the model's own library answers,
for every fixture model and every body format."""

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests import model_files as mf


def iris_rows():
    X, _ = mf.iris_frame()
    return X.iloc[[0, 1, 50, 51, 100, 101, 149]].reset_index(drop=True)


def cancer_rows():
    X, _ = mf.breast_cancer_frame()
    return X.iloc[[0, 1, 19, 20, 568]].reset_index(drop=True)


def diabetes_rows():
    X, _ = mf.diabetes_frame()
    return X.iloc[:5].reset_index(drop=True)


def mixed_rows():
    X, _ = mf.mixed_frame()
    return X.iloc[:6].reset_index(drop=True)


def tree_rows():
    return pd.DataFrame({"petal_length": [1.4, 4.5, 5.9, 2.45], "petal_width": [0.2, 1.5, 2.1, 1.75]})


def digits_rows():
    X, _ = mf.digits_data()
    return pd.DataFrame(X[[0, 1, 2, 3, 42]], columns=[f"pixel_{i}" for i in range(64)])


def insurance_rows():
    return pd.DataFrame({"age": [25, 40, 63], "bmi": [21.5, 30.2, 27.0], "region": ["north", "south", "east"]})


# ---- the libraries, called directly ------------------------------------------------


def sklearn_direct(path, X):
    import skops.io as sio

    model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    proba = model.predict_proba(X) if hasattr(model, "predict_proba") else None
    return model.predict(X).tolist(), proba


def xgb_direct(path, X):
    import xgboost as xgb

    with open(path, "rb") as f:
        head = f.read(200)
    if b"reg:" in head or "diabetes" in str(path):
        model = xgb.XGBRegressor()
        model.load_model(path)
        return model.predict(X).tolist(), None
    model = xgb.XGBClassifier()
    model.load_model(path)
    return model.predict(X).tolist(), model.predict_proba(X)


def onnx_direct(path, X):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = session.get_inputs()
    if len(inputs) == 1:
        feed = {inputs[0].name: X.to_numpy(np.float32)}
    else:
        feed = {
            i.name: X[i.name].to_numpy(np.float32 if i.type == "tensor(float)" else object).reshape(-1, 1)
            for i in inputs
        }
    outputs = session.run(None, feed)
    if len(outputs) == 1:
        return outputs[0].reshape(-1).tolist(), None
    labels, proba = outputs
    if isinstance(proba, list):
        proba = np.array([[row[k] for k in sorted(row)] for row in proba])
    return labels.tolist(), proba


def pmml_direct(path, X):
    from pypmml import Model

    model = Model.fromFile(str(path))
    result = model.predict(X)
    predicted = [c for c in result.columns if c.startswith("predicted_")][0]
    probas = [c for c in result.columns if c.startswith("probability_")]
    labels = result[predicted].tolist()
    return labels, (result[probas].to_numpy() if probas else None)


def lgb_direct(path, X):
    import lightgbm as lgb

    booster = lgb.Booster(model_file=str(path).replace("_dump.json", ".txt"))  # LightGBM cannot load its own dump
    X = X.copy()
    text_columns = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    for column, categories in zip(text_columns, booster.pandas_categorical or []):
        X[column] = pd.Categorical(X[column], categories=categories)
    raw = booster.predict(X)
    objective = booster.dump_model(num_iteration=1)["objective"]
    if objective.startswith("binary"):
        return (raw > 0.5).astype(int).tolist(), np.column_stack([1 - raw, raw])
    if raw.ndim == 2:
        return raw.argmax(axis=1).tolist(), raw
    return raw.tolist(), None


def catboost_direct(path, X):
    from catboost import CatBoost, CatBoostClassifier, CatBoostRegressor

    probe = CatBoost()
    probe.load_model(str(path))
    if probe.get_all_params()["loss_function"] in ("Logloss", "MultiClass"):
        model = CatBoostClassifier()
        model.load_model(str(path))
        return np.asarray(model.predict(X)).reshape(-1).tolist(), model.predict_proba(X)
    model = CatBoostRegressor()
    model.load_model(str(path))
    return model.predict(X).tolist(), None


def sklearn2pmml_direct(path, X):
    """The scikit-learn (and XGBoost) models the sklearn2pmml files were exported from, trained again here."""
    import xgboost as xgb
    from sklearn.linear_model import LinearRegression
    from sklearn.tree import DecisionTreeClassifier

    iris, classes = mf.iris_frame()
    if "tree" in str(path):
        model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(iris, mf.iris_species())
    elif "xgboost" in str(path):
        model = xgb.XGBClassifier(n_estimators=10, max_depth=2).fit(iris, classes)
    else:
        return LinearRegression().fit(*mf.diabetes_frame()).predict(X).tolist(), None
    # sklearn2pmml keeps only the columns the model splits on; the models were fitted on all four
    X = iris_rows()
    return model.predict(X).tolist(), model.predict_proba(X)


def via(other: str, direct):
    """The library called on the file an MLflow model's ZIP was made from."""
    return lambda path, X: direct(str(Path(path).parent / other), X)


CASES = {
    "iris_logreg.skops": (iris_rows, sklearn_direct),
    "iris_gboost.skops": (iris_rows, sklearn_direct),
    "cancer_forest.skops": (cancer_rows, sklearn_direct),
    "mixed_pipeline.skops": (mixed_rows, sklearn_direct),
    "iris_kmeans.skops": (iris_rows, sklearn_direct),
    "iris_xgb.json": (iris_rows, xgb_direct),
    "cancer_xgb.ubj": (cancer_rows, xgb_direct),
    "diabetes_xgb.json": (diabetes_rows, xgb_direct),
    "iris_logreg.onnx": (iris_rows, onnx_direct),
    "iris_logreg_nozipmap.onnx": (iris_rows, onnx_direct),
    "cancer_forest.onnx": (cancer_rows, onnx_direct),
    "diabetes_linear.onnx": (diabetes_rows, onnx_direct),
    "mixed_pipeline.onnx": (mixed_rows, onnx_direct),
    "tree_iris.pmml": (tree_rows, pmml_direct),
    "iris_logreg_nyoka.pmml": (iris_rows, pmml_direct),
    "iris_forest_nyoka.pmml": (iris_rows, pmml_direct),
    "regression_insurance.pmml": (insurance_rows, pmml_direct),
    "sklearn2pmml_iris_tree.pmml": (lambda: iris_rows()[["petal_length", "petal_width"]], sklearn2pmml_direct),
    "sklearn2pmml_iris_xgboost.pmml": (lambda: iris_rows().drop(columns="sepal_width"), sklearn2pmml_direct),
    "sklearn2pmml_diabetes_linear.pmml": (diabetes_rows, sklearn2pmml_direct),
    "digits_mlp.onnx": (digits_rows, onnx_direct),
    "iris_lgbm.txt": (iris_rows, lgb_direct),
    "iris_lgbm_dump.json": (iris_rows, lgb_direct),
    "cancer_lgbm.txt": (cancer_rows, lgb_direct),
    "mixed_lgbm.txt": (mixed_rows, lgb_direct),
    "mixed_lgbm_dump.json": (mixed_rows, lgb_direct),
    "iris_catboost.cbm": (iris_rows, catboost_direct),
    "cancer_catboost.cbm": (cancer_rows, catboost_direct),
    "mixed_catboost.cbm": (mixed_rows, catboost_direct),
    "iris_mlflow_skops.zip": (iris_rows, via("iris_logreg.skops", sklearn_direct)),
    "iris_mlflow_xgboost.zip": (iris_rows, via("iris_xgb.json", xgb_direct)),
    "cancer_mlflow_lightgbm.zip": (cancer_rows, via("cancer_lgbm_unnamed.txt", lgb_direct)),
    "iris_mlflow_catboost.zip": (iris_rows, via("iris_catboost.cbm", catboost_direct)),
    "iris_mlflow_onnx.zip": (iris_rows, via("iris_logreg.onnx", onnx_direct)),
}


def jsonable(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records", double_precision=15))


def bodies(frame: pd.DataFrame) -> dict:
    records = jsonable(frame)
    columns = list(frame.columns)
    return {
        "inputs-list": {"inputs": records},
        "inputs-columns": {"inputs": {c: [r[c] for r in records] for c in columns}},
        "dataframe_split": {"dataframe_split": {"columns": columns, "data": [[r[c] for c in columns] for r in records]}},
        "dataframe_records": {"dataframe_records": records},
        "instances-records": {"instances": records},
        "instances-lists": {"instances": [[r[c] for c in columns] for r in records]},
    }


BODY_FORMATS = [
    "inputs-list",
    "inputs-columns",
    "dataframe_split",
    "dataframe_records",
    "instances-records",
    "instances-lists",
    "csv-file",
    "csv-body",
    "tsv-file",
    "jsonl-file",
]


def post_body(api, name, frame, body_format):
    url = f"/api/v1/models/{name}/predict"
    if body_format in ("csv-file", "tsv-file"):
        sep = "," if body_format == "csv-file" else "\t"
        data = frame.to_csv(index=False, sep=sep, float_format="%.17g").encode()
        upload = io.BytesIO(data)
        upload.name = "rows.csv" if sep == "," else "rows.tsv"
        return api.post(url, {"file": upload}, format="multipart")
    if body_format == "csv-body":
        return api.post(url, frame.to_csv(index=False, float_format="%.17g"), content_type="text/csv")
    if body_format == "jsonl-file":
        upload = io.BytesIO("\n".join(json.dumps(r) for r in jsonable(frame)).encode())
        upload.name = "rows.jsonl"
        return api.post(url, {"file": upload}, format="multipart")
    return api.post(url, bodies(frame)[body_format], format="json")


@pytest.fixture(scope="module")
def expected(model_files):
    answers = {}
    for filename, (rows, direct) in CASES.items():
        frame = rows()
        answers[filename] = (frame, *direct(str(model_files[filename]), frame))
    return answers


def assert_same(body, labels, proba):
    got = body["predictions"]
    assert len(got) == len(labels)
    if all(isinstance(v, (int, str)) for v in labels):
        assert [str(v) for v in got] == [str(v) for v in labels]
    else:
        assert np.allclose(np.asarray(got, dtype=float), np.asarray(labels, dtype=float), rtol=1e-6, atol=1e-6)
    if proba is not None:
        got_proba = np.array([list(row.values()) for row in body["probabilities"]])
        assert np.allclose(got_proba, np.asarray(proba, dtype=float), atol=1e-6)


@pytest.mark.parametrize("filename", list(CASES))
def test_answers_equal_the_library_called_directly(api, upload_model, expected, filename):
    assert upload_model(filename, name="m").status_code == 201
    frame, labels, proba = expected[filename]
    for body_format in BODY_FORMATS:  # one upload, every body format
        response = post_body(api, "m", frame, body_format)
        assert response.status_code == 200, (body_format, response.json())
        body = response.json()
        assert body["model"] == "m" and body["version"] == 1
        try:
            assert_same(body, labels, proba)
        except AssertionError as exc:
            raise AssertionError(f"{body_format}: {exc}") from exc


def test_one_record_gives_one_answer(api, upload_model):
    upload_model("iris_logreg.skops", name="iris")
    response = api.post(
        "/api/v1/models/iris/predict",
        {"inputs": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}},
        format="json",
    )
    body = response.json()
    assert body["predictions"] == [0]
    assert set(body["probabilities"][0]) == {"0", "1", "2"}
    assert body["elapsed_ms"] >= 0


def test_a_chosen_version_answers(api, upload_model, model_files):
    upload_model("tree_iris.pmml", name="iris")
    with open(model_files["iris_logreg.skops"], "rb") as f:
        api.post("/api/v1/models/iris/versions", {"file": f}, format="multipart")
    record = {"petal_length": 1.4, "petal_width": 0.2}
    response = api.post("/api/v1/models/iris/predict?version=1", {"inputs": record}, format="json")
    assert response.json()["version"] == 1 and response.json()["predictions"] == ["setosa"]
    response = api.post("/api/v1/models/iris/predict", {"inputs": record}, format="json")
    assert response.status_code == 400  # v2 needs four fields
    assert "sepal_length" in response.json()["error"]["message"]
    assert api.post("/api/v1/models/iris/predict?version=9", {"inputs": record}, format="json").status_code == 404


def test_extra_columns_are_ignored_and_listed(api, upload_model):
    upload_model("tree_iris.pmml", name="iris")
    csv = "id,petal_length,petal_width,species\n1,1.4,0.2,setosa\n"
    body = api.post("/api/v1/models/iris/predict", csv, content_type="text/csv").json()
    assert body["predictions"] == ["setosa"]
    assert body["ignored_fields"] == ["id", "species"]


def test_someone_elses_model_is_404(stranger_api, upload_model):
    upload_model("tree_iris.pmml", name="iris")
    response = stranger_api.post("/api/v1/models/iris/predict", {"inputs": {}}, format="json")
    assert response.status_code == 404
