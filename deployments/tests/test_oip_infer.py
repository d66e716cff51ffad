"""POST /v2/models/{name}/infer with values a tensor's datatype cannot hold: a 400 that names
the input and the datatype's range, never a 500 (issue 12, item 6)."""

import pytest

from deployments.models import MetricBucket


def infer(api, datatype: str, values: list):
    body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": datatype, "data": values}]}
    return api.post("/v2/models/iris/infer", body, format="json")


@pytest.mark.parametrize(
    "datatype, value, limits",
    [
        ("INT8", 1000, "-128 to 127"),
        ("INT8", -129, "-128 to 127"),
        ("UINT8", -1, "0 to 255"),
        ("INT16", 40_000, "-32768 to 32767"),
        ("UINT32", 2**32, "0 to 4294967295"),
        ("INT64", 2**70, "-9223372036854775808 to 9223372036854775807"),
    ],
)
def test_a_value_outside_the_datatype_is_a_400_naming_the_input_and_range(api, iris, datatype, value, limits):
    response = infer(api, datatype, [value, 1, 1, 1])
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "value_out_of_range"
    assert "'input'" in body["error"] and datatype in body["error"] and limits in body["error"]


def test_a_number_beyond_float64_is_refused_by_the_one_json_parser_saying_the_limit(api, iris):
    """10**400 cannot be parsed into any number the platform holds, so every door answers the
    same malformed_request, naming the limit, before an input is looked at."""
    response = infer(api, "FP64", [10**400, 1, 1, 1])
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "malformed_request"
    assert "1.7976931348623157e+308" in body["error"] and "line 1" in body["error"]


def test_the_same_datatype_within_its_range_predicts(api, iris):
    response = infer(api, "INT8", [5, 3, 1, 0])
    assert response.status_code == 200, response.content
    assert response.json()["outputs"][0]["name"] == "label"


def test_an_out_of_range_call_is_counted_as_a_client_error(api, iris):
    from deployments import metrics

    infer(api, "INT8", [1000, 1, 1, 1])
    metrics.flush()
    assert MetricBucket.objects.get().by_status == {"400": 1}
