"""ONNX models on onnxruntime: data only, safe to load."""

from pathlib import Path

import numpy as np

from mlserve.errors import InvalidModel
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
        raise InvalidModel(f"onnxruntime could not load this model (corrupt, truncated or unsupported): {text}") from exc


def _graph_classes(path: Path) -> tuple[list | None, str, dict]:
    """Class labels written into the graph by converters (ZipMap or *Classifier nodes), and metadata."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except MemoryError:
        raise  # over the runner's memory budget: said as such by the runner
    except Exception as exc:
        raise InvalidModel(f"This is not a valid ONNX file (it does not parse as an ONNX protobuf): {exc}") from exc
    classes = None
    ops = []
    for node in model.graph.node:
        ops.append(node.op_type)
        if node.op_type in CLASSIFIER_OPS and classes is None:
            for attr in node.attribute:
                if attr.name in LABEL_ATTRIBUTES:
                    values = list(attr.ints) if attr.ints else [s.decode() for s in attr.strings]
                    if values:
                        classes = values
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    meta = {
        "producer": f"{model.producer_name} {model.producer_version}".strip(),
        "ir_version": model.ir_version,
        "opsets": opsets,
        "main_ops": sorted({op for op in ops if op not in ("Cast", "Identity", "Reshape", "Concat")})[:12],
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


def _input_field(meta) -> tuple[Field, dict]:
    if meta.type not in ELEMENT_TYPES:
        raise InvalidModel(f"Input {meta.name!r} has type {meta.type}, which mlserve cannot feed.")
    scalar, _ = ELEMENT_TYPES[meta.type]
    dims = [_dim(d) for d in meta.shape]
    plan = {"name": meta.name, "onnx_type": meta.type, "dims": dims}
    if len(dims) <= 1 or (len(dims) == 2 and dims[1] == 1):
        # One value per row: [N] or [N, 1].
        field = Field(name=meta.name, type=scalar, optype="categorical" if scalar == "string" else "continuous")
    else:
        field = Field(name=meta.name, type=f"tensor({scalar})", shape=dims[1:])
    return field, plan


def _output_role(meta, classes) -> str:
    if meta.type.startswith("seq(map("):
        return "probability_map"
    if meta.type in ("tensor(int64)", "tensor(string)", "tensor(int32)") and len(meta.shape) == 1 and classes:
        return "label"
    if meta.type == "tensor(float)" and len(meta.shape) == 2 and classes and meta.shape[1] in (len(classes), None):
        return "probability_tensor"
    return "tensor"


def inspect(path: Path, fmt: str = "onnx") -> tuple[ModelInfo, "OnnxPredictor"]:
    import onnxruntime as ort

    classes, algorithm, meta = _graph_classes(path)
    session = _session(path)
    inputs, plans = [], []
    for item in session.get_inputs():
        field, plan = _input_field(item)
        inputs.append(field)
        plans.append(plan)
    if not inputs:
        raise InvalidModel("The ONNX graph has no inputs to feed.")

    roles = {o.name: _output_role(o, classes) for o in session.get_outputs()}
    has_label = "label" in roles.values()
    has_proba = any(r in ("probability_map", "probability_tensor") for r in roles.values())
    if has_label and classes:
        model_type = "classification"
        label_type = "string" if isinstance(classes[0], str) else "integer"
        outputs = class_output_fields(classes, label_type) if has_proba else class_output_fields(classes, label_type)[:1]
    else:
        classes = None
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
                    proba = np.array([[row[c] for c in self.classes] for row in value], dtype=np.float64)
                elif role == "probability_tensor":
                    proba = np.asarray(value, dtype=np.float64)
            return Prediction(predictions=labels, probabilities=proba, classes=self.classes)
        if self.model_type == "regression":
            return Prediction(predictions=np.asarray(results[self.output_names[0]]).reshape(batch.n_rows, -1)[:, 0].tolist())
        rows = []
        for i in range(batch.n_rows):
            rows.append({name: _jsonable(results[name][i]) for name in self.output_names})
        return Prediction(predictions=rows)


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
