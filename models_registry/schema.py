"""The fields a model takes and returns, as stored on a ModelVersion (JSON)."""

from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

# Scalar types a field may have; tensor fields are "tensor(<element type>)".
NUMERIC_TYPES = {"float", "double", "integer"}
SCALAR_TYPES = NUMERIC_TYPES | {"string", "boolean"}
# "text": free text a model tokenises itself (a TfidfVectorizer pipeline, a CatBoost text feature).
OPTYPES = ("continuous", "categorical", "ordinal", "text")


@dataclass
class Field:
    name: str
    type: str
    optype: str = "continuous"
    # Per-row shape of a tensor field (e.g. [4] or [1, 28, 28]); None for a scalar.
    # Dimensions the artifact leaves open are kept as strings ("batch", "N").
    shape: list | None = None
    values: list | None = None
    interval: dict | None = None  # {"min": .., "max": ..}, either side may be missing
    required: bool = True
    description: str = ""
    # Output fields only: what the value is (label, probability, value, cluster, tensor).
    role: str = ""
    # Output probability fields: the class they belong to.
    label: Any = None
    # What a tensor input holds when the artifact says so ("image"): it then takes image files.
    media: str = ""

    @cached_property
    def is_tensor(self) -> bool:
        return self.type.startswith("tensor(")

    @property
    def element_type(self) -> str:
        return self.type[len("tensor(") : -1] if self.is_tensor else self.type

    def to_dict(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k in self.__dataclass_fields__}
        for key in ("shape", "values", "interval", "label"):
            if data[key] is None:
                del data[key]
        for key in ("role", "media"):
            if not data[key]:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "Field":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def fields_to_json(fields: list[Field]) -> list[dict]:
    return [f.to_dict() for f in fields]


def fields_from_json(data: list[dict]) -> list[Field]:
    return [Field.from_dict(d) for d in data or []]


@dataclass
class ModelInfo:
    """What inspecting an artifact tells about the model."""

    format: str
    model_type: str  # classification, regression, clustering, other
    algorithm: str
    engine: str
    engine_version: str
    inputs: list[Field]
    outputs: list[Field]
    classes: list | None = None
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = {k: getattr(self, k) for k in self.__dataclass_fields__}
        data["inputs"], data["outputs"] = fields_to_json(self.inputs), fields_to_json(self.outputs)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ModelInfo":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["inputs"], known["outputs"] = fields_from_json(known.get("inputs")), fields_from_json(known.get("outputs"))
        return cls(**known)


def class_output_fields(classes: list, label_type: str) -> list[Field]:
    """The outputs every classifier answers with: the label and one probability per class."""
    fields = [Field(name="label", type=label_type, optype="categorical", values=list(classes), role="label")]
    fields += [
        Field(name=f"probability({c})", type="double", interval={"min": 0, "max": 1}, role="probability", label=c)
        for c in classes
    ]
    return fields


def python_scalar(value):
    """numpy scalars to plain Python, so schemas and answers serialise as JSON."""
    return value.item() if hasattr(value, "item") else value
