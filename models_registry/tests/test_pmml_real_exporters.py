"""PMML files from real exporters: sklearn2pmml's (an <Output> of probabilities only, no
predicted value) answer their target's value; R pmml files that no evaluator accepts are
refused with what is wrong and where, not a Java exception."""

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from models_registry.models import ModelVersion
from models_registry.runtimes.pmml_refusals import array_tokens
from tests import model_files as mf

PETALS = {"inputs": [{"petal_length": 1.4, "petal_width": 0.2}, {"petal_length": 5.5, "petal_width": 2.1}]}


def test_a_classifier_whose_output_lists_only_probabilities_answers_its_most_probable_class(api, upload_model):
    assert upload_model("sklearn2pmml_iris_tree.pmml", name="tree").status_code == 201
    body = api.post("/api/v1/models/tree/predict", PETALS, format="json").json()
    assert body["predictions"] == ["setosa", "virginica"]
    assert body["probabilities"][1]["virginica"] == pytest.approx(max(body["probabilities"][1].values()))


def test_the_test_tab_shows_the_derived_label_beside_its_probability(owner_client, upload_model):
    upload_model("sklearn2pmml_iris_xgboost.pmml", name="xgb")
    page = owner_client.post(
        "/models/xgb/test/", {"mode": "form", "sepal_length": "6.5", "petal_length": "5.5", "petal_width": "2.0"}
    ).content.decode()
    assert 'mono prediction">2<' in page
    assert "None" not in page.split('id="result-table"')[1].split("</table>")[0]


def regression_without_predicted_value(model_files, tmp_path):
    """sklearn2pmml's linear regression, given an <Output> that lists one constant field only
    (as hand-edited documents do): the evaluator then answers that field and not the target."""
    text = model_files["sklearn2pmml_diabetes_linear.pmml"].read_text()
    output = (
        '<Output><OutputField name="note" optype="categorical" dataType="string" feature="transformedValue">'
        '<Constant dataType="string">linear</Constant></OutputField></Output>'
    )
    marker = "</MiningSchema>"
    path = tmp_path / "linear.pmml"
    path.write_text(text.replace(marker, marker + output, 1))
    return path


def test_a_regression_whose_output_has_no_predicted_value_answers_the_target(api, upload_model, model_files, tmp_path):
    assert upload_model(str(regression_without_predicted_value(model_files, tmp_path)), name="linear").status_code == 201
    X, y = mf.diabetes_frame()
    rows = X.iloc[:5]
    body = api.post("/api/v1/models/linear/predict", {"dataframe_records": rows.to_dict("records")}, format="json").json()
    from sklearn.linear_model import LinearRegression

    assert np.allclose(body["predictions"], LinearRegression().fit(X, y).predict(rows), rtol=1e-9)
    details = api.get("/api/v1/models/linear").json()["latest_version"]["details"]
    assert details["added_output"]["name"] == "mlserve_predicted(progression)"


def post_file(api, model_files, filename):
    upload = SimpleUploadedFile(filename, model_files[filename].read_bytes())
    return api.post("/api/v1/models", {"name": "r", "file": upload}, format="multipart")


def test_an_r_naive_bayes_without_bayes_output_is_refused_with_the_element_and_line(api, model_files):
    response = post_file(api, model_files, "r_naivebayes_no_bayesoutput.pmml")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"].startswith("The PMML document is invalid: <NaiveBayesModel> has no <BayesOutput>")
    assert "(line 22)" in error["message"]
    assert "org.pmml4s" not in error["message"] and "Exception" not in error["message"]
    assert error["details"]["engine_error"].startswith("NullPointerException: Cannot invoke")
    assert error["details"]["element"] == "NaiveBayesModel" and error["details"]["line"] == 22
    assert ModelVersion.objects.count() == 0


def test_an_rpart_tree_with_a_malformed_array_is_refused_with_the_element_and_line(api, model_files):
    response = post_file(api, model_files, "r_rpart_audit_unquoted_array.pmml")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["message"] == (
        'The PMML document is invalid: <Array> in <SimpleSetPredicate> declares n="6" values but holds 7 '
        "(a value that contains spaces must be in double quotes) (line 41)."
    )
    assert error["details"]["engine_error"] == "SemanticErrorException: The length of array must be 6, got 7"
    assert ModelVersion.objects.count() == 0


def test_a_document_with_an_undefined_attribute_value_names_it(api, model_files, tmp_path):
    text = model_files["r_rpart_audit_unquoted_array.pmml"].read_text()
    text = text.replace('<Array n="6" type="string">', '<Array n="7" type="strng">')
    upload = SimpleUploadedFile("tree.pmml", text.encode())
    error = api.post("/api/v1/models", {"name": "r", "file": upload}, format="multipart").json()["error"]
    assert error["message"] == (
        'The PMML document is invalid: <Array> in <SimpleSetPredicate> has type="strng"; PMML allows only "int", "real" or "string" (line 41).'
    )
    assert error["details"]["engine_error"] == "NoSuchElementException: No value found for 'strng'"


def test_a_complete_r_naive_bayes_answers_by_its_counts(api, upload_model):
    assert upload_model("r_naivebayes_votes.pmml", name="votes").status_code == 201
    body = api.post("/api/v1/models/votes/predict", {"inputs": {"V1": "y", "V2": "n"}}, format="json").json()
    democrat = 267 / 435 * 156 / 258 * 119 / 239
    republican = 168 / 435 * 31 / 165 * 73 / 148
    assert body["predictions"] == ["democrat"]
    assert body["probabilities"][0]["democrat"] == pytest.approx(democrat / (democrat + republican), rel=1e-9)


@pytest.mark.parametrize(
    "text, tokens, open_quote",
    [
        ('"Never married" "Widowed"', ["Never married", "Widowed"], False),
        ('a "b \\" c" d', ["a", 'b " c', "d"], False),
        ('"Widowed', ["Widowed"], True),
        ("1.5 2 -3e2", ["1.5", "2", "-3e2"], False),
    ],
)
def test_array_values_are_read_as_pmml_writes_them(text, tokens, open_quote):
    assert array_tokens(text) == (tokens, open_quote)


def test_a_tree_too_deep_for_the_evaluator_is_refused_and_the_evaluator_goes_on(api, upload_model, model_files):
    text = model_files["r_rpart_audit_unquoted_array.pmml"].read_text()
    depth = 20000
    nodes = "".join(f'<Node id="d{i}" score="0"><True/>' for i in range(depth)) + "</Node>" * depth
    start, end = text.index('<Node id="1"'), text.index("</TreeModel>")
    upload = SimpleUploadedFile("deep.pmml", (text[:start] + nodes + text[end:]).encode())
    error = api.post("/api/v1/models", {"name": "deep", "file": upload}, format="multipart").json()["error"]
    assert error["message"].startswith("The PMML evaluator (PMML4S) refused this document: its elements nest too deeply")
    assert error["details"]["engine_error"] == "StackOverflowError"
    assert upload_model("r_naivebayes_votes.pmml", name="votes").status_code == 201
