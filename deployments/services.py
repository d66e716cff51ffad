"""Writes for deployments, their keys and their prediction tasks.

Pages, the REST API, the OIP endpoints and the queue worker all call these.
"""

import json
import logging
import shutil
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core import credentials
from core.errors import ApplicationError, Conflict, NameTaken, TooLarge, Unavailable
from core.faults import fault_error
from core.limits import DESCRIPTION_MAX_CHARS, checked_text
from deployments import batch, delivery, runners, task_files
from deployments.cache import forget as forget_deployment
from deployments.models import Deployment, DeploymentKey, DeploymentScript, PredictionTask
from models_registry import scripts
from models_registry.models import ModelVersion, RegisteredModel
from models_registry.selectors import alias_get, version_get
from models_registry.services import check_script, check_script_permission, script_trial, validate_model_name

log = logging.getLogger(__name__)

LIMIT_FIELDS = Deployment.SETTINGS
# Settings that may be cleared (None means "the default"), not only changed.
NULLABLE_FIELDS = ("memory_limit_mb", "cpu_cores")


def _clean(deployment: Deployment, fields: list[str] | None = None) -> None:
    """The model's own validators, as one error naming each bad limit."""
    try:
        deployment.full_clean(exclude=[f.name for f in Deployment._meta.fields if fields is not None and f.name not in fields])
    except ValidationError as exc:
        errors = {name: " ".join(messages) for name, messages in exc.message_dict.items()}
        raise ApplicationError(
            _("Invalid deployment settings: %(errors)s") % {"errors": "; ".join(f"{k}: {v}" for k, v in errors.items())},
            code="invalid_request",
            details={"fields": errors},
        ) from None


def check_memory_budget(deployment: Deployment, version: ModelVersion) -> None:
    """Refuse a model whose loaded size (measured at upload) is over the deployment's budget."""
    if deployment.memory_limit_mb is None:
        return
    needed = (version.details or {}).get("memory_bytes")
    if needed is None:
        return
    budget = deployment.memory_limit_mb * 1024 * 1024
    if needed > budget:
        raise ApplicationError(
            _(
                "%(model)s v%(number)s needs about %(needed)s MB once loaded; "
                "this deployment's memory budget is %(budget)s MB. Raise memory_limit_mb, or deploy a smaller model."
            )
            % {"model": version.model.name, "number": version.number, "needed": f"{needed / 1048576:.1f}", "budget": deployment.memory_limit_mb},
            code="memory_budget_exceeded",
            details={"needed_bytes": needed, "budget_bytes": budget},
        )


def deployment_create(
    *,
    owner: User,
    name: str,
    model: RegisteredModel,
    version_number: int | None = None,
    description: str = "",
    follow_alias: str = "",
    **limits,
) -> Deployment:
    """Deploy a version (the latest by default), or the version an alias points to: a deployment
    that follows an alias moves with it."""
    name = validate_model_name(name)
    description = checked_text(description, field="description", limit=DESCRIPTION_MAX_CHARS)
    if Deployment.objects.filter(owner=owner, name=name).exists():
        raise NameTaken(_("You already have a deployment named '%(name)s'; choose another name.") % {"name": name})
    alias = alias_get(owner=owner, model=model, name=follow_alias) if follow_alias else None
    if alias is not None and version_number is not None and version_number != alias.version.number:
        raise ApplicationError(
            _("Alias %(alias)r points to version %(alias_version)d, not %(version)d: give one or the other.")
            % {"alias": alias.name, "alias_version": alias.version.number, "version": version_number},
            code="invalid_request",
        )
    version = alias.version if alias is not None else version_get(model, version_number)
    deployment = Deployment(owner=owner, name=name, description=description, model_version=version, alias=alias)
    for key, value in limits.items():
        if key not in LIMIT_FIELDS:
            raise ApplicationError(_("Unknown setting '%(key)s'.") % {"key": key}, code="invalid_request")
        if value is not None:
            setattr(deployment, key, value)
    _clean(deployment, ["name", "description", *LIMIT_FIELDS])
    check_memory_budget(deployment, version)
    deployment.started = timezone.now()
    try:
        with transaction.atomic():
            deployment.save()
            runners.start(deployment)  # the model loads now: one that cannot is refused, and nothing is kept
    except IntegrityError:
        raise NameTaken(_("You already have a deployment named '%(name)s'; choose another name.") % {"name": name}) from None
    log.info("deployment %s created for %s v%s", name, model.name, version.number)
    return deployment


