"""PMML 4.x documents, evaluated by PMML4S (through pypmml, on a JVM beside the process).

The schema is read from the XML itself with defusedxml (no DOCTYPE, no entities,
no network), which also vets the document before the JVM sees it. The JVM is started
with external DTD/entity/schema access switched off as well (mlserve.settings), so a
document that slipped past this check still fetches nothing.

By PMML's semantics a model's prediction is its target field's value, whether or not
the <Output> lists a predictedValue field (sklearn2pmml lists only the probabilities):
a classifier's label is then the most probable class, and a regression's value is
asked of the evaluator by adding the missing output field to the document it reads.
"""

import re
import threading
import xml.parsers.expat
from pathlib import Path

import numpy as np
import orjson

from core.errors import InvalidModel, Unavailable, without_paths
from models_registry.runtimes import ENGINE_OPTIONS, Batch, Prediction, pmml_refusals
from models_registry.schema import Field, ModelInfo, class_output_fields, python_scalar

MODEL_ELEMENTS = {
    "AnomalyDetectionModel",
    "AssociationModel",
    "BayesianNetworkModel",
    "BaselineModel",
    "ClusteringModel",
    "GaussianProcessModel",
    "GeneralRegressionModel",
    "MiningModel",
    "NaiveBayesModel",
    "NearestNeighborModel",
    "NeuralNetwork",
    "RegressionModel",
    "RuleSetModel",
    "Scorecard",
    "SequenceModel",
    "SupportVectorMachineModel",
    "TextModel",
    "TimeSeriesModel",
    "TreeModel",
}
DATA_TYPES = {
    "string": "string",
    "integer": "integer",
    "float": "float",
    "double": "double",
    "boolean": "boolean",
}
INPUT_USAGE = {"active"}
_jvm_lock = threading.Lock()


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element, name: str):
    return [c for c in element if _local(c.tag) == name]


def _child(element, name: str):
    return next(iter(_children(element, name)), None)


def parse_document(path: Path):
    """The PMML root element, parsed safely; entity tricks and non-PMML XML are refused."""
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    try:
        # Any DOCTYPE is refused: even one that declares no entity names a DTD the JVM would fetch.
        root = SafeET.parse(str(path), forbid_dtd=True, forbid_entities=True, forbid_external=True).getroot()
    except DefusedXmlException as exc:
        raise InvalidModel(
            f"The XML has a DOCTYPE (a DTD, entities or external references: {type(exc).__name__}), which mlserve "
            "refuses for safety. Real PMML exporters never write one: remove the DOCTYPE/ENTITY declarations.",
            code="unsafe_xml",
        ) from exc
    except Exception as exc:
        raise InvalidModel(f"The file is not well-formed XML: {without_paths(str(exc))}") from exc
    if _local(root.tag) != "PMML":
        raise InvalidModel(f"This XML document's root element is <{_local(root.tag)}>, not <PMML>: it is not a PMML model.")
    return root


def _value_field(dd_field, mining) -> Field:
    name = dd_field.get("name")
    data_type = dd_field.get("dataType", "string")
    optype = (mining.get("optype") if mining is not None else None) or dd_field.get("optype", "continuous")
    kind = DATA_TYPES.get(data_type, "string")
    values = [v.get("value") for v in _children(dd_field, "Value") if v.get("property", "valid") == "valid"]
    if values and kind in ("integer", "float", "double"):
        values = [_number(v, kind) for v in values]
    interval = None
    intervals = _children(dd_field, "Interval")
    if intervals:
        lows = [float(i.get("leftMargin")) for i in intervals if i.get("leftMargin") is not None]
        highs = [float(i.get("rightMargin")) for i in intervals if i.get("rightMargin") is not None]
        interval = {}
        if lows:
            interval["min"] = min(lows)
        if highs:
            interval["max"] = max(highs)
        interval = interval or None
    description = ""
    extension = _child(dd_field, "Extension")
    if extension is not None and extension.get("name") == "description":
        description = extension.get("value", "")
    return Field(
        name=name,
        type=kind,
        optype=optype,
        values=values or None,
        interval=interval,
        required=mining is None or mining.get("missingValueReplacement") is None,
        description=description,
    )


