"""deployments.oip on its own: tensor metadata, request parsing (JSON and the binary tensor
extension), inputs to columns, and answers, with plain objects in place of the models."""

import struct
from types import SimpleNamespace

import numpy as np
import orjson
import pytest

from core.errors import InvalidInput
from deployments.oip import (
    _tensor_batch,
    build_response,
    datatype_of,
    datatype_range,
    output_tensors,
    parse_inputs,
    parse_request,
    tensor_metadata,
    to_columns,
)
from models_registry.runtimes import Prediction
from models_registry.schema import Field

AB = [Field(name="a", type="double"), Field(name="b", type="double")]
DEPLOYMENT = SimpleNamespace(name="iris-prod", model_version=SimpleNamespace(number=3))


def request(*inputs, **extra) -> bytes:
    return orjson.dumps({"inputs": list(inputs), **extra})


def binary_request(inputs: list[tuple[dict, bytes]], **extra) -> tuple[bytes, str]:
    """A request in the binary extension: the JSON header, then each input's raw bytes."""
    items = [{**item, "parameters": {"binary_data_size": len(raw)}} for item, raw in inputs]
    header = request(*items, **extra)
    return header + b"".join(raw for _, raw in inputs), str(len(header))


def refused(body: bytes, header_length: str | None = None) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        parse_request(body, header_length)
    return caught.value


# ---- metadata -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "type_, datatype",
    [
        ("float", "FP32"),
        ("double", "FP64"),
        ("integer", "INT64"),
        ("boolean", "BOOL"),
        ("string", "BYTES"),
        ("tensor(float)", "FP32"),
        ("tensor(integer)", "INT64"),
        ("tensor(string)", "BYTES"),
    ],
)
def test_a_field_type_has_its_oip_datatype(type_, datatype):
    assert datatype_of(Field(name="x", type=type_)) == datatype


def test_a_scalar_field_is_a_tensor_of_one_value_per_row():
    assert tensor_metadata(Field(name="age", type="integer")) == {"name": "age", "datatype": "INT64", "shape": [-1]}


def test_a_tensor_field_keeps_its_fixed_dimensions_and_opens_the_named_ones():
    field = Field(name="pixels", type="tensor(float)", shape=[3, "height", 28])
    assert tensor_metadata(field) == {"name": "pixels", "datatype": "FP32", "shape": [-1, 3, -1, 28]}


@pytest.mark.parametrize(
    "datatype, text",
    [
        ("INT8", "-128 to 127"),
        ("UINT8", "0 to 255"),
        ("INT64", "-9223372036854775808 to 9223372036854775807"),
        ("FP16", "-65504.0 to 65504.0"),
    ],
)
def test_a_datatype_range_is_its_smallest_to_its_largest_value(datatype, text):
    assert datatype_range(datatype) == text


# ---- parse_request: JSON ------------------------------------------------------------


def test_json_data_is_reshaped_to_the_declared_shape_and_datatype():
    body = request({"name": "x", "shape": [2, 2], "datatype": "INT32", "data": [1, 2, 3, 4]}, id="r1")
    header, arrays = parse_request(body, None)
    assert header["id"] == "r1"
    assert arrays["x"].dtype == np.int32
    assert arrays["x"].tolist() == [[1, 2], [3, 4]]


def test_json_bytes_data_becomes_an_object_array_of_strings():
    _, arrays = parse_request(request({"name": "t", "shape": [2, 1], "datatype": "BYTES", "data": ["good", "bad"]}), None)
    assert arrays["t"].dtype == object
    assert arrays["t"].tolist() == [["good"], ["bad"]]


@pytest.mark.parametrize(
    "body, message",
    [
        (request(), 'An inference request needs "inputs": [{"name", "shape", "datatype", "data"}, ...].'),
        (b"[1, 2]", 'An inference request needs "inputs": [{"name", "shape", "datatype", "data"}, ...].'),
        (request({"name": "x", "shape": [1]}), 'Each input needs "name", "shape" and "datatype".'),
        (request({"name": "x", "shape": [1], "datatype": "FP128", "data": [1]}), "Input 'x': unknown datatype 'FP128'; use one of"),
        (request({"name": "x", "shape": ["two"], "datatype": "FP64", "data": [1]}), "Input 'x': shape must be a list of integers."),
        (request({"name": "x", "shape": [1], "datatype": "FP64"}), "Input 'x' has no data."),
        (request({"name": "x", "shape": [3], "datatype": "FP64", "data": [1, 2]}), "Input 'x': the data does not fit shape [3] and datatype FP64"),
        (request({"name": "x", "shape": [1], "datatype": "FP64", "data": ["heavy"]}), "Input 'x': the data does not fit shape [1] and datatype FP64"),
    ],
)
def test_a_request_that_does_not_describe_its_inputs_is_refused_naming_the_input(body, message):
    error = refused(body)
    assert error.code == "invalid_input"
    assert error.message.startswith(message)


