"""The answer's probability rows, built by generated code: any class label is safe in it."""

import numpy as np
import pytest

from models_registry.outputs import probability_rows
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