def _number(text: str, kind: str):
    try:
        return int(text) if kind == "integer" else float(text)
    except ValueError:
        return text


def read_schema(root) -> dict:
    """Inputs, targets and model facts from the XML, without evaluating anything."""
    dictionary = _child(root, "DataDictionary")
    if dictionary is None:
        raise InvalidModel("The PMML document has no DataDictionary, so its input fields are unknown.")
    data_fields = {f.get("name"): f for f in _children(dictionary, "DataField")}
    model = next((c for c in root if _local(c.tag) in MODEL_ELEMENTS), None)
    if model is None:
        raise InvalidModel(
            "The PMML document holds no model element (TreeModel, RegressionModel, MiningModel, NeuralNetwork, ...)."
        )
    schema = _child(model, "MiningSchema")
    if schema is None:
        raise InvalidModel(f"The <{_local(model.tag)}> has no MiningSchema, so its inputs are unknown.")
    inputs, targets = [], []
    for mining in _children(schema, "MiningField"):
        name = mining.get("name")
        usage = mining.get("usageType", "active")
        dd_field = data_fields.get(name)
        if dd_field is None:
            continue  # a derived field: computed inside the model
        if usage in INPUT_USAGE:
            inputs.append(_value_field(dd_field, mining))
        elif usage in ("target", "predicted"):
            targets.append(_value_field(dd_field, mining))
    version = root.get("version", "")
    algorithm = _local(model.tag)
    if model.get("algorithmName"):
        algorithm += f" ({model.get('algorithmName')})"
    segmentation = _child(model, "Segmentation")
    if segmentation is not None:
        segments = _children(segmentation, "Segment")
        inner = {_local(c.tag) for s in segments for c in s if _local(c.tag) in MODEL_ELEMENTS}
        algorithm += f": {len(segments)} segments of {', '.join(sorted(inner)) or 'models'}, {segmentation.get('multipleModelMethod', '')}"
    application = _child(_child(root, "Header") if _child(root, "Header") is not None else root, "Application")
    output = _child(model, "Output")
    features = [f.get("feature", "predictedValue") for f in _children(output, "OutputField")] if output is not None else []
    return {
        "has_output": output is not None,
        "outputs_predicted_value": "predictedValue" in features,
        "outputs_probability": "probability" in features,
        "function": model.get("functionName", ""),
        "model_element": _local(model.tag),
        "model_name": model.get("modelName", ""),
        "algorithm": algorithm,
        "pmml_version": version,
        "inputs": inputs,
        "targets": targets,
        "producer": " ".join(filter(None, [application.get("name"), application.get("version")])) if application is not None else "",
    }


def _pmml_context():
    """The per-process JVM that PMML4S runs in, started on first use."""
    try:
        from pypmml.base import PMMLContext
    except ImportError as exc:  # pragma: no cover - pypmml is a pinned dependency
        raise Unavailable("PMML support is not installed (pypmml).") from exc
    with _jvm_lock:
        java_opts = ENGINE_OPTIONS["java_opts"].split()
        try:
            return PMMLContext.getOrCreate(java_opts=java_opts, java_path=ENGINE_OPTIONS["java_path"])
        except Exception as exc:
            raise Unavailable(
                "PMML models need a Java runtime (JDK/JRE 11 or newer) on this server, and starting it failed: "
                f"{without_paths(str(exc))}. Install Java (e.g. 'apt-get install default-jre-headless') or set MLSERVE_JAVA_PATH.",
                code="engine_unavailable",
            ) from exc


def _load_model(path: Path, add_predicted: dict | None = None):
    """The evaluator's model; add_predicted (name, dataType, optype) adds that predictedValue
    output field to the document first, for a model whose <Output> does not list one."""
    _pmml_context()
    from pypmml import Model

    try:
        if add_predicted:
            return Model.fromString(_document_with_predicted_value(path, add_predicted))
        return Model.fromFile(str(path))
    except Exception as exc:
        message, details = pmml_refusals.explain(path, exc)
        raise InvalidModel(message, details=details) from exc


OUTPUT_START = re.compile(rb"""<([\w.:-]*)Output\b(?:[^>"']|"[^"]*"|'[^']*')*?(/?)>""")