def test_a_value_outside_its_datatype_is_refused_with_the_range():
    error = refused(request({"name": "x", "shape": [2], "datatype": "INT8", "data": [1, 1000]}))
    assert error.code == "value_out_of_range"
    assert error.message == "Input 'x': a value is outside what INT8 holds (-128 to 127)."
    assert error.details == {"input": "x", "datatype": "INT8"}


def test_a_body_that_is_not_json_is_a_malformed_request():
    assert refused(b'{"inputs": [').code == "malformed_request"


# ---- parse_request: the binary extension ---------------------------------------------


def test_binary_inputs_are_sliced_in_order_after_the_json_header():
    ints, floats = np.array([7, -8], dtype=np.int32), np.array([[0.5], [1.5]], dtype=np.float64)
    body, header_length = binary_request(
        [
            ({"name": "n", "shape": [2], "datatype": "INT32"}, ints.tobytes()),
            ({"name": "f", "shape": [2, 1], "datatype": "FP64"}, floats.tobytes()),
        ]
    )
    header, arrays = parse_request(body, header_length)
    assert [i["name"] for i in header["inputs"]] == ["n", "f"]
    assert arrays["n"].dtype == np.int32 and arrays["n"].tolist() == [7, -8]
    assert arrays["f"].dtype == np.float64 and arrays["f"].tolist() == [[0.5], [1.5]]


def test_binary_and_json_inputs_mix_in_one_request():
    body, header_length = binary_request([({"name": "f", "shape": [1], "datatype": "FP32"}, np.float32(2.5).tobytes())])
    header = orjson.loads(body[: int(header_length)])
    header["inputs"].append({"name": "j", "shape": [1], "datatype": "INT64", "data": [4]})
    text = orjson.dumps(header)
    _, arrays = parse_request(text + body[int(header_length) :], str(len(text)))
    assert arrays["f"].tolist() == [2.5]
    assert arrays["j"].tolist() == [4]


def test_binary_bytes_elements_are_length_prefixed_strings():
    raw = struct.pack("<I", 3) + b"abc" + struct.pack("<I", 0) + struct.pack("<I", 5) + "héé".encode()
    body, header_length = binary_request([({"name": "t", "shape": [3], "datatype": "BYTES"}, raw)])
    _, arrays = parse_request(body, header_length)
    assert arrays["t"].dtype == object
    assert arrays["t"].tolist() == ["abc", "", "héé"]


@pytest.mark.parametrize("raw", [b"\x03\x00", struct.pack("<I", 10) + b"abc"], ids=["length", "element"])
def test_a_truncated_bytes_tensor_is_refused(raw):
    body, header_length = binary_request([({"name": "t", "shape": [1], "datatype": "BYTES"}, raw)])
    assert refused(body, header_length).message == "A BYTES tensor's binary data is truncated."


def test_a_header_length_beyond_the_body_is_refused():
    body = request({"name": "x", "shape": [1], "datatype": "FP64", "data": [1]})
    error = refused(body, str(len(body) + 1))
    assert (error.code, error.message) == ("malformed_request", "Inference-Header-Content-Length is larger than the body.")


