"""Writes for the model registry: upload, new version, edit, delete.

Pages, the API and management commands all call these, so a model is validated,
stored and removed the same way wherever it comes from.
"""

import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from accounts.models import User
from core.errors import ApplicationError, Conflict, InvalidModel, NameTaken, NotAllowed, TooLarge
from core.limits import DESCRIPTION_MAX_CHARS, FIELD_DESCRIPTION_MAX_CHARS, checked_text
from core.ttl_cache import announce_change
from models_registry import artifact_cache, artifacts, mlflow_models, prediction, scripts
from models_registry.images import clean_config, image_field
from models_registry.models import NAME_VALIDATOR, ModelVersion, RegisteredModel, artifact_path
from models_registry.runners import client
from models_registry.runtimes import CODE_FORMATS
from models_registry.runtimes.detect import detect_format
from models_registry.schema import ModelInfo, fields_from_json, fields_to_json
from models_registry.validation import inspect_artifact

log = logging.getLogger(__name__)

CODE_PERMISSION = "models_registry.upload_code"


def can_upload_code(user: User) -> bool:
    return user.has_perm(CODE_PERMISSION)


# Page paths that a model name would shadow (/models/new/).
RESERVED_NAMES = {"new"}


def validate_model_name(name: str) -> str:
    name = (name or "").strip()
    try:
        NAME_VALIDATOR(name)
        if name.lower() in RESERVED_NAMES:
            raise ValidationError("reserved")
    except ValidationError:
        raise ApplicationError(
            _("Invalid model name '%(name)s': %(rule)s") % {"name": name, "rule": NAME_VALIDATOR.message},
            code="invalid_name",
            details={"fields": {"name": str(NAME_VALIDATOR.message)}},
        ) from None
    return name


def _inspect_staged(staged: artifacts.StagedFile, user: User) -> tuple[artifacts.StagedFile, str, str, ModelInfo]:
    """The artifact's format and schema (it loaded and predicted in a runner). An MLflow model's
    ZIP gives way to its flavor's artifact, staged on its own: that file, in its real format, is
    what is kept."""
    fmt, extension = detect_format(staged.path, staged.filename)
    if fmt != "mlflow":
        return (staged, *_inspect_file(staged, fmt, extension, user))
    inner, mlflow = mlflow_models.extract(staged)
    staged.discard()
    try:
        fmt, extension = detect_format(inner.path, inner.filename)
        if fmt == "mlflow":
            raise InvalidModel(_("The MLflow model's artifact is itself a ZIP of an MLflow model."), code="invalid_mlflow_model")
        inner.filename = staged.filename  # the name the user knows; details["mlflow"] names the artifact
        return (inner, *_inspect_file(inner, fmt, extension, user, mlflow))
    except BaseException:
        inner.discard()
        raise


def _inspect_file(
    staged: artifacts.StagedFile, fmt: str, extension: str, user: User, mlflow: dict | None = None
) -> tuple[str, str, ModelInfo]:
    # Some engines (xgboost) tell JSON from UBJSON by the file's extension.
    staged.path = staged.path.rename(staged.path.with_suffix(extension))
    if fmt in CODE_FORMATS and not can_upload_code(user):
        raise NotAllowed(
            _(
                "Pickle and joblib files run code when they are loaded, so only users with the "
                "'upload code' permission may upload them. Save the model with skops (skops.io.dump) "
                "or convert it to ONNX (skl2onnx), and upload that instead."
            )
            + (" " + _("(This MLflow model's artifact is a pickle.)") if mlflow else ""),
            code="code_upload_forbidden",
        )
    if mlflow is None:
        return fmt, extension, inspect_artifact(staged.path, fmt, extension)
    try:
        info = inspect_artifact(
            staged.path, fmt, extension,
            adjust=lambda info: mlflow_models.apply_signature(info, mlflow), probe=mlflow.get("input_example"),
        )
    except InvalidModel as exc:
        hint = mlflow_models.refusal_hint(mlflow, exc)
        if hint:
            raise InvalidModel(f"{exc.message} {hint}", code=exc.code, details=exc.details) from exc
        raise
    info.details["mlflow"] = mlflow
    return fmt, extension, info