def deployment_update(
    *,
    deployment: Deployment,
    version_number: int | None = None,
    description: str | None = None,
    follow_alias: str | None = None,
    **limits,
) -> Deployment:
    """Change limits, or switch to another version of the same model.

    The switch is atomic: the new version is loaded before the row changes, and
    every request reads the row once, so each one is served entirely by the old
    or entirely by the new version.

    follow_alias="champion" switches to the alias's version and follows it from then on;
    "" stops following (the deployment stays where it is). A version number pins the
    deployment to that version, so it stops following its alias too."""
    changed = []
    for key, value in limits.items():
        if key not in LIMIT_FIELDS:
            raise ApplicationError(_("Unknown setting '%(key)s'.") % {"key": key}, code="invalid_request")
        if value is not None or key in NULLABLE_FIELDS:
            setattr(deployment, key, value)
            changed.append(key)
    if description is not None:
        deployment.description = checked_text(description, field="description", limit=DESCRIPTION_MAX_CHARS)
        changed.append("description")
    model = deployment.model_version.model
    if follow_alias:
        alias = alias_get(owner=deployment.owner, model=model, name=follow_alias)
        if deployment.alias_id != alias.pk:
            deployment.alias = alias
            changed.append("alias")
        version = alias.version
    elif version_number is not None:
        version = version_get(model, version_number)
    else:
        version = None
    if version is not None and version.pk != deployment.model_version_id:
        deployment.model_version = version
        changed.append("model_version")
    if deployment.alias_id is not None and (follow_alias == "" or (version_number is not None and not follow_alias)):
        deployment.alias = None
        changed.append("alias")
    _clean(deployment, [*LIMIT_FIELDS, "description"])
    check_memory_budget(deployment, deployment.model_version)
    # Following or leaving an alias alone changes nothing the runners see.
    if set(changed) - {"alias"} and deployment.status == Deployment.Status.RUNNING:
        # The new runners load before the row changes; requests go on to the old ones until then.
        runners.start(deployment)
    if changed:
        deployment.save(update_fields=[*changed, "updated"])
        forget_deployment(deployment)
    return deployment


def deployment_start(*, deployment: Deployment) -> Deployment:
    """Run (or resume) the deployment: load its model, then take requests; queued tasks go on."""
    check_memory_budget(deployment, deployment.model_version)
    runners.start(deployment)  # a failed deployment gets a clean slate: its crash count starts again
    with transaction.atomic():
        Deployment.objects.filter(pk=deployment.pk).update(
            status=Deployment.Status.RUNNING, started=timezone.now(), failure_reason=""
        )
        waiting = list(
            PredictionTask.objects.filter(deployment=deployment, status=PredictionTask.Status.QUEUED).values_list("id", flat=True)
        )
        transaction.on_commit(lambda: [enqueue(task_id) for task_id in waiting])
    deployment.refresh_from_db()
    forget_deployment(deployment)
    return deployment


def deployment_pause(*, deployment: Deployment) -> Deployment:
    """Stop taking requests (503); queued tasks wait until the deployment runs again."""
    Deployment.objects.filter(pk=deployment.pk).update(status=Deployment.Status.PAUSED)
    deployment.refresh_from_db()
    forget_deployment(deployment)
    runners.stop(deployment)  # its memory is given back
    return deployment


def deployment_delete(*, deployment: Deployment) -> None:
    task_ids = list(deployment.tasks.values_list("id", flat=True))
    deployment_id = deployment.pk
    with transaction.atomic():
        deployment.delete()
        transaction.on_commit(lambda: task_files.remove_all(task_ids))
    forget_deployment(deployment)
    deployment.pk = deployment_id
    runners.stop(deployment)
    log.info("deployment %s deleted with %d tasks", deployment.name, len(task_ids))


def ensure_serving(deployment: Deployment) -> None:
    if deployment.status == Deployment.Status.FAILED:
        raise Unavailable(
            _(
                "Deployment '%(name)s' has failed: %(reason)s "
                "Start it again to retry (after fixing the cause: memory, the model file, the script)."
            )
            % {"name": deployment.name, "reason": deployment.failure_reason},
            code="deployment_failed",
        )
    if not deployment.is_running:
        raise Unavailable(
            _("Deployment '%(name)s' is paused. Start it to serve requests; queued tasks will then run.") % {"name": deployment.name},
            code="deployment_paused",
        )


# ---- keys --------------------------------------------------------------------------


def key_create(*, deployment: Deployment, name: str) -> tuple[DeploymentKey, str]:
    """Create a named key for one deployment; returns it with the plain key, never stored."""
    return credentials.issue(DeploymentKey, name=name, deployment=deployment)


