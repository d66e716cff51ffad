"""MLflow models: a ZIP of an MLflow model directory (MLmodel + artifacts) imported as a version.

This is how most teams already keep their models. The flavor's own artifact (the XGBoost,
LightGBM, CatBoost or ONNX file, or the scikit-learn pickle or skops file) is taken out of
the ZIP and stored as the version's file, in its real format, so serving is the normal
runtime and nothing of MLflow runs here. The signature (input and output schema) and the
input example come along: the example is the probe at upload and the Test tab's sample.

MLmodel is YAML, read with yaml.safe_load: no mlflow package is needed. A model with
only the python_function flavor is Python code that MLflow would run, and is refused.
"""

import hashlib
import json
import re
import uuid
import zipfile
from pathlib import PurePosixPath

import yaml
from django.conf import settings
from django.utils.translation import gettext as _

from core.errors import InvalidInput, InvalidModel, TooLarge
from models_registry import artifacts
from models_registry.files import member_infos
from models_registry.schema import ModelInfo

# Flavors whose artifact mlserve serves, in the order one is preferred, with the key that
# names the artifact in the flavor's MLmodel section.
FLAVORS = {"onnx": "data", "xgboost": "data", "lightgbm": "data", "catboost": "data", "sklearn": "pickled_model"}
MAX_MLMODEL_BYTES = 1_000_000
MAX_EXAMPLE_BYTES = 1_000_000
MAX_EXAMPLE_ROWS = 100
# Names a runtime makes up when the artifact has none: MLflow's signature knows better.
GENERIC_NAME = re.compile(r"^(x|f|Column_|feature_|)\d+$")
RENAMABLE_FORMATS = {"xgboost", "lightgbm", "skops", "pickle"}


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, what: str) -> bytes:
    if info.file_size > limit:
        raise TooLarge(
            _("The MLflow model's %(what)s is %(size)s MB; at most %(limit)s MB is accepted.")
            % {"what": what, "size": f"{info.file_size / 1e6:.1f}", "limit": f"{limit / 1e6:.1f}"}
        )
    try:
        with archive.open(info) as member:
            data = member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
        raise InvalidModel(
            _("The MLflow model's %(what)s (%(member)s) cannot be read from the ZIP: %(error)s") % {"what": what, "member": info.filename, "error": exc}
        ) from None
    if len(data) > limit:
        raise TooLarge(_("The MLflow model's %(what)s unpacks to more than %(limit)s MB.") % {"what": what, "limit": f"{limit / 1e6:.1f}"})
    return data


