"""ONNX models on onnxruntime: data only, safe to load.

A classifier is told by its outputs, whatever op computes it: a label tensor beside a
probability tensor [N, K] or a ZipMap, or a single softmax [N, K]. Its class names come
from the model's metadata when it has them (metadata_props "classes", "class_names" or
"labels"), else from the graph (classifier ops, ZipMap, the class array skl2onnx puts
before its label), else they are 0..K-1.
"""

import json
import re
from pathlib import Path

import numpy as np

from core.errors import InvalidModel, without_paths
from models_registry.runtimes import ENGINE_OPTIONS, Batch, Prediction
from models_registry.schema import Field, ModelInfo, class_output_fields, python_scalar

# ONNX element types -> (our scalar type, numpy dtype)
ELEMENT_TYPES = {
    "tensor(float)": ("float", np.float32),
    "tensor(double)": ("double", np.float64),
    "tensor(float16)": ("float", np.float16),
    "tensor(int64)": ("integer", np.int64),
    "tensor(int32)": ("integer", np.int32),
    "tensor(int16)": ("integer", np.int16),
    "tensor(int8)": ("integer", np.int8),
    "tensor(uint8)": ("integer", np.uint8),
    "tensor(uint16)": ("integer", np.uint16),
    "tensor(uint32)": ("integer", np.uint32),
    "tensor(uint64)": ("integer", np.uint64),
    "tensor(bool)": ("boolean", np.bool_),
    "tensor(string)": ("string", np.object_),
}
CLASSIFIER_OPS = {"LinearClassifier", "TreeEnsembleClassifier", "SVMClassifier", "ZipMap"}
LABEL_ATTRIBUTES = ("classlabels_int64s", "classlabels_ints", "classlabels_strings")
CLASS_METADATA_KEYS = ("classes", "class_names", "labels", "classlabels", "class_labels")
LABEL_TYPES = ("tensor(int64)", "tensor(int32)", "tensor(string)")
PROBABILITY_TYPES = ("tensor(float)", "tensor(double)")
PROBABILITY_NAME = re.compile(r"(?i)prob|score|softmax|confidence")
# Inputs that say they are images: ONNX's IMAGE type denotation, or a name like these.
IMAGE_DENOTATION = "IMAGE"


def _dim(d):
    """A dimension as the artifact states it: a number, or the symbolic name (None when unnamed)."""
    return d if isinstance(d, int) else (d or None)


def _session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = ENGINE_OPTIONS["onnx_threads"]
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except MemoryError:
        raise  # over the runner's memory budget: said as such by the runner
    except Exception as exc:
        text = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
        raise InvalidModel(
            f"onnxruntime could not load this model (corrupt, truncated or unsupported): {without_paths(text)}"
        ) from exc


def _metadata_classes(model) -> list | None:
    """Class names written into the model's metadata: a JSON list, a JSON {index: name}, or a comma list."""
    props = {p.key.lower(): p.value for p in model.metadata_props}
    for key in CLASS_METADATA_KEYS:
        text = props.get(key)
        if not text:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            value = [v.strip() for v in text.split(",") if v.strip()]
        if isinstance(value, dict):
            try:
                value = [value[k] for k in sorted(value, key=lambda k: int(k))]
            except (TypeError, ValueError):
                continue
        if isinstance(value, list) and value and all(isinstance(v, (str, int)) for v in value):
            return value
    return None


def _extractor_classes(model) -> list | None:
    """The class array skl2onnx feeds to ArrayFeatureExtractor to turn the argmax into the label."""
    from onnx import numpy_helper

    constants = {t.name: t for t in model.graph.initializer if len(t.dims) == 1}
    for node in model.graph.node:
        if node.op_type == "ArrayFeatureExtractor" and node.input and node.input[0] in constants:
            values = numpy_helper.to_array(constants[node.input[0]]).tolist()
            return [v.decode() if isinstance(v, bytes) else v for v in values]
    return None