def key_revoke(*, key: DeploymentKey) -> None:
    credentials.revoke(key)


# ---- prediction tasks --------------------------------------------------------------


def enqueue(task_id) -> None:
    """Hand a saved task to the queue (deployments.delivery). A queue that cannot be reached
    (Redis down) fails the task with the reason, so no task waits forever as queued, and the
    caller gets the 503."""
    try:
        delivery.send(task_id)
    except Exception as exc:
        unavailable = fault_error(exc)
        if unavailable is None or unavailable is exc:
            raise
        PredictionTask.objects.filter(pk=task_id, status=PredictionTask.Status.QUEUED).update(
            status=PredictionTask.Status.FAILED, finished=timezone.now(),
            error=_("The task could not be queued: the queue (Redis) cannot be reached. Retry it once it is back."),
        )
        raise unavailable from exc


def _store_input(task: PredictionTask, *, data=None, upload=None, limit: int) -> int:
    path = task_files.input_path(task)
    path.parent.mkdir(parents=True, exist_ok=True)
    if upload is None:
        content = json.dumps(data).encode()
        path.write_bytes(content)
        return len(content)
    if hasattr(upload, "temporary_file_path") and upload.size <= limit:
        # Django already spooled it to disk under the data dir: move it, don't copy it.
        shutil.move(upload.temporary_file_path(), path)
        return upload.size
    size = 0
    with open(path, "wb") as out:
        chunks = upload.chunks(1 << 20) if hasattr(upload, "chunks") else iter(lambda: upload.read(1 << 20), b"")
        for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise TooLarge(
                    _("The file is over this deployment's batch file limit of %(limit)s MB.") % {"limit": f"{limit / 1e6:.1f}"},
                    code="file_too_large",
                    details={"limit": limit},
                )
            out.write(chunk)
    return size


def task_submit(
    *, deployment: Deployment, data=None, upload=None, sampling=None, key: DeploymentKey | None = None
) -> PredictionTask:
    """Save the input and the task row, then queue it (after commit). Fails fast on a bad file.
    sampling (models_registry.video.Sampling) picks a video's frames.

    `key` is the deployment key that submits it (None: the owner): that key alone, besides
    the owner, can then see and manage the task."""
    ensure_serving(deployment)
    limit = deployment.max_batch_file_size
    declared = getattr(upload, "size", None)
    if declared is not None and declared > limit:
        raise TooLarge(
            _("The file is %(size)s MB, over this deployment's batch file limit of %(limit)s MB.")
            % {"size": f"{declared / 1e6:.1f}", "limit": f"{limit / 1e6:.1f}"},
            code="file_too_large",
            details={"size": declared, "limit": limit},
        )
    if upload is None and data is None:
        raise ApplicationError(_('Send JSON rows (e.g. {"inputs": [...]}) or a multipart "file".'), code="empty_input")
    task = PredictionTask(
        deployment=deployment,
        owner=deployment.owner,
        deployment_key=key,
        model_version=deployment.model_version,
        script_version=deployment.script.version if deployment.script_id and upload is None else None,
        input_name=(getattr(upload, "name", None) or "upload") if upload is not None else batch.JSON_INPUT,
        input_options={"video": sampling.to_dict()} if sampling is not None and upload is not None else {},
    )
    try:
        task.input_size = _store_input(task, data=data, upload=upload, limit=limit)
        task.rows_total = batch.check_input(task)  # validated now: a bad file is a 400, not a failed task
        task_files.publish_input(task)  # only a valid input reaches the object store
        with transaction.atomic():
            task.save()
            transaction.on_commit(lambda: enqueue(task.id))
    except BaseException:
        task_files.remove_all([task.id])
        raise
    return task


def task_cancel(*, task: PredictionTask) -> PredictionTask:
    if task.is_finished:
        raise Conflict(
            _("Task %(id)s has already %(status)s; there is nothing to cancel.") % {"id": task.id, "status": task.status}, code="task_finished"
        )
    updated = PredictionTask.objects.filter(pk=task.pk, status__in=[PredictionTask.Status.QUEUED, PredictionTask.Status.RUNNING]).update(
        status=PredictionTask.Status.CANCELLED, finished=timezone.now(), error="Cancelled by the user."
    )
    task.refresh_from_db()
    if updated:
        task_files.remove_results(task)
    return task