def _document_with_predicted_value(path: Path, field: dict) -> str:
    """The document's text with one more OutputField in the top-level model's <Output>."""
    data = path.read_bytes()
    offsets = []
    parser = xml.parsers.expat.ParserCreate()
    depth = [0]

    def start(name, attrs):
        depth[0] += 1
        # <PMML> is depth 1, the model element depth 2, its <Output> depth 3.
        if depth[0] == 3 and name.rsplit(":", 1)[-1] == "Output" and not offsets:
            offsets.append(parser.CurrentByteIndex)

    def end(name):
        depth[0] -= 1

    parser.StartElementHandler, parser.EndElementHandler = start, end
    parser.Parse(data, True)
    match = OUTPUT_START.match(data, offsets[0])
    prefix = match.group(1).decode()
    added = (
        f'<{prefix}OutputField name="{field["name"]}" feature="predictedValue" '
        f'dataType="{field["dataType"]}" optype="{field["optype"]}"/>'
    ).encode()
    if match.group(2):  # <Output/>
        replacement = f"<{prefix}Output>".encode() + added + f"</{prefix}Output>".encode()
    else:
        replacement = match.group(0) + added
    text = data[: match.start()] + replacement + data[match.end() :]
    try:
        return text.decode("utf-8-sig")
    except UnicodeDecodeError:
        return text.decode("latin-1")


def _predicted_field(schema: dict, function: str) -> dict | None:
    """The predictedValue output to add: when the <Output> lists none, and no probabilities
    either for a classifier (with probabilities, the label is their most probable class)."""
    if not schema["has_output"] or schema["outputs_predicted_value"] or not schema["targets"]:
        return None
    if function == "classification" and schema["outputs_probability"]:
        return None
    if function not in ("classification", "regression"):
        return None
    target = schema["targets"][0]
    data_type = {"integer": "integer", "float": "float", "double": "double", "boolean": "boolean"}.get(target.type, "string")
    optype = "continuous" if function == "regression" else "categorical"
    return {"name": f"mlserve_predicted({target.name})", "dataType": data_type, "optype": optype}


def _engine_version() -> str:
    import pypmml

    jars = Path(pypmml.__file__).parent / "jars"
    pmml4s = next((p.name for p in jars.glob("pmml4s_*.jar")), "")
    return pmml4s.split("-", 1)[-1].removesuffix(".jar") if pmml4s else pypmml.__version__


def _output_fields(model, function: str, classes) -> tuple[list[Field], dict]:
    """Our output schema, and which evaluator column feeds the label and each probability."""
    columns = {"label": None, "probabilities": {}, "value": None, "cluster": None}
    others = []
    for out in model.outputFields:
        feature = str(out.feature)
        if feature == "predictedValue" and columns["label"] is None and columns["value"] is None:
            columns["label" if function == "classification" else "value"] = out.name
        elif feature == "probability" and out.value is not None:
            columns["probabilities"][str(out.value)] = out.name
        elif feature in ("entityId", "clusterId") and columns["cluster"] is None:
            columns["cluster"] = out.name
        else:
            others.append(Field(name=out.name, type=DATA_TYPES.get(str(out.dataType), "string"), role="other"))
    if function == "classification" and classes:
        label_type = "integer" if all(isinstance(c, int) for c in classes) else "string"
        outputs = class_output_fields(classes, label_type)
        if not columns["probabilities"]:
            outputs = outputs[:1]
    elif function == "clustering":
        outputs = [Field(name="cluster", type="string", optype="categorical", role="cluster")]
    else:
        outputs = [Field(name="prediction", type="double", role="value")]
    return outputs + others, columns


