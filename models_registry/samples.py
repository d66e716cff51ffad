"""A valid example record for any schema: the probe prediction at upload, the
test form's "fill with a sample" button and the JSON prefill all use it."""

import math

from core.errors import InvalidInput
from models_registry.inputs import parse_json_body
from models_registry.schema import Field


def _concrete_shape(shape: list | None) -> list[int]:
    # Symbolic dimensions ("N", None) get 1: the smallest valid size.
    return [d if isinstance(d, int) and d > 0 else 1 for d in (shape or [])]


def _nested(shape: list[int], value):
    if not shape:
        return value
    return [_nested(shape[1:], value) for _ in range(shape[0])]


def sample_value(field: Field):
    if field.values:
        return field.values[0]
    if field.is_tensor:
        element = field.element_type
        zero = "" if element == "string" else False if element == "boolean" else 0 if element == "integer" else 0.0
        return _nested(_concrete_shape(field.shape), zero)
    interval = field.interval or {}
    low, high = interval.get("min"), interval.get("max")
    if field.type in ("float", "double"):
        if low is not None and high is not None:
            return (low + high) / 2
        if low is not None:
            return float(low)
        if high is not None:
            return float(min(high, 0.0))
        return 0.0
    if field.type == "integer":
        if low is not None and high is not None:
            return int(math.floor((low + high) / 2))
        if low is not None:
            return int(math.ceil(low))
        if high is not None:
            return int(min(math.floor(high), 0))
        return 0
    if field.type == "boolean":
        return False
    return "a"


def sample_record(fields: list[Field]) -> dict:
    return {f.name: sample_value(f) for f in fields}


def example_record(version) -> dict:
    """The record the Test tab fills in: the first row of the model's own input example (an
    MLflow model's), when it has one that fits the schema, else a sample built from the schema."""
    fields = version.input_fields
    example = ((version.details or {}).get("mlflow") or {}).get("input_example")
    if example is not None:
        try:
            parsed = parse_json_body(example, fields)
        except InvalidInput:
            parsed = None
        if parsed is not None and parsed.batch.n_rows:
            return {f.name: _plain(parsed.batch.columns[f.name][0]) for f in fields}
    return sample_record(fields)


def _plain(value):
    return value.tolist() if hasattr(value, "tolist") else value