def _mlmodel(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> tuple[dict, str]:
    """The parsed MLmodel file and the folder it is in ('' or 'model/')."""
    found = [i for i in infos if PurePosixPath(i.filename).name == "MLmodel"]
    if len(found) != 1:
        raise InvalidModel(
            _("The ZIP holds %(count)s MLmodel files; zip exactly one MLflow model directory.") % {"count": len(found)},
            code="invalid_mlflow_model",
        )
    text = _read(archive, found[0], MAX_MLMODEL_BYTES, _("MLmodel file"))
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidModel(_("The MLmodel file is not valid YAML: %(error)s") % {"error": exc}, code="invalid_mlflow_model") from None
    except RecursionError:
        raise InvalidModel(_("The MLmodel file is not valid YAML: it nests too deeply."), code="invalid_mlflow_model") from None
    if not isinstance(document, dict) or not isinstance(document.get("flavors"), dict):
        raise InvalidModel(_("The MLmodel file has no 'flavors' section: it is not an MLflow model."), code="invalid_mlflow_model")
    folder = str(PurePosixPath(found[0].filename).parent)
    return document, "" if folder == "." else folder + "/"


def _flavor(flavors: dict) -> str:
    for name in FLAVORS:
        if isinstance(flavors.get(name), dict):
            return name
    names = ", ".join(sorted(flavors)) or _("none")
    if set(flavors) <= {"python_function"}:
        loader = (flavors.get("python_function") or {}).get("loader_module") or _("a custom PythonModel")
        raise InvalidModel(
            _(
                "This MLflow model has only the python_function flavor (loaded by %(loader)s): it is Python code that "
                "MLflow runs, not a model file mlserve can load and check. Log the model with the flavor of its "
                "library (mlflow.sklearn, mlflow.xgboost, mlflow.lightgbm, mlflow.catboost or mlflow.onnx) and upload that."
            )
            % {"loader": loader},
            code="unsupported_flavor",
            details={"flavors": sorted(flavors)},
        )
    raise InvalidModel(
        _("This MLflow model's flavors (%(names)s) are not ones mlserve serves. Supported: %(supported)s.")
        % {"names": names, "supported": ", ".join(FLAVORS)},
        code="unsupported_flavor",
        details={"flavors": sorted(flavors)},
    )


def _member(by_name: dict, folder: str, relative, what: str) -> zipfile.ZipInfo:
    if not isinstance(relative, str) or not relative:
        raise InvalidModel(_("The MLmodel file does not name the %(what)s.") % {"what": what}, code="invalid_mlflow_model")
    path = PurePosixPath(folder + relative.replace("\\", "/"))
    if ".." in path.parts or path.is_absolute():
        raise InvalidModel(
            _("The MLmodel file names the %(what)s as %(path)s, outside the model directory.") % {"what": what, "path": repr(relative)},
            code="invalid_mlflow_model",
        )
    info = by_name.get(str(path))
    if info is None:
        inside = [n for n in by_name if n.startswith(str(path) + "/")]
        message = (
            _("The %(what)s %(path)s named in MLmodel is a folder, not one file.")
            if inside
            else _("The %(what)s %(path)s named in MLmodel is missing from the ZIP.")
        )
        raise InvalidModel(message % {"what": what, "path": repr(relative)}, code="invalid_mlflow_model")
    return info


def _signature(document: dict) -> dict | None:
    signature = document.get("signature")
    if not isinstance(signature, dict):
        return None
    parsed = {}
    for key in ("inputs", "outputs"):
        value = signature.get(key)
        try:
            parsed[key] = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            parsed[key] = None
    return parsed if any(isinstance(v, list) for v in parsed.values()) else None


def _example(archive: zipfile.ZipFile, by_name: dict, folder: str, document: dict) -> dict | None:
    """The input example as a request body mlserve reads (MLflow's own scoring formats)."""
    info = document.get("saved_input_example_info")
    if not isinstance(info, dict):
        return None
    serving = info.get("serving_input_path")
    for relative in filter(None, [serving, info.get("artifact_path")]):
        member = by_name.get(folder + str(relative))
        if member is None:
            continue
        try:
            data = json.loads(_read(archive, member, MAX_EXAMPLE_BYTES, _("input example")))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError, TooLarge):
            return None
        body = _as_request(data, info, relative == serving)
        if body is not None:
            return body
    return None


def _as_request(data, info: dict, is_serving_body: bool) -> dict | None:
    if isinstance(data, dict) and len(data) == 1 and next(iter(data)) in ("dataframe_split", "dataframe_records", "inputs", "instances"):
        body = data
    elif is_serving_body:
        return None
    elif info.get("type") == "dataframe" and isinstance(data, dict) and "data" in data:
        body = {"dataframe_split": {"columns": data.get("columns"), "data": data["data"]}}
    elif info.get("type") == "dataframe" and isinstance(data, list):
        body = {"dataframe_records": data}
    else:
        return None
    key, rows = next(iter(body.items()))
    rows_list = rows.get("data") if isinstance(rows, dict) and key == "dataframe_split" else rows
    if isinstance(rows_list, list) and len(rows_list) > MAX_EXAMPLE_ROWS:
        return None
    return body