def _store_version(
    *, model: RegisteredModel, number: int, staged: artifacts.StagedFile, fmt: str, extension: str, info: ModelInfo, user: User
) -> ModelVersion:
    """Create the version row and move the file in; both or neither (call inside a transaction)."""
    version = ModelVersion(
        model=model,
        number=number,
        original_filename=staged.filename[:255],
        sha256=staged.sha256,
        format=fmt,
        size=staged.size,
        model_type=info.model_type,
        algorithm=info.algorithm[:300],
        engine=info.engine,
        engine_version=info.engine_version,
        inputs=fields_to_json(info.inputs),
        outputs=fields_to_json(info.outputs),
        classes=info.classes,
        details=info.details,
        uploaded_by=user,
    )
    name = artifact_path(version, f"{staged.sha256[:16]}{extension}")
    version.artifact.name = name
    version.save()
    artifacts.keep(staged, name)
    return version


def _upload(*, model: RegisteredModel | None, owner: User, name: str, description: str, upload) -> ModelVersion:
    uploaded = staged = artifacts.stage_upload(upload)
    stored_name = None
    try:
        staged, fmt, extension, info = _inspect_staged(staged, owner)
        try:
            with transaction.atomic():
                if model is None:
                    model = RegisteredModel.objects.create(owner=owner, name=name, description=description)
                    next_number = 1
                else:
                    # Lock the model row so two uploads cannot take the same number.
                    RegisteredModel.objects.select_for_update().filter(pk=model.pk).first()
                    last = model.versions.order_by("-number").values_list("number", flat=True).first() or 0
                    next_number = last + 1
                version = _store_version(
                    model=model, number=next_number, staged=staged, fmt=fmt, extension=extension, info=info, user=owner
                )
                stored_name = version.artifact.name
        except IntegrityError:
            if stored_name:
                artifacts.remove([stored_name])
            raise NameTaken(
                _("You already have a model named '%(name)s'; choose another name or upload a new version.") % {"name": name}
            ) from None
        except BaseException:
            if stored_name:
                artifacts.remove([stored_name])
            raise
    finally:
        uploaded.discard()
        staged.discard()
    log.info("model %s v%s uploaded by %s (%s, %s)", model.name, version.number, owner, fmt, info.algorithm)
    return version


def model_create(*, owner: User, name: str, upload, description: str = "") -> ModelVersion:
    """Register a new model from an uploaded file; returns its first version."""
    name = validate_model_name(name)
    description = checked_text(description, field="description", limit=DESCRIPTION_MAX_CHARS)
    if RegisteredModel.objects.filter(owner=owner, name=name).exists():
        raise NameTaken(_("You already have a model named '%(name)s'; choose another name or upload a new version.") % {"name": name})
    return _upload(model=None, owner=owner, name=name, description=description, upload=upload)


def model_version_add(*, model: RegisteredModel, user: User, upload) -> ModelVersion:
    return _upload(model=model, owner=user, name=model.name, description="", upload=upload)


FIELD_EDITABLE = ("description", "interval", "values", "required")


def _apply_field_edits(fields: list[dict], edits: dict) -> list[dict]:
    fields = fields_from_json(fields)
    by_name = {f.name: f for f in fields}
    unknown = sorted(set(edits) - set(by_name))
    if unknown:
        raise ApplicationError(
            _("Unknown field(s): %(unknown)s. The model's fields are: %(fields)s.") % {"unknown": ", ".join(unknown), "fields": ", ".join(by_name)},
            code="invalid_request",
        )
    for name, change in edits.items():
        field = by_name[name]
        if not isinstance(change, dict):
            raise ApplicationError(_("The edit for field '%(name)s' must be an object.") % {"name": name}, code="invalid_request")
        bad_keys = sorted(set(change) - set(FIELD_EDITABLE))
        if bad_keys:
            raise ApplicationError(
                _("Field '%(name)s': only %(editable)s can be edited, not %(bad)s.")
                % {"name": name, "editable": ", ".join(FIELD_EDITABLE), "bad": ", ".join(bad_keys)},
                code="invalid_request",
            )
        if "description" in change:
            field.description = checked_text(
                change["description"] or "", field=f"{name}: description", limit=FIELD_DESCRIPTION_MAX_CHARS
            )
        if "interval" in change:
            field.interval = _clean_interval(name, field, change["interval"])
        if "values" in change:
            field.values = _clean_values(name, field, change["values"])
        if "required" in change:
            field.required = bool(change["required"])
    return fields_to_json(fields)


