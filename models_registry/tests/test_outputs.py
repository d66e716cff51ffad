"""The answer's probability rows: any class label is safe in them, and the JSON written
straight from the arrays is the answer's dict, byte for byte."""

import numpy as np
import orjson
import pytest

from models_registry.outputs import Answer, probability_rows
from models_registry.runtimes import Prediction

LABELS = [
    ["0", "1", "2"],
    ["setosa", "versi'color", 'vir"ginica'],
    ["a\\b", "new\nline", "ünï", "}]; import os #", "__import__('os').system('x')"],
    [str(i) for i in range(100)],  # many classes: the plain path
]


@pytest.mark.parametrize("labels", LABELS)
def test_rows_map_each_label_to_its_probability(labels):
    proba = np.random.default_rng(0).random((5, len(labels)))
    rows = probability_rows(Prediction(predictions=[0] * 5, probabilities=proba, classes=labels))
    assert rows == [dict(zip(labels, row)) for row in proba.tolist()]
    assert list(rows[0]) == labels


def test_no_probabilities_no_rows():
    assert probability_rows(Prediction(predictions=[1.5])) is None


@pytest.mark.parametrize("labels", [["0", "1", "2"], ["setosa", 'qu"ote', "é"], ["only"]])
@pytest.mark.parametrize("rows", [1, 7, 1000])
def test_the_json_written_from_arrays_is_the_answer_as_a_dict(labels, rows):
    rng = np.random.default_rng(rows)
    proba = rng.random((rows, len(labels)))
    proba[0, 0] = np.nan  # written as null, as orjson writes a dict's NaN
    predictions = rng.integers(0, 3, rows)
    answer = Answer(Prediction(predictions=predictions, probabilities=proba, classes=labels), model_name="m", version=2)
    assert orjson.loads(answer.to_json()) == orjson.loads(orjson.dumps(answer.body))
    assert answer.to_json() == orjson.dumps(Answer(
        Prediction(predictions=predictions.tolist(), probabilities=proba, classes=labels), model_name="m", version=2
    ).body)


def test_an_answer_changed_as_a_dict_is_written_as_changed():
    answer = Answer(Prediction(predictions=[1.5]), model_name="m", version=1)
    answer.body["extra"] = True
    assert orjson.loads(answer.to_json())["extra"] is True
