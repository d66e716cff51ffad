"""Two versions of a model side by side: how their schemas differ, and how their answers
differ on the same rows.

A read: nothing is stored. Trying the rows runs both versions in their runners, as the
Test tab does, so it only happens when asked (a POST), never on a page load."""

import math

from django.utils.translation import gettext as _

from core.errors import ApplicationError
from models_registry import prediction
from models_registry.models import ModelVersion
from models_registry.samples import sample_value
from models_registry.schema import Field

COMPARED_ATTRIBUTES = ("type", "optype", "shape", "interval", "values", "required")
SAMPLE_ROWS = 5
MAX_COMPARED_ROWS = 100


def _field_changes(a: Field, b: Field) -> dict:
    changes = {}
    for attribute in COMPARED_ATTRIBUTES:
        before, after = getattr(a, attribute), getattr(b, attribute)
        if before != after:
            changes[attribute] = {"a": before, "b": after}
    return changes


def _fields_diff(a_fields: list[Field], b_fields: list[Field]) -> dict:
    a_by_name = {f.name: f for f in a_fields}
    b_by_name = {f.name: f for f in b_fields}
    changed = []
    for name in a_by_name.keys() & b_by_name.keys():
        changes = _field_changes(a_by_name[name], b_by_name[name])
        if changes:
            changed.append({"name": name, "changes": changes})
    return {
        "added": [f.name for f in b_fields if f.name not in a_by_name],
        "removed": [f.name for f in a_fields if f.name not in b_by_name],
        "changed": sorted(changed, key=lambda item: item["name"]),
    }


def schema_diff(a: ModelVersion, b: ModelVersion) -> dict:
    """What changed from version a to version b: fields added or removed, a field's type, shape,
    range or allowed values, and the model's kind, algorithm and classes."""
    inputs = _fields_diff(a.input_fields, b.input_fields)
    outputs = _fields_diff(a.output_fields, b.output_fields)
    model = {}
    for attribute in ("format", "model_type", "algorithm", "engine"):
        if getattr(a, attribute) != getattr(b, attribute):
            model[attribute] = {"a": getattr(a, attribute), "b": getattr(b, attribute)}
    a_classes, b_classes = a.classes or [], b.classes or []
    classes = {
        "added": [c for c in b_classes if c not in a_classes],
        "removed": [c for c in a_classes if c not in b_classes],
    }
    same = not model and not any(inputs.values()) and not any(outputs.values()) and not any(classes.values())
    return {"same": same, "model": model, "inputs": inputs, "outputs": outputs, "classes": classes}


def _spread_value(field: Field, i: int):
    """The i-th of a few values across the field's range or allowed values."""
    if field.values:
        return field.values[i % len(field.values)]
    interval = field.interval or {}
    low, high = interval.get("min"), interval.get("max")
    if not field.is_tensor and low is not None and high is not None and field.type in ("float", "double", "integer"):
        value = low + (high - low) * i / max(1, SAMPLE_ROWS - 1)
        return int(math.floor(value)) if field.type == "integer" else round(value, 6)
    return sample_value(field)


def sample_rows(a: ModelVersion, b: ModelVersion) -> list[dict]:
    """A few rows that fill every input of either version, spread over their ranges."""
    fields = {f.name: f for f in b.input_fields} | {f.name: f for f in a.input_fields}
    return [{name: _spread_value(field, i) for name, field in fields.items()} for i in range(SAMPLE_ROWS)]


def _answer(version: ModelVersion, rows: list[dict]) -> dict:
    try:
        result = prediction.predict(version, data={"inputs": rows}, max_rows=MAX_COMPARED_ROWS)
    except ApplicationError as exc:
        return {"error": exc.as_dict()["error"]}
    body = result.body
    return {"predictions": body.get("predictions", []), "probabilities": body.get("probabilities")}


def _same(x, y) -> bool:
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-9)
    return x == y


def answers(a: ModelVersion, b: ModelVersion, rows: list[dict] | None = None) -> dict:
    """Both versions' answers on the same rows (sample rows when none are given); a version
    that refuses the rows says why instead."""
    if rows is None:
        rows = sample_rows(a, b)
    if not isinstance(rows, list) or not rows or not all(isinstance(row, dict) for row in rows):
        raise ApplicationError(_("Rows to compare on are a non-empty list of records {field: value}."), code="invalid_input")
    if len(rows) > MAX_COMPARED_ROWS:
        raise ApplicationError(_("Compare on at most %(n)d rows.") % {"n": MAX_COMPARED_ROWS}, code="too_many_rows")
    answer_a, answer_b = _answer(a, rows), _answer(b, rows)
    agree = None
    if "predictions" in answer_a and "predictions" in answer_b:
        agree = sum(1 for x, y in zip(answer_a["predictions"], answer_b["predictions"], strict=False) if _same(x, y))
    return {"rows": rows, "a": answer_a, "b": answer_b, "agree": agree}