def inspect(path: Path, fmt: str = "pmml") -> tuple[ModelInfo, "PmmlPredictor"]:
    root = parse_document(path)
    schema = read_schema(root)
    if not schema["inputs"]:
        raise InvalidModel("The PMML model declares no active input fields in its MiningSchema.")
    add_predicted = _predicted_field(schema, schema["function"])
    model = _load_model(path, add_predicted)
    function = schema["function"] or str(model.functionName)
    classes = None
    if function == "classification":
        classes = [python_scalar(c) for c in (model.classes or [])]
        target = schema["targets"][0] if schema["targets"] else None
        if target is not None and target.type == "integer":
            classes = [_number(str(c), "integer") for c in classes]
    outputs, columns = _output_fields(model, function, classes)
    model_type = {"classification": "classification", "regression": "regression", "clustering": "clustering"}.get(
        function, "other"
    )
    details = {
        "pmml_version": schema["pmml_version"],
        "model_element": schema["model_element"],
        "model_name": schema["model_name"],
        "producer": schema["producer"],
        "targets": [t.to_dict() for t in schema["targets"]],
        "output_columns": columns,
    }
    if add_predicted:
        details["added_output"] = add_predicted
    elif function == "classification" and columns["label"] is None and columns["probabilities"]:
        details["label_from"] = "the most probable class (the <Output> lists probabilities only)"
    info = ModelInfo(
        format="pmml",
        model_type=model_type,
        algorithm=schema["algorithm"],
        engine="PMML4S (pypmml)",
        engine_version=_engine_version(),
        inputs=schema["inputs"],
        outputs=outputs,
        classes=classes,
        details=details,
    )
    return info, PmmlPredictor(model, info)


class PmmlPredictor:
    def __init__(self, model, info: ModelInfo):
        self.model = model
        self.model_type = info.model_type
        self.classes = info.classes
        self.names = [f.name for f in info.inputs]
        self.columns = info.details["output_columns"]
        self.extra = [f.name for f in info.outputs if f.role == "other"]

    def predict(self, batch: Batch) -> Prediction:
        # PMML4S reads a JSON table ("split" orientation); orjson keeps every digit
        # (pandas' to_json would round inputs to 10) and writes NaN as null (missing).
        rows = [[_json_value(batch.columns[n][i]) for n in self.names] for i in range(batch.n_rows)]
        request = orjson.dumps({"columns": self.names, "data": rows}).decode()
        try:
            answer = orjson.loads(self.model.call("predict", request))
        except Exception as exc:
            text = " ".join(str(a) for a in getattr(exc, "args", ()) if a) or type(exc).__name__
            raise InvalidModel(
                f"The PMML evaluator failed on this input: {without_paths(text)[:500]}", code="prediction_failed"
            ) from exc
        index = {name: i for i, name in enumerate(answer["columns"])}
        result = {name: [row[i] for row in answer["data"]] for name, i in index.items()}
        if self.model_type == "classification":
            label_col = self.columns["label"]
            proba = None
            if self.columns["probabilities"]:
                proba = np.column_stack(
                    [np.asarray(result[self.columns["probabilities"][str(c)]], dtype=np.float64) for c in self.classes]
                )
            if label_col:
                labels = [_label(v, self.classes) for v in result[label_col]]
            elif proba is not None:
                labels = _most_probable(proba, self.classes)
            else:
                labels = [None] * batch.n_rows
            return Prediction(predictions=labels, probabilities=proba, classes=self.classes)
        if self.model_type == "clustering" and self.columns["cluster"]:
            return Prediction(predictions=[python_scalar(v) for v in result[self.columns["cluster"]]])
        if self.columns["value"]:
            return Prediction(predictions=[None if _missing(v) else float(v) for v in result[self.columns["value"]]])
        return Prediction(predictions=[dict(zip(answer["columns"], row)) for row in answer["data"]])


def _most_probable(proba: np.ndarray, classes: list) -> list:
    """The target's value by PMML's rule for classifiers: the class of highest probability
    (the first of the target's categories on a tie); none when the evaluator gave none."""
    labels = []
    for row in proba:
        if np.isnan(row).all():
            labels.append(None)
        else:
            labels.append(classes[int(np.nanargmax(row))])
    return labels


def _json_value(value):
    if isinstance(value, np.float32):
        # The decimal that was sent (5.1), not its float32 widened to 5.099999904632568: PMML4S
        # compares inputs with the document's thresholds in double precision.
        return None if np.isnan(value) else float(str(value))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _label(value, classes):
    """The evaluator's label, typed like the class list (PMML4S may answer '1' for class 1)."""
    if _missing(value):
        return None
    value = python_scalar(value)
    if classes and value not in classes:
        for c in classes:
            if str(c) == str(value):
                return c
    return value


def load(path: Path, info: ModelInfo) -> PmmlPredictor:
    return PmmlPredictor(_load_model(path, info.details.get("added_output")), info)
