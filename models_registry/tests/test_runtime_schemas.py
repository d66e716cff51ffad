"""Inspecting each fixture model: the extracted schema, field by field."""

from pathlib import Path

import pytest

from models_registry.runtimes.detect import detect_format
from models_registry.validation import inspect_artifact

IRIS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
DIABETES = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"]


def inspect(path: Path):
    fmt, extension = detect_format(path, path.name)
    return inspect_artifact(path, fmt, extension)


def fields(items):
    return [(f.name, f.type, f.optype, f.shape, f.values, f.interval) for f in items]


def class_outputs(label_type, classes):
    return [("label", label_type, "categorical", None, classes, None)] + [
        (f"probability({c})", "double", "continuous", None, None, {"min": 0, "max": 1}) for c in classes
    ]


@pytest.mark.parametrize("filename", ["iris_logreg.skops", "iris_gboost.skops"])
def test_sklearn_iris_classifiers(model_files, filename):
    info = inspect(model_files[filename])
    assert info.format == "skops"
    assert info.model_type == "classification"
    assert info.engine == "scikit-learn"
    assert fields(info.inputs) == [(n, "double", "continuous", None, None, None) for n in IRIS]
    assert fields(info.outputs) == class_outputs("integer", [0, 1, 2])
    assert info.classes == [0, 1, 2]


def test_sklearn_random_forest_names_its_30_features(model_files):
    info = inspect(model_files["cancer_forest.skops"])
    assert info.algorithm == "RandomForestClassifier"
    assert len(info.inputs) == 30
    assert info.inputs[0].name == "mean_radius" and info.inputs[-1].name == "worst_fractal_dimension"
    assert fields(info.outputs) == class_outputs("integer", [0, 1])


def test_sklearn_pipeline_with_column_transformer_finds_categorical_columns(model_files):
    info = inspect(model_files["mixed_pipeline.skops"])
    assert info.model_type == "regression"
    assert info.algorithm == "Ridge (Pipeline: ColumnTransformer → Ridge)"
    assert info.details["steps"] == ["ColumnTransformer", "Ridge"]
    assert fields(info.inputs) == [
        ("age", "double", "continuous", None, None, None),
        ("bmi", "double", "continuous", None, None, None),
        ("bp", "double", "continuous", None, None, None),
        ("s5", "double", "continuous", None, None, None),
        ("sex", "string", "categorical", None, ["female", "male"], None),
        ("bmi_band", "string", "categorical", None, ["high", "low", "mid"], None),
    ]
    assert fields(info.outputs) == [("prediction", "double", "continuous", None, None, None)]


def test_sklearn_kmeans_is_clustering(model_files):
    info = inspect(model_files["iris_kmeans.skops"])
    assert info.model_type == "clustering"
    assert fields(info.outputs) == [("cluster", "integer", "categorical", None, [0, 1, 2], None)]


@pytest.mark.parametrize("filename", ["iris_logreg.joblib", "iris_logreg.pkl"])
def test_pickles_are_detected_as_code(model_files, filename):
    info = inspect(model_files[filename])
    assert info.format == "pickle"
    assert info.model_type == "classification"
    assert [f.name for f in info.inputs] == IRIS


@pytest.mark.parametrize("ext", ["json", "ubj"])
def test_xgboost_multiclass(model_files, ext):
    info = inspect(model_files[f"iris_xgb.{ext}"])
    assert info.format == "xgboost"
    assert info.model_type == "classification"
    assert info.engine == "xgboost"
    assert info.algorithm == "XGBoost gbtree (20 boosting rounds, objective multi:softprob)"
    assert info.details["num_class"] == 3
    assert fields(info.inputs) == [(n, "double", "continuous", None, None, None) for n in IRIS]
    assert fields(info.outputs) == class_outputs("integer", [0, 1, 2])