def _clean_interval(name: str, field, interval):
    if interval in (None, {}):
        return None
    if field.type not in ("float", "double", "integer"):
        raise ApplicationError(
            _("Field '%(name)s' is %(type)s: only numeric fields have a range.") % {"name": name, "type": field.type}, code="invalid_request"
        )
    if not isinstance(interval, dict) or set(interval) - {"min", "max"}:
        raise ApplicationError(_("Field '%(name)s': a range is {'min': number, 'max': number}.") % {"name": name}, code="invalid_request")
    cleaned = {}
    for key in ("min", "max"):
        value = interval.get(key)
        if value is None or value == "":
            continue
        try:
            cleaned[key] = float(value)
        except (TypeError, ValueError):
            raise ApplicationError(
                _("Field '%(name)s': range %(key)s must be a number, got %(value)s.") % {"name": name, "key": key, "value": repr(value)},
                code="invalid_request",
            ) from None
    if "min" in cleaned and "max" in cleaned and cleaned["min"] > cleaned["max"]:
        raise ApplicationError(
            _("Field '%(name)s': range min %(min)s is above max %(max)s.") % {"name": name, "min": cleaned["min"], "max": cleaned["max"]},
            code="invalid_request",
        )
    return cleaned or None


def _clean_values(name: str, field, values):
    if values in (None, []):
        return None
    if not isinstance(values, list):
        raise ApplicationError(_("Field '%(name)s': allowed values must be a list.") % {"name": name}, code="invalid_request")
    return list(dict.fromkeys(values))


def _clean_preprocessing(version: ModelVersion, config: dict) -> dict:
    field = image_field(version.input_fields)
    if field is None:
        raise ApplicationError(
            _("Version %(number)s has no tensor input that an image could feed, so it takes no image preprocessing.") % {"number": version.number},
            code="invalid_request",
        )
    if not isinstance(config, dict):
        raise ApplicationError(_('preprocessing must be an object, e.g. {"size": [28, 28], "mode": "L"}.'), code="invalid_request")
    return clean_config(field, config) if config else {}


def model_update(
    *,
    model: RegisteredModel,
    description: str | None = None,
    fields: dict | None = None,
    preprocessing: dict | None = None,
    version: ModelVersion | None = None,
) -> RegisteredModel:
    """Edit the description and, on one version (the latest by default), field descriptions and
    ranges, and how images become its input tensor."""
    version = version or model.latest_version
    if description is not None:
        description = checked_text(description, field="description", limit=DESCRIPTION_MAX_CHARS)
    cleaned_preprocessing = _clean_preprocessing(version, preprocessing) if preprocessing is not None else None
    with transaction.atomic():
        if description is not None:
            model.description = description
            model.save(update_fields=["description", "updated"])
        if cleaned_preprocessing is not None:
            version.preprocessing = cleaned_preprocessing
            version.save(update_fields=["preprocessing"])
        if fields:
            if "inputs" in fields or "outputs" in fields:
                inputs_edits, outputs_edits = fields.get("inputs", {}), fields.get("outputs", {})
            else:
                inputs_edits, outputs_edits = fields, {}
            if inputs_edits:
                version.inputs = _apply_field_edits(version.inputs, inputs_edits)
            if outputs_edits:
                version.outputs = _apply_field_edits(version.outputs, outputs_edits)
            version.save(update_fields=["inputs", "outputs"])
            model.save(update_fields=["updated"])
    return model