def _softmax_outputs(model) -> set[str]:
    """Graph outputs computed by a Softmax (through Identity or Cast nodes)."""
    producer = {o: n for n in model.graph.node for o in n.output}
    found = set()
    for output in model.graph.output:
        node = producer.get(output.name)
        while node is not None and node.op_type in ("Identity", "Cast"):
            node = producer.get(node.input[0])
        if node is not None and node.op_type == "Softmax":
            found.add(output.name)
    return found


def _image_inputs(model) -> set[str]:
    """Inputs the model itself says are images (type denotation IMAGE, a DATA_CHANNEL dimension,
    or Image.* metadata as Windows ML writes it, for a model with one input)."""
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    found = set()
    for item in inputs:
        tensor = item.type.tensor_type
        if item.type.denotation == IMAGE_DENOTATION or any(d.denotation == "DATA_CHANNEL" for d in tensor.shape.dim):
            found.add(item.name)
    if len(inputs) == 1 and any(p.key.startswith("Image.") for p in model.metadata_props):
        found.add(inputs[0].name)
    return found


def _graph_classes(path: Path) -> tuple[list | None, str, dict]:
    """Class labels the model carries (metadata, or written into the graph by converters), and facts."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except MemoryError:
        raise  # over the runner's memory budget: said as such by the runner
    except Exception as exc:
        raise InvalidModel(
            f"This is not a valid ONNX file (it does not parse as an ONNX protobuf): {without_paths(str(exc))}"
        ) from exc
    classes = _metadata_classes(model)
    source = "metadata" if classes else None
    ops = []
    for node in model.graph.node:
        ops.append(node.op_type)
        if node.op_type in CLASSIFIER_OPS and classes is None:
            for attr in node.attribute:
                if attr.name in LABEL_ATTRIBUTES:
                    values = list(attr.ints) if attr.ints else [s.decode() for s in attr.strings]
                    if values:
                        classes, source = values, "graph"
    if classes is None:
        classes = _extractor_classes(model)
        source = "graph" if classes else None
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    meta = {
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "ir_version": model.ir_version,
        "opsets": opsets,
        "main_ops": sorted({op for op in ops if op not in ("Cast", "Identity", "Reshape", "Concat")})[:12],
        "class_source": source,
        "softmax_outputs": sorted(_softmax_outputs(model)),
        "image_inputs": sorted(_image_inputs(model)),
    }
    return classes, _algorithm_name(ops), meta


def _algorithm_name(ops: list[str]) -> str:
    ml_ops = [op for op in ops if op.endswith(("Classifier", "Regressor")) or op in ("Scaler", "Normalizer", "OneHotEncoder")]
    core = [op for op in ops if op.endswith(("Classifier", "Regressor"))]
    if core:
        return core[-1] + (f" (with {', '.join(dict.fromkeys(op for op in ml_ops if op not in core))})" if len(ml_ops) > len(core) else "")
    if any(op in ("Conv", "Gemm", "MatMul") for op in ops):
        kinds = [op for op in ("Conv", "Gemm", "MatMul", "LSTM", "GRU", "Attention") if op in ops]
        return f"Neural network ({', '.join(kinds)})"
    return "ONNX graph (" + ", ".join(dict.fromkeys(ops[:5])) + ")"


def _input_field(meta, image_inputs=()) -> tuple[Field, dict]:
    if meta.type not in ELEMENT_TYPES:
        raise InvalidModel(f"Input {meta.name!r} has type {meta.type}, which mlserve cannot feed.")
    scalar, _ = ELEMENT_TYPES[meta.type]
    dims = [_dim(d) for d in meta.shape]
    plan = {"name": meta.name, "onnx_type": meta.type, "dims": dims}
    if len(dims) <= 1 or (len(dims) == 2 and dims[1] == 1):
        # One value per row: [N] or [N, 1].
        field = Field(name=meta.name, type=scalar, optype="categorical" if scalar == "string" else "continuous")
    else:
        field = Field(name=meta.name, type=f"tensor({scalar})", shape=dims[1:], media="image" if meta.name in image_inputs else "")
    return field, plan


def _width(meta) -> int | None:
    return meta.shape[1] if len(meta.shape) == 2 and isinstance(meta.shape[1], int) else None


def _output_roles(outputs, classes, softmax: set) -> tuple[dict, list | None]:
    """Each output's role, and the classes, when the outputs are a classifier's: a label beside
    probabilities (a tensor [N, K] or a ZipMap), or a lone softmax [N, K]."""
    labels = [o for o in outputs if o.type in LABEL_TYPES and (len(o.shape) == 1 or (len(o.shape) == 2 and o.shape[1] == 1))]
    maps = [o for o in outputs if o.type.startswith("seq(map(")]
    tensors = [o for o in outputs if o.type in PROBABILITY_TYPES and len(o.shape) == 2]
    probability = None
    if len(tensors) == 1 and (classes or labels or tensors[0].name in softmax):
        probability = tensors[0]
    elif len(tensors) > 1:
        named = [t for t in tensors if t.name in softmax or PROBABILITY_NAME.search(t.name)]
        probability = named[0] if len(named) == 1 else None
    known = classes is not None
    width = _width(probability) if probability is not None else None
    if classes is None and width:
        classes = list(range(width))
    if classes is not None and width not in (None, len(classes)):
        probability = None  # its columns are not the classes
    label = labels[0] if len(labels) == 1 else None
    if label is not None and (probability is not None or maps):
        is_classifier = classes is not None
    elif label is not None:
        is_classifier = known  # a label alone, the classes written in the graph (an SVM without probabilities)
    else:
        is_classifier = probability is not None and probability.name in softmax and len(outputs) == 1
    if not is_classifier:
        return {o.name: "tensor" for o in outputs}, None
    roles = {}
    for o in outputs:
        if label is not None and o.name == label.name:
            roles[o.name] = "label"
        elif o.name in {m.name for m in maps}:
            roles[o.name] = "probability_map"
        elif probability is not None and o.name == probability.name:
            roles[o.name] = "probability_tensor"
        else:
            roles[o.name] = "tensor"
    return roles, classes


def inspect(path: Path, fmt: str = "onnx") -> tuple[ModelInfo, "OnnxPredictor"]:
    import onnxruntime as ort

    classes, algorithm, meta = _graph_classes(path)
    session = _session(path)
    inputs, plans = [], []
    for item in session.get_inputs():
        field, plan = _input_field(item, meta["image_inputs"])
        inputs.append(field)
        plans.append(plan)
    if not inputs:
        raise InvalidModel("The ONNX graph has no inputs to feed.")

    roles, classes = _output_roles(session.get_outputs(), classes, set(meta["softmax_outputs"]))
    if classes is not None:
        model_type = "classification"
        label_type = "string" if any(isinstance(c, str) for c in classes) else "integer"
        has_proba = any(r in ("probability_map", "probability_tensor") for r in roles.values())
        outputs = class_output_fields(classes, label_type) if has_proba else class_output_fields(classes, label_type)[:1]
        if meta["class_source"] == "metadata" or "label" not in roles.values():
            meta["label_from"] = "probabilities"  # the most probable of the named classes
    else:
        outputs = []
        for o in session.get_outputs():
            scalar = ELEMENT_TYPES.get(o.type, (o.type, None))[0]
            dims = [_dim(d) for d in o.shape] if o.type.startswith("tensor(") else None
            per_row = dims[1:] if dims else None
            if per_row in ([], [1]):
                outputs.append(Field(name=o.name, type=scalar, role="value"))
            else:
                outputs.append(Field(name=o.name, type=f"tensor({scalar})" if dims else o.type, shape=per_row, role="tensor"))
        single_value = len(outputs) == 1 and outputs[0].role == "value"
        model_type = "regression" if single_value and outputs[0].type in ("float", "double") else "other"
    details = {**meta, "input_plan": plans, "output_roles": roles}
    info = ModelInfo(
        format="onnx",
        model_type=model_type,
        algorithm=algorithm,
        engine="onnxruntime",
        engine_version=ort.__version__,
        inputs=inputs,
        outputs=outputs,
        classes=classes,
        details=details,
    )
    return info, OnnxPredictor(session, info)


class OnnxPredictor:
    def __init__(self, session, info: ModelInfo):
        self.session = session
        self.model_type = info.model_type
        self.classes = info.classes
        self.plans = info.details["input_plan"]
        self.roles = info.details["output_roles"]
        self.label_from_probabilities = info.details.get("label_from") == "probabilities"
        self.output_names = [o.name for o in session.get_outputs()]

    def _feed(self, batch: Batch) -> dict:
        feed = {}
        for plan in self.plans:
            dtype = ELEMENT_TYPES[plan["onnx_type"]][1]
            column = batch.columns[plan["name"]]
            array = np.asarray(column, dtype=dtype) if dtype is not np.object_ else np.asarray(column, dtype=object)
            if len(plan["dims"]) == 2 and plan["dims"][1] == 1:
                array = array.reshape(-1, 1)
            feed[plan["name"]] = array
        return feed

    def _fixed_batch_of_one(self) -> bool:
        return any(plan["dims"] and plan["dims"][0] == 1 for plan in self.plans)

    def _run(self, batch: Batch) -> list:
        if self._fixed_batch_of_one() and batch.n_rows != 1:
            # The graph takes exactly one row: run it row by row and stitch the answers.
            parts = [self.session.run(None, self._feed(_row(batch, i))) for i in range(batch.n_rows)]
            return [_concat([p[k] for p in parts]) for k in range(len(self.output_names))]
        return self.session.run(None, self._feed(batch))

    def predict(self, batch: Batch) -> Prediction:
        results = dict(zip(self.output_names, self._run(batch)))
        if self.model_type == "classification":
            labels = proba = None
            for name, role in self.roles.items():
                value = results[name]
                if role == "label":
                    labels = [python_scalar(v) for v in value]
                elif role == "probability_map":
                    proba = _map_probabilities(value, self.classes)
                elif role == "probability_tensor":
                    proba = np.asarray(value, dtype=np.float64)
            if proba is not None and (labels is None or self.label_from_probabilities):
                labels = [self.classes[i] for i in proba.argmax(axis=1)]
            return Prediction(predictions=labels, probabilities=proba, classes=self.classes)
        if self.model_type == "regression":
            return Prediction(predictions=np.asarray(results[self.output_names[0]]).reshape(batch.n_rows, -1)[:, 0].tolist())
        rows = []
        for i in range(batch.n_rows):
            rows.append({name: _jsonable(results[name][i]) for name in self.output_names})
        return Prediction(predictions=rows)


def _map_probabilities(rows: list[dict], classes: list) -> np.ndarray:
    """ZipMap's dicts as columns in class order; by position when the classes are names from
    the metadata and the ZipMap's keys are the graph's own labels."""
    try:
        return np.array([[row[c] for c in classes] for row in rows], dtype=np.float64)
    except KeyError:
        return np.array([list(row.values()) for row in rows], dtype=np.float64)


def _row(batch: Batch, i: int) -> Batch:
    return Batch(columns={k: v[i : i + 1] for k, v in batch.columns.items()}, n_rows=1)


def _concat(parts):
    if isinstance(parts[0], list):
        return [x for p in parts for x in p]
    return np.concatenate(parts, axis=0)


def _jsonable(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {python_scalar(k): python_scalar(v) for k, v in value.items()}
    return python_scalar(value)


def load(path: Path, info: ModelInfo) -> OnnxPredictor:
    return OnnxPredictor(_session(path), info)
