"""Reads for deployments and tasks, with the ownership rules in one place."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import NotAllowed, NotFound
from deployments import cache, metrics
from deployments.models import Deployment, DeploymentKey, PredictionTask
from models_registry.models import RegisteredModel


def deployment_list_for_user(user: User, search: str = "", *, model: str = "") -> QuerySet[Deployment]:
    """The user's deployments; `model` (a model's name) keeps those serving one of its versions."""
    deployments = Deployment.objects.filter(owner=user).select_related("model_version__model", "alias").order_by("-created")
    if search:
        deployments = deployments.filter(name__icontains=search.strip())
    if model:
        deployments = deployments.filter(model_version__model__name=model, model_version__model__owner=user)
    return deployments


def deployment_get_for_user(user: User, name: str) -> Deployment:
    return get_object_or_404(Deployment.objects.select_related("model_version__model", "script"), owner=user, name=name)


def deployment_for_serving(user: User, name: str) -> Deployment:
    """deployment_get_for_user for the serving path, cached per process for MLSERVE_DEPLOYMENT_CACHE_SECONDS.

    Each request reads the deployment once, so a version switch or a pause made in
    another process reaches this one before its next request (on other nodes: within
    that time, or at once through Redis, see core/ttl_cache.py), never mid-request."""
    key = (user.pk, name)
    deployment = cache.serving.get(key)
    if deployment is None:
        deployment = deployment_get_for_user(user, name)
        cache.serving.set(key, deployment, settings.MLSERVE_DEPLOYMENT_CACHE_SECONDS)
    return deployment


def check_key_scope(credential, deployment: Deployment) -> None:
    """A deployment key reaches its own deployment only; a user's token or session all of theirs."""
    if isinstance(credential, DeploymentKey) and credential.deployment_id != deployment.pk:
        raise NotAllowed(
            _("This key belongs to deployment '%(own)s' and cannot call '%(name)s'.")
            % {"own": credential.deployment.name, "name": deployment.name},
            code="wrong_deployment_key",
        )


def check_served_version(deployment: Deployment, version: str | None) -> None:
    """An OIP path may name the version: it must be the one the deployment serves."""
    if version not in (None, "") and str(version) != str(deployment.model_version.number):
        raise NotFound(
            _("Deployment '%(name)s' serves version %(number)s, not %(version)s.")
            % {"name": deployment.name, "number": deployment.model_version.number, "version": version}
        )


def deployment_for_call(*, user: User, credential, name: str) -> Deployment:
    """The deployment a serving call names, for a user's token or session or a key of that very
    deployment: every door (fast path, DRF views, OIP) asks here."""
    deployment = deployment_for_serving(user, name)
    check_key_scope(credential, deployment)
    return deployment


def deployment_for_request(request, name: str) -> Deployment:
    return deployment_for_call(user=request.user, credential=request.auth, name=name)


def key_get(deployment: Deployment, key_id: int) -> DeploymentKey:
    return get_object_or_404(DeploymentKey, pk=key_id, deployment=deployment)


def task_list_for_user(user: User, status: str = "", deployment: str = "") -> QuerySet[PredictionTask]:
    tasks = PredictionTask.objects.filter(owner=user).select_related("deployment", "model_version__model", "deployment_key")
    if status:
        tasks = tasks.filter(status=status)
    if deployment:
        tasks = tasks.filter(deployment__name=deployment)
    return tasks.order_by("-created")


def task_get_for_user(user: User, task_id) -> PredictionTask:
    try:
        return PredictionTask.objects.select_related("deployment", "model_version__model", "deployment_key").get(
            pk=task_id, owner=user
        )
    except (PredictionTask.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404(_("No such task.")) from None


def request_key(request) -> DeploymentKey | None:
    """The deployment key a request came with (None for the owner's token or session)."""
    return request.auth if isinstance(request.auth, DeploymentKey) else None


def task_for_request(request, task_id) -> PredictionTask:
    """A task by id: the owner reaches all of theirs; a deployment key only those it submitted
    (another key's task is a 404, as someone else's object is)."""
    task = task_get_for_user(request.user, task_id)
    key = request_key(request)
    if key is not None and task.deployment_key_id != key.pk:
        raise Http404(_("No such task."))
    return task


def task_list_for_deployment(request, deployment: Deployment) -> QuerySet[PredictionTask]:
    """A deployment's tasks: all of them for the owner, a key's own for a key."""
    tasks = deployment.tasks.select_related("deployment", "model_version__model", "deployment_key").order_by("-created")
    key = request_key(request)
    return tasks if key is None else tasks.filter(deployment_key=key)


def dashboard_for_user(user: User) -> dict:
    """What the home page shows: counts, each deployment's last hour, recent tasks (the caller
    flushes this process's latest calls first, if it wants them counted)."""
    deployments = list(deployment_list_for_user(user).select_related("totals"))
    health = metrics.recent_health([d.pk for d in deployments], timezone.now() - timedelta(hours=1))
    for deployment in deployments:
        deployment.last_hour = health.get(deployment.pk, {"requests": 0, "errors": 0, "p95_ms": None})
        totals = getattr(deployment, "totals", None)
        deployment.last_call = totals.last_call if totals else None
    since = timezone.now() - timedelta(days=1)
    task_counts = dict(
        PredictionTask.objects.filter(owner=user, created__gte=since).values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {
        "model_count": RegisteredModel.objects.filter(owner=user).count(),
        "deployments": deployments,
        "running": sum(1 for d in deployments if d.is_running),
        "paused": sum(1 for d in deployments if not d.is_running),
        "task_counts": task_counts,
        "tasks_today": sum(task_counts.values()),
        "recent_tasks": task_list_for_user(user)[:8],
    }