def test_a_negative_header_length_is_a_malformed_request():
    assert refused(request({"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}), "-1").code == "malformed_request"


def test_a_header_length_that_is_not_a_number_is_refused():
    error = refused(request({"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}), "12 bytes")
    assert (error.code, error.message) == ("malformed_request", "Inference-Header-Content-Length must be a number of bytes.")


def test_a_header_length_short_of_the_json_cuts_it_and_is_malformed():
    body, header_length = binary_request([({"name": "x", "shape": [1], "datatype": "FP64"}, np.float64(1).tobytes())])
    assert refused(body, str(int(header_length) - 1)).code == "malformed_request"


def test_binary_data_shorter_than_its_declared_size_is_refused():
    body, header_length = binary_request([({"name": "x", "shape": [2], "datatype": "FP64"}, np.zeros(2).tobytes())])
    error = refused(body[:-1], header_length)
    assert error.message == "Input 'x': the binary data is shorter than binary_data_size."


def test_binary_data_whose_size_does_not_fit_shape_times_datatype_is_refused():
    body, header_length = binary_request([({"name": "x", "shape": [3], "datatype": "FP64"}, np.zeros(2).tobytes())])
    assert refused(body, header_length).message.startswith("Input 'x': the data does not fit shape [3] and datatype FP64")


def test_binary_data_that_is_not_a_whole_number_of_elements_is_refused_naming_the_input():
    body, header_length = binary_request([({"name": "x", "shape": [2], "datatype": "FP64"}, b"\x00" * 12)])
    error = refused(body, header_length)
    assert error.code == "invalid_input"
    assert error.message.startswith("Input 'x': the data does not fit shape [2] and datatype FP64")


def test_a_binary_data_size_that_is_not_a_number_is_refused_naming_the_input():
    header = request({"name": "x", "shape": [1], "datatype": "FP64", "parameters": {"binary_data_size": "eight"}})
    error = refused(header + b"\x00" * 8, str(len(header)))
    assert error.code == "invalid_input"
    assert error.message == "Input 'x': binary_data_size must be a number of bytes."


def test_input_parameters_that_are_not_an_object_are_refused_naming_the_input():
    error = refused(request({"name": "x", "shape": [1], "datatype": "FP64", "data": [1], "parameters": ["binary"]}))
    assert error.message == "Input 'x': parameters must be an object."


# ---- to_columns and _tensor_batch ----------------------------------------------------


def test_one_fp64_tensor_of_n_rows_by_k_fields_is_validated_as_one_float_array():
    matrix = np.array([[5.1, 3.5], [6.2, 2.9], [7.0, 3.1]])
    parsed = _tensor_batch({"input-0": matrix}, AB)
    batch = parsed.batch
    assert batch.n_rows == 3
    assert batch.prepared_matrix is matrix  # no copy, no per-row Python objects
    assert batch.matrix(["a", "b"]) is matrix
    assert all(batch.columns[f].dtype == np.float64 and np.shares_memory(batch.columns[f], matrix) for f in ("a", "b"))
    assert batch.columns["b"].tolist() == [3.5, 2.9, 3.1]


def test_an_integer_tensor_for_integer_fields_is_validated_as_one_array():
    fields = [Field(name="rooms", type="integer"), Field(name="floor", type="integer")]
    parsed = _tensor_batch({"x": np.array([[3, 1], [4, 2]], dtype=np.int32)}, fields)
    assert parsed.batch.columns["rooms"].dtype == np.int64
    assert parsed.batch.columns["floor"].tolist() == [1, 2]


@pytest.mark.parametrize(
    "arrays, fields",
    [
        ({"a": np.zeros((2, 2))}, AB),  # named after a field: per-column inputs
        ({"x": np.zeros((2, 3))}, AB),  # a width other than the fields'
        ({"x": np.zeros((2, 2, 1))}, AB),
        ({"x": np.array([["1", "2"]], dtype=object)}, AB),
        ({"x": np.zeros((2, 2)), "y": np.zeros((2, 2))}, AB),
        ({"x": np.zeros((2, 2))}, [Field(name="a", type="double"), Field(name="s", type="string")]),
        ({"x": np.zeros((2, 1))}, [Field(name="v", type="tensor(double)", shape=[1])]),
    ],
)
def test_anything_but_one_numeric_n_by_k_tensor_for_k_numeric_fields_takes_the_per_field_path(arrays, fields):
    assert _tensor_batch(arrays, fields) is None


def test_a_tensor_value_out_of_a_fields_range_is_reported_by_the_per_field_path_naming_field_and_row():
    fields = [Field(name="a", type="double", interval={"max": 10}), Field(name="b", type="double")]
    body = request({"name": "x", "shape": [2, 2], "datatype": "FP64", "data": [1, 2, 11, 4]})
    with pytest.raises(InvalidInput) as caught:
        parse_inputs(body, None, fields)
    assert caught.value.details == {"fields": {"a": "must be at most 10, got 11"}, "row": 1}


def test_named_per_column_tensors_become_one_column_each():
    columns, n_rows = to_columns({"a": np.array([1.0, 2.0]), "b": np.array([[3.0], [4.0]])}, AB)
    assert n_rows == 2
    assert {k: v.tolist() for k, v in columns.items()} == {"a": [1.0, 2.0], "b": [3.0, 4.0]}


def test_a_named_tensor_input_keeps_one_array_per_row():
    fields = [Field(name="v", type="tensor(float)", shape=[3])]
    columns, n_rows = to_columns({"v": np.arange(6, dtype=np.float32).reshape(2, 3)}, fields)
    assert n_rows == 2
    assert [row.tolist() for row in columns["v"]] == [[0, 1, 2], [3, 4, 5]]


def test_one_unnamed_tensor_is_split_into_the_fields_in_schema_order():
    columns, n_rows = to_columns({"input-0": np.array([[1.0, 2.0], [3.0, 4.0]])}, AB)
    assert n_rows == 2
    assert columns["a"].tolist() == [1.0, 3.0] and columns["b"].tolist() == [2.0, 4.0]


def test_one_tensor_of_the_wrong_width_is_refused_naming_the_input_and_the_fields():
    with pytest.raises(InvalidInput) as caught:
        to_columns({"input-0": np.zeros((2, 3))}, AB)
    assert caught.value.message == (
        "Input 'input-0' has shape [2, 3]; this model takes one input per field (a, b) or one [N, 2] tensor "
        "with the fields in that order."
    )


def test_per_column_tensors_of_different_lengths_are_refused():
    with pytest.raises(InvalidInput) as caught:
        to_columns({"a": np.zeros(2), "b": np.zeros(3)}, AB)
    assert caught.value.message == "Inputs have different numbers of rows: [2, 3]."


def test_unknown_inputs_are_refused_naming_them_and_the_models_inputs():
    with pytest.raises(InvalidInput) as caught:
        to_columns({"a": np.zeros(2), "weight": np.zeros(2)}, AB)
    assert caught.value.message == "Unknown input(s) weight; the model's inputs are a, b."


def test_a_per_column_tensor_of_several_values_per_row_is_refused_naming_the_input():
    """A field takes one value per row: [N, 3] for it would silently lose two of every three."""
    with pytest.raises(InvalidInput) as caught:
        to_columns({"a": np.zeros((2, 3)), "b": np.zeros(2)}, AB)
    assert caught.value.message == "Input 'a' has shape [2, 3]; the field a takes one value per row: shape [N] or [N, 1]."
    assert caught.value.details == {"input": "a", "shape": [2, 3]}


def test_a_wrong_datatype_for_a_field_is_refused_naming_the_field():
    body = request(
        {"name": "a", "shape": [1], "datatype": "BYTES", "data": ["tall"]},
        {"name": "b", "shape": [1], "datatype": "FP64", "data": [1.0]},
    )
    with pytest.raises(InvalidInput) as caught:
        parse_inputs(body, None, AB)
    assert caught.value.details == {"fields": {"a": "expected a number, got 'tall'"}, "row": 0}


# ---- output_tensors -----------------------------------------------------------------


def version(model_type: str) -> SimpleNamespace:
    return SimpleNamespace(model_type=model_type)


def test_a_classifiers_answer_is_a_bytes_label_and_an_fp64_probability_matrix():
    prediction = Prediction(predictions=["setosa", "virginica"], probabilities=np.array([[0.9, 0.1], [0.2, 0.8]], dtype=np.float32))
    label, probabilities = output_tensors(prediction, version("classification"))
    assert label == {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["setosa", "virginica"]}
    assert (probabilities["name"], probabilities["datatype"], probabilities["shape"]) == ("probabilities", "FP64", [2, 2])
    assert probabilities["data"].dtype == np.float64
    assert np.allclose(probabilities["data"], [0.9, 0.1, 0.2, 0.8])


def test_integer_class_labels_are_int64_and_no_probabilities_means_no_second_tensor():
    (label,) = output_tensors(Prediction(predictions=[0, 2, 1]), version("classification"))
    assert (label["datatype"], label["shape"], label["data"].tolist()) == ("INT64", [3], [0, 2, 1])


def test_a_regression_answer_is_an_fp64_prediction_tensor():
    (tensor,) = output_tensors(Prediction(predictions=[1.5, 2]), version("regression"))
    assert (tensor["name"], tensor["datatype"], tensor["shape"], tensor["data"].tolist()) == ("prediction", "FP64", [2], [1.5, 2.0])


def test_a_clustering_answer_is_an_int64_cluster_tensor():
    (tensor,) = output_tensors(Prediction(predictions=[np.int32(1), np.int32(0)]), version("clustering"))
    assert (tensor["name"], tensor["datatype"], tensor["data"].tolist()) == ("cluster", "INT64", [1, 0])


def test_a_generic_models_named_outputs_each_become_a_tensor():
    rows = [{"embedding": [0.5, 1.0], "ok": True}, {"embedding": [2.0, 3.0], "ok": False}]
    embedding, ok = output_tensors(Prediction(predictions=rows), version("other"))
    assert (embedding["name"], embedding["datatype"], embedding["shape"]) == ("embedding", "FP64", [2, 2])
    assert embedding["data"].tolist() == [0.5, 1.0, 2.0, 3.0]
    assert (ok["datatype"], ok["data"].tolist()) == ("BOOL", [True, False])


# ---- build_response -----------------------------------------------------------------


def tensors() -> list[dict]:
    prediction = Prediction(predictions=["yes", "no"], probabilities=np.array([[0.25, 0.75], [0.5, 0.5]]))
    return output_tensors(prediction, version("classification"))


def test_a_json_answer_names_the_deployment_and_version_and_echoes_the_request_id():
    body, json_size = build_response({"id": "req-7"}, tensors(), DEPLOYMENT)
    assert json_size is None
    answer = orjson.loads(body)
    assert (answer["model_name"], answer["model_version"], answer["id"]) == ("iris-prod", "3", "req-7")
    assert answer["outputs"][0] == {"name": "label", "datatype": "BYTES", "shape": [2], "data": ["yes", "no"]}
    assert answer["outputs"][1]["data"] == [0.25, 0.75, 0.5, 0.5]


def test_binary_output_for_all_tensors_follows_the_json_part_whose_length_is_returned():
    body, json_size = build_response({"parameters": {"binary_data_output": True}}, tensors(), DEPLOYMENT)
    answer = orjson.loads(body[:json_size])
    label, probabilities = answer["outputs"]
    assert "data" not in label and "data" not in probabilities
    label_size, probabilities_size = label["parameters"]["binary_data_size"], probabilities["parameters"]["binary_data_size"]
    assert json_size + label_size + probabilities_size == len(body)
    blob = body[json_size:]
    assert blob[:label_size] == struct.pack("<I", 3) + b"yes" + struct.pack("<I", 2) + b"no"
    assert np.frombuffer(blob[label_size:], dtype=np.float64).tolist() == [0.25, 0.75, 0.5, 0.5]


def test_requested_outputs_choose_the_tensors_and_which_of_them_are_binary():
    header = {"outputs": [{"name": "probabilities", "parameters": {"binary_data": True}}]}
    body, json_size = build_response(header, tensors(), DEPLOYMENT)
    (probabilities,) = orjson.loads(body[:json_size])["outputs"]
    assert probabilities["name"] == "probabilities"
    assert np.frombuffer(body[json_size:], dtype=np.float64).reshape(probabilities["shape"]).tolist() == [[0.25, 0.75], [0.5, 0.5]]


def test_requested_outputs_without_binary_data_are_answered_in_json():
    body, json_size = build_response({"outputs": [{"name": "label"}]}, tensors(), DEPLOYMENT)
    assert json_size is None
    assert [o["name"] for o in orjson.loads(body)["outputs"]] == ["label"]


def test_an_unknown_requested_output_is_refused_naming_the_available_ones():
    with pytest.raises(InvalidInput) as caught:
        build_response({"outputs": [{"name": "label"}, {"name": "logits"}]}, tensors(), DEPLOYMENT)
    assert caught.value.message == "Unknown output(s) logits; available: label, probabilities."


@pytest.mark.parametrize(
    "data", [[1.5, 2, None, "3.25"], [[1.0, 2.0], [3.0, 4.0]], [True, False, 0.5, 1e300], ["x", 1.0, 2.0, 3.0]]
)
def test_a_flat_fp64_list_reads_as_numpy_reads_it(data):
    """The fast reader of flat FP64 data gives np.array's values, and leaves to it what it cannot read."""
    body = orjson.dumps({"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP64", "data": data}]})
    try:
        expected = np.array(data, dtype=np.float64).reshape(2, 2)
    except ValueError:
        with pytest.raises(InvalidInput):
            parse_request(body, None)
        return
    _header, arrays = parse_request(body, None)
    np.testing.assert_array_equal(arrays["x"], expected)
