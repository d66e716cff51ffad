"""The input layer: body formats to a validated batch, with per-field errors."""

import numpy as np
import pytest

from core.errors import InvalidInput
from models_registry.inputs import parse_json_body
from models_registry.schema import Field

IRIS = [Field(name=n, type="double") for n in ("sepal_length", "sepal_width", "petal_length", "petal_width")]
MIXED = [
    Field(name="age", type="integer", interval={"min": 18, "max": 100}),
    Field(name="region", type="string", optype="categorical", values=["north", "south"]),
    Field(name="member", type="boolean"),
]
ROW = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}


def matrix(parsed):
    return parsed.batch.matrix([f.name for f in IRIS])


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": ROW},
        {"inputs": [ROW, ROW]},
        {"inputs": {k: [v, v] for k, v in ROW.items()}},
        {"dataframe_split": {"columns": list(ROW), "data": [list(ROW.values())] * 2}},
        {"dataframe_records": [ROW, ROW]},
        {"instances": [ROW, ROW]},
        {"instances": [list(ROW.values())] * 2},
    ],
)
def test_every_body_format_gives_the_same_rows(body):
    parsed = parse_json_body(body, IRIS)
    rows = matrix(parsed)
    assert rows.shape[1] == 4
    assert np.allclose(rows, [list(ROW.values())] * rows.shape[0])


def test_extra_fields_are_ignored_and_listed():
    parsed = parse_json_body({"inputs": {**ROW, "id": 7}}, IRIS)
    assert parsed.ignored_fields == ["id"]


def test_coercion_to_the_schema_types():
    parsed = parse_json_body({"inputs": {"age": "42", "region": "north", "member": "yes"}}, MIXED)
    assert parsed.batch.columns["age"].tolist() == [42]
    assert parsed.batch.columns["member"].tolist() == [True]


@pytest.mark.parametrize(
    "record, field, words",
    [
        ({"age": "abc", "region": "north", "member": True}, "age", "expected a number, got 'abc'"),
        ({"age": 17, "region": "north", "member": True}, "age", "between 18 and 100"),
        ({"age": 30.5, "region": "north", "member": True}, "age", "whole number"),
        ({"age": 30, "region": "west", "member": True}, "region", "expected one of 'north', 'south'"),
        ({"age": 30, "region": "north", "member": "maybe"}, "member", "true or false"),
        ({"age": True, "region": "north", "member": True}, "age", "expected a number"),
    ],
)
def test_bad_values_are_named_per_field(record, field, words):
    with pytest.raises(InvalidInput) as caught:
        parse_json_body({"inputs": record}, MIXED)
    assert words in caught.value.details["fields"][field]


def test_the_error_names_the_row():
    rows = [dict(ROW), dict(ROW), {**ROW, "petal_width": "wide"}]
    with pytest.raises(InvalidInput) as caught:
        parse_json_body({"inputs": rows}, IRIS)
    assert caught.value.details == {"fields": {"petal_width": "expected a number, got 'wide'"}, "row": 2}
    assert "row 2" in caught.value.message


def test_missing_fields_are_listed_with_unknown_ones_as_a_hint():
    with pytest.raises(InvalidInput) as caught:
        parse_json_body({"inputs": {"sepal_length": 1, "sepal_width": 1, "petal_length": 1, "petal_widht": 1}}, IRIS)
    assert "petal_width" in caught.value.message and "petal_widht" in caught.value.message


@pytest.mark.parametrize("body", [[], "text", {}, {"inputs": ROW, "instances": []}, {"rows": []}, {"inputs": []}, {"inputs": 5}])
def test_bodies_of_the_wrong_shape_are_refused(body):
    with pytest.raises(InvalidInput):
        parse_json_body(body, IRIS)


def test_tensor_fields_take_nested_or_flat_lists():
    field = Field(name="X", type="tensor(float)", shape=[4])
    one = parse_json_body({"inputs": {"X": [1, 2, 3, 4]}}, [field])
    assert one.batch.n_rows == 1 and one.batch.columns["X"].shape == (1, 4)
    many = parse_json_body({"inputs": {"X": [[1, 2, 3, 4], [5, 6, 7, 8]]}}, [field])
    assert many.batch.columns["X"].shape == (2, 4)
    assert parse_json_body({"instances": [[1, 2, 3, 4]]}, [field]).batch.columns["X"].dtype == np.float32
    with pytest.raises(InvalidInput) as caught:
        parse_json_body({"inputs": {"X": [1, 2, 3]}}, [field])
    assert "expected shape [4]" in caught.value.message