def _stage_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> artifacts.StagedFile:
    """The artifact, copied out of the ZIP into the staging area (hashed, within the upload limit)."""
    limit = settings.MLSERVE_MAX_UPLOAD_SIZE
    if info.file_size > limit:
        raise TooLarge(
            _("The model file %(member)s in the ZIP is %(size)s MB; the upload limit is %(limit)s MB (MLSERVE_MAX_UPLOAD_SIZE).")
            % {"member": info.filename, "size": f"{info.file_size / 1e6:.1f}", "limit": f"{limit / 1e6:.1f}"},
        )
    target = artifacts.staging_dir() / f"upload-{uuid.uuid4().hex}"
    digest, size = hashlib.sha256(), 0
    try:
        with archive.open(info) as member, open(target, "wb") as out:
            for chunk in iter(lambda: member.read(1 << 20), b""):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(
                        _("The model file %(member)s unpacks to more than the upload limit of %(limit)s MB.")
                        % {"member": info.filename, "limit": f"{limit / 1e6:.1f}"}
                    )
                digest.update(chunk)
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
        target.unlink(missing_ok=True)
        raise InvalidModel(
            _("The model file %(member)s cannot be read from the ZIP (damaged?): %(error)s") % {"member": info.filename, "error": exc}
        ) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size == 0:
        target.unlink(missing_ok=True)
        raise InvalidModel(_("The model file %(member)s in the ZIP is empty.") % {"member": info.filename}, code="empty_file")
    return artifacts.StagedFile(path=target, sha256=digest.hexdigest(), size=size, filename=PurePosixPath(info.filename).name)


def extract(staged: artifacts.StagedFile) -> tuple[artifacts.StagedFile, dict]:
    """The flavor's artifact, staged on its own, and what the version keeps of the MLflow model."""
    try:
        archive = zipfile.ZipFile(staged.path)
    except zipfile.BadZipFile as exc:
        raise InvalidModel(_("The ZIP archive is damaged: %(error)s") % {"error": exc}) from None
    with archive:
        try:
            infos = member_infos(archive, staged.filename)
        except InvalidInput as exc:
            raise InvalidModel(exc.message, code="invalid_mlflow_model") from None
        by_name = {i.filename: i for i in infos}
        document, folder = _mlmodel(archive, infos)
        flavor = _flavor(document["flavors"])
        conf = document["flavors"][flavor]
        member = _member(by_name, folder, conf.get(FLAVORS[flavor]), _("%(flavor)s model file") % {"flavor": flavor})
        meta = {
            "flavor": flavor,
            "flavors": sorted(document["flavors"]),
            "artifact": member.filename,
            "mlflow_version": str(document.get("mlflow_version", "")),
            "run_id": str(document.get("run_id") or ""),
            "model_uuid": str(document.get("model_uuid") or ""),
            "created": str(document.get("utc_time_created") or ""),
            "flavor_config": {k: v for k, v in conf.items() if isinstance(v, (str, int, float, bool)) or v is None},
        }
        signature = _signature(document)
        if signature:
            meta["signature"] = signature
        example = _example(archive, by_name, folder, document)
        if example is not None:
            meta["input_example"] = example
        return _stage_member(archive, member), meta


def apply_signature(info: ModelInfo, meta: dict) -> bool:
    """Take the signature's column names where the artifact has only made-up ones (x0, f1,
    Column_2: a model fitted on an array), and which columns it says are optional; True when
    the input names changed (the predictor must then be built again with them)."""
    columns = (meta.get("signature") or {}).get("inputs")
    if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        return False
    named = [c for c in columns if c.get("name") and c.get("type") != "tensor"]
    renamed = False
    if (
        info.format in RENAMABLE_FORMATS
        and len(named) == len(columns) == len(info.inputs)
        and all(GENERIC_NAME.match(f.name) for f in info.inputs)
        and len({c["name"] for c in named}) == len(named)
    ):
        for field, column in zip(info.inputs, named):
            field.description = field.description or f"{field.name} in the model file"
            field.name = str(column["name"])
        renamed = True
    by_name = {str(c.get("name")): c for c in named}
    for field in info.inputs:
        column = by_name.get(field.name)
        if column is None:
            continue
        if column.get("required") is False:
            field.required = False
    return renamed


def refusal_hint(meta: dict, exc: InvalidModel) -> str | None:
    """What to do instead, when the flavor's artifact is one mlserve refuses for a known reason."""
    if meta["flavor"] == "lightgbm" and exc.code == "untrusted_types":
        # MLflow 3 saves LightGBM's scikit-learn wrappers with skops; loading one would hand an
        # unchecked model string to LightGBM.
        return _(
            "(MLflow saved this LightGBM scikit-learn wrapper with skops.) Log the booster instead, "
            "mlflow.lightgbm.log_model(model.booster_, ...), or upload model.booster_.save_model(...)."
        )
    return None