@pytest.mark.parametrize("ext", ["json", "ubj"])
def test_xgboost_binary_and_regression(model_files, ext):
    binary = inspect(model_files[f"cancer_xgb.{ext}"])
    assert binary.details["objective"] == "binary:logistic"
    assert binary.classes == [0, 1]
    assert len(binary.inputs) == 30
    regression = inspect(model_files[f"diabetes_xgb.{ext}"])
    assert regression.model_type == "regression"
    assert regression.details["objective"] == "reg:squarederror"
    assert [f.name for f in regression.inputs] == DIABETES
    assert fields(regression.outputs) == [("prediction", "double", "continuous", None, None, None)]


@pytest.mark.parametrize("filename", ["iris_logreg.onnx", "iris_logreg_nozipmap.onnx"])
def test_onnx_classifier_with_and_without_zipmap(model_files, filename):
    info = inspect(model_files[filename])
    assert info.format == "onnx"
    assert info.engine == "onnxruntime"
    assert info.model_type == "classification"
    assert info.algorithm == "LinearClassifier (with Normalizer)"
    assert fields(info.inputs) == [("X", "tensor(float)", "continuous", [4], None, None)]
    assert fields(info.outputs) == class_outputs("integer", [0, 1, 2])
    assert info.details["input_plan"] == [{"name": "X", "onnx_type": "tensor(float)", "dims": [None, 4]}]
    assert info.details["producer"].startswith("skl2onnx")


def test_onnx_regressor_and_per_column_inputs(model_files):
    linear = inspect(model_files["diabetes_linear.onnx"])
    assert linear.model_type == "regression"
    assert fields(linear.inputs) == [("X", "tensor(float)", "continuous", [10], None, None)]
    assert fields(linear.outputs) == [("variable", "float", "continuous", None, None, None)]

    mixed = inspect(model_files["mixed_pipeline.onnx"])
    assert fields(mixed.inputs) == [
        ("age", "float", "continuous", None, None, None),
        ("bmi", "float", "continuous", None, None, None),
        ("bp", "float", "continuous", None, None, None),
        ("s5", "float", "continuous", None, None, None),
        ("sex", "string", "categorical", None, None, None),
        ("bmi_band", "string", "categorical", None, None, None),
    ]


def test_onnx_random_forest_and_digits(model_files):
    forest = inspect(model_files["cancer_forest.onnx"])
    assert forest.algorithm == "TreeEnsembleClassifier"
    assert forest.classes == [0, 1]
    digits = inspect(model_files["digits_logreg.onnx"])
    assert fields(digits.inputs) == [("X", "tensor(float)", "continuous", [64], None, None)]
    assert digits.classes == list(range(10))


def test_pmml_tree_reads_ranges_and_allowed_values(model_files):
    info = inspect(model_files["tree_iris.pmml"])
    assert info.format == "pmml"
    assert info.model_type == "classification"
    assert info.algorithm == "TreeModel"
    assert info.engine == "PMML4S (pypmml)"
    assert fields(info.inputs) == [
        ("petal_length", "double", "continuous", None, None, {"min": 0.0, "max": 10.0}),
        ("petal_width", "double", "continuous", None, None, {"min": 0.0, "max": 5.0}),
    ]
    assert fields(info.outputs) == class_outputs("string", ["setosa", "versicolor", "virginica"])
    assert info.details["targets"][0]["values"] == ["setosa", "versicolor", "virginica"]


def test_pmml_regression_with_categorical_predictor(model_files):
    info = inspect(model_files["regression_insurance.pmml"])
    assert info.model_type == "regression"
    assert info.algorithm == "RegressionModel (linearRegression)"
    assert fields(info.inputs) == [
        ("age", "integer", "continuous", None, None, {"min": 18.0, "max": 100.0}),
        ("bmi", "double", "continuous", None, None, None),
        ("region", "string", "categorical", None, ["north", "south", "east"], None),
    ]
    assert fields(info.outputs) == [("prediction", "double", "continuous", None, None, None)]


def test_pmml_mining_model_and_neural_network(model_files):
    ensemble = inspect(model_files["mining_ensemble.pmml"])
    assert ensemble.algorithm == "MiningModel: 2 segments of TreeModel, average"
    assert [f.name for f in ensemble.inputs] == ["x1", "x2"]
    network = inspect(model_files["neural_xor.pmml"])
    assert network.algorithm == "NeuralNetwork"
    assert network.model_type == "regression"