def model_rename(*, model: RegisteredModel, name: str) -> RegisteredModel:
    """Give the model a new name. Its versions, aliases and deployments stay attached (they
    point at its row, not its name); URLs with the old name answer 404 from then on."""
    name = validate_model_name(name)
    if name == model.name:
        return model
    taken = NameTaken(_("You already have a model named %(name)r; choose another name.") % {"name": name})
    if RegisteredModel.objects.filter(owner=model.owner, name=name).exclude(pk=model.pk).exists():
        raise taken
    old = model.name
    try:
        with transaction.atomic():
            model.name = name
            model.save(update_fields=["name", "updated"])
    except IntegrityError:
        model.name = old
        raise taken from None
    # Deployments cached for serving carry the model's name into their answers: every process
    # empties its lookups (a rename is rare; the registry need not know which caches hold it).
    transaction.on_commit(announce_change)
    log.info("model %s renamed to %s", old, name)
    return model


def _in_use(model: RegisteredModel, names) -> Conflict:
    users = sorted(set(names))
    return Conflict(
        ngettext(
            "Model '%(name)s' is in use by deployment %(users)s; delete it first.",
            "Model '%(name)s' is in use by deployments %(users)s; delete those first.",
            len(users),
        )
        % {"name": model.name, "users": ", ".join(users)},
        code="model_in_use",
    )


def model_delete(*, model: RegisteredModel) -> None:
    """Delete the model, its versions and their files: rows and files both go or both stay.

    Local files are set aside first (a store that cannot remove them stops the delete here,
    503), put back if the rows cannot be deleted (a locked database), removed once they are;
    an object store's are deleted inside the rows' transaction, which a refusal rolls back."""
    in_use = list(model.versions.filter(deployments__isnull=False).values_list("deployments__name", flat=True))
    if in_use:
        raise _in_use(model, in_use)
    versions = list(model.versions.all())
    aside = artifacts.take_aside([v.artifact.name for v in versions])
    try:
        with transaction.atomic():
            model.delete()
            artifacts.delete_remote(aside)
    except ProtectedError as exc:  # deployed meanwhile
        artifacts.put_back(aside)
        raise _in_use(model, [str(obj) for obj in exc.protected_objects]) from None
    except BaseException:
        artifacts.put_back(aside)
        raise
    artifacts.discard(aside)
    client.stop(keys=[prediction.version_runner_key(v) for v in versions])
    artifact_cache.forget(versions)


# ---- pre/post-processing scripts ---------------------------------------------------

MAX_SCRIPT_BYTES = 200_000


def can_write_scripts(user: User) -> bool:
    """Scripts run in the deployment's sandboxed runner, so everyone may write one, unless the
    operator keeps the old rule (MLSERVE_SCRIPTS_NEED_CODE_PERMISSION)."""
    return not settings.MLSERVE_SCRIPTS_NEED_CODE_PERMISSION or can_upload_code(user)


def check_script_permission(user: User) -> None:
    if not can_write_scripts(user):
        raise NotAllowed(
            _("On this server only users with the 'upload code' permission may add or change scripts. Ask an administrator for it."),
            code="code_upload_forbidden",
        )


def check_script(user: User, source: str) -> str:
    """The script's source, if this user may run scripts and it is not empty or too large."""
    check_script_permission(user)
    if not isinstance(source, str) or not source.strip():
        raise ApplicationError(
            _("The script is empty: define preprocess(request) and/or postprocess(rows, outputs)."), code="invalid_request"
        )
    if len(source.encode()) > MAX_SCRIPT_BYTES:
        raise TooLarge(_("A script may be at most %(size)s kB.") % {"size": MAX_SCRIPT_BYTES // 1000}, code="script_too_large")
    return source


def script_trial(*, version: ModelVersion, source: str, request, user: User, max_rows: int | None = None) -> dict:
    """Run an unsaved script on a sample request around this model version, in a runner of
    its own stopped afterwards: what preprocess gave, what the model answered, what a caller
    would get. Nothing is kept."""
    source = check_script(user, source)
    spec = scripts.trial_spec(version, source)
    try:
        result, rows = scripts.predict(version, spec, data=request, max_rows=max_rows)
        return {"rows": rows, "answer": result.answer.body, "response": result.response}
    finally:
        client.stop(keys=[spec.key])