def _is_stuck(task: PredictionTask) -> bool:
    """Queued or running, but nobody holds it: its worker died (lease expired) or its message was lost."""
    now = timezone.now()
    if task.status == PredictionTask.Status.RUNNING:
        return task.lease_expires is not None and task.lease_expires < now
    if task.status == PredictionTask.Status.QUEUED:
        return delivery.message_lost(task)
    return False


def task_retry(*, task: PredictionTask) -> PredictionTask:
    """Run a failed or cancelled task again from the start; a stuck one (queued, or running
    without a live worker) is queued again as it is."""
    if task.status in (PredictionTask.Status.QUEUED, PredictionTask.Status.RUNNING):
        if not _is_stuck(task):
            raise Conflict(
                f"Task {task.id} is {task.status} and in good hands (a live worker, or its message waiting in the queue); "
                "cancel it first to start it again.",
                code="task_not_retryable",
            )
        ensure_serving(task.deployment)
        if task.status == PredictionTask.Status.RUNNING:
            delivery.hand_back(task, "retried by the user", may_give_up=False)
        else:
            enqueue(task.id)
        task.refresh_from_db()
        return task
    if task.status not in (PredictionTask.Status.FAILED, PredictionTask.Status.CANCELLED):
        raise Conflict(
            _("Only failed, cancelled or stuck tasks can be retried; this one is %(status)s.") % {"status": task.status},
            code="task_not_retryable",
        )
    if not task_files.input_exists(task):
        raise Conflict(_("The task's input file is gone (expired), so it cannot be retried; submit it again."), code="input_gone")
    ensure_serving(task.deployment)
    with transaction.atomic():
        PredictionTask.objects.filter(pk=task.pk).update(
            status=PredictionTask.Status.QUEUED,
            rows_done=0,
            error="",
            notice="",
            attempts=0,
            started=None,
            finished=None,
            heartbeat=None,
            lease_owner="",
            lease_expires=None,
            result_expired=False,
            model_version=task.deployment.model_version,
        )
        transaction.on_commit(lambda: enqueue(task.id))
    task_files.remove_results(task)
    task.refresh_from_db()
    return task


def task_delete(*, task: PredictionTask) -> None:
    if task.status == PredictionTask.Status.RUNNING:
        raise Conflict(_("The task is running; cancel it before deleting it."), code="task_running")
    task_id = task.id
    with transaction.atomic():
        task.delete()
        transaction.on_commit(lambda: task_files.remove_all([task_id]))


def tasks_recover() -> dict:
    """Tasks whose worker died, running or taken ahead of time, are queued again (or failed
    after too many tries); see deployments.delivery."""
    return delivery.recover()


def tasks_expire_results() -> int:
    """Remove the files of tasks that finished longer ago than the retention time."""
    cutoff = timezone.now() - timedelta(hours=settings.MLSERVE_RESULT_RETENTION_HOURS)
    expired = list(
        PredictionTask.objects.filter(finished__lt=cutoff, result_expired=False).values_list("id", flat=True)[:10_000]
    )
    task_files.remove_all(expired)
    PredictionTask.objects.filter(id__in=expired).update(result_expired=True)
    return len(expired)


# ---- scripts -----------------------------------------------------------------------

def script_save(*, deployment: Deployment, source: str, user: User) -> DeploymentScript:
    """A new version of the deployment's script, in use at once. It must load, beside the
    model in a runner of its own, first."""
    source = check_script(user, source)
    functions = scripts.functions_of(deployment.model_version, source)
    if not functions:
        raise ApplicationError(_("The script defines neither preprocess(request) nor postprocess(rows, outputs)."), code="invalid_request")
    with transaction.atomic():
        Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
        last = deployment.scripts.order_by("-version").values_list("version", flat=True).first() or 0
        script = DeploymentScript.objects.create(deployment=deployment, version=last + 1, source=source, created_by=user)
        deployment.script = script
        deployment.save(update_fields=["script", "updated"])
        if deployment.is_running:
            runners.start(deployment)  # runners with the new script; those of the old one stop
    forget_deployment(deployment)
    return script


def script_remove(*, deployment: Deployment, user: User) -> None:
    check_script_permission(user)
    deployment.script = None
    deployment.save(update_fields=["script", "updated"])
    forget_deployment(deployment)
    if deployment.is_running:
        runners.start(deployment)


def script_try(*, deployment: Deployment, source: str, request, user: User) -> dict:
    """Run an unsaved script on a sample request through the deployment's sync path; nothing is kept."""
    return script_trial(version=deployment.model_version, source=source, request=request, user=user, max_rows=deployment.max_rows)