@pytest.mark.parametrize(
    "filename, algorithm",
    [
        ("iris_logreg_nyoka.pmml", "MiningModel: 4 segments of RegressionModel, modelChain"),
        ("iris_tree_nyoka.pmml", "TreeModel"),
        ("iris_forest_nyoka.pmml", "MiningModel (randomForest): 5 segments of TreeModel, average"),
    ],
)
def test_pmml_from_nyoka_exports(model_files, filename, algorithm):
    info = inspect(model_files[filename])
    assert info.algorithm == algorithm
    assert info.details["producer"] == "Nyoka 5.5.0"
    assert fields(info.inputs) == [(n, "double", "continuous", None, None, None) for n in IRIS]
    assert fields(info.outputs) == class_outputs("integer", [0, 1, 2])


def test_pmml_linear_regression_from_nyoka(model_files):
    info = inspect(model_files["diabetes_linear_nyoka.pmml"])
    assert info.model_type == "regression"
    assert [f.name for f in info.inputs] == DIABETES


@pytest.mark.parametrize("filename", ["iris_lgbm.txt", "iris_lgbm_dump.json"])
def test_lightgbm_multiclass_from_the_model_text_and_the_json_dump(model_files, filename):
    info = inspect(model_files[filename])
    assert info.format == "lightgbm"
    assert info.engine == "lightgbm"
    assert info.model_type == "classification"
    assert info.algorithm.startswith("LightGBM") and "20 boosting rounds" in info.algorithm and "multiclass" in info.algorithm
    assert fields(info.inputs) == [(n, "double", "continuous", None, None, None) for n in IRIS]
    assert fields(info.outputs) == class_outputs("integer", [0, 1, 2])
    assert info.details["source"] == ("JSON dump" if filename.endswith(".json") else "model text")


def test_lightgbm_keeps_pandas_categories_as_allowed_values(model_files):
    info = inspect(model_files["mixed_lgbm.txt"])
    assert info.model_type == "regression"
    assert fields(info.inputs) == [
        ("age", "double", "continuous", None, None, None),
        ("bmi", "double", "continuous", None, None, None),
        ("bp", "double", "continuous", None, None, None),
        ("s5", "double", "continuous", None, None, None),
        ("sex", "string", "categorical", None, ["female", "male"], None),
        ("bmi_band", "string", "categorical", None, ["high", "low", "mid"], None),
    ]
    assert fields(info.outputs) == [("prediction", "double", "continuous", None, None, None)]


def test_lightgbm_binary_classifier(model_files):
    info = inspect(model_files["cancer_lgbm.txt"])
    assert info.classes == [0, 1]
    assert len(info.inputs) == 30 and info.inputs[0].name == "mean_radius"


def test_catboost_keeps_its_class_names_and_categorical_features(model_files):
    iris = inspect(model_files["iris_catboost.cbm"])
    assert iris.format == "catboost" and iris.engine == "catboost"
    assert iris.model_type == "classification"
    assert iris.algorithm == "CatBoost (20 trees, loss MultiClass)"
    assert fields(iris.inputs) == [(n, "double", "continuous", None, None, None) for n in IRIS]
    assert fields(iris.outputs) == class_outputs("string", ["setosa", "versicolor", "virginica"])

    mixed = inspect(model_files["mixed_catboost.cbm"])
    assert mixed.model_type == "regression"
    assert [(f.name, f.type, f.optype) for f in mixed.inputs][-2:] == [("sex", "string", "categorical"), ("bmi_band", "string", "categorical")]
    assert mixed.details["categorical"] == ["sex", "bmi_band"]

    cancer = inspect(model_files["cancer_catboost.cbm"])
    assert cancer.classes == [0, 1] and cancer.details["loss_function"] == "Logloss"


def test_a_scikit_learn_text_pipeline_takes_one_text_per_row(model_files):
    info = inspect(model_files["text_sentiment.skops"])
    assert info.model_type == "classification"
    assert fields(info.inputs) == [("text", "string", "text", None, None, None)]
    assert info.classes == ["negative", "positive"]
