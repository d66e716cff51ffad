"""Reads for deployments and tasks, with the ownership rules in one place."""

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.models import User
from deployments.models import Deployment, DeploymentKey, PredictionTask
from mlserve.errors import NotAllowed


def deployment_list_for_user(user: User, search: str = "") -> QuerySet[Deployment]:
    deployments = Deployment.objects.filter(owner=user).select_related("model_version__model").order_by("-created")
    if search:
        deployments = deployments.filter(name__icontains=search.strip())
    return deployments


def deployment_get_for_user(user: User, name: str) -> Deployment:
    return get_object_or_404(Deployment.objects.select_related("model_version__model"), owner=user, name=name)


def deployment_for_request(request, name: str) -> Deployment:
    """The deployment a serving request names, for a user token or a key of that very deployment."""
    key = request.auth if isinstance(request.auth, DeploymentKey) else None
    deployment = deployment_get_for_user(request.user, name)
    if key is not None and key.deployment_id != deployment.pk:
        raise NotAllowed(
            f"This key belongs to deployment {key.deployment.name!r} and cannot call {name!r}.", code="wrong_deployment_key"
        )
    return deployment


def key_get(deployment: Deployment, key_id: int) -> DeploymentKey:
    return get_object_or_404(DeploymentKey, pk=key_id, deployment=deployment)


def task_list_for_user(user: User, status: str = "", deployment: str = "") -> QuerySet[PredictionTask]:
    tasks = PredictionTask.objects.filter(owner=user).select_related("deployment", "model_version__model")
    if status:
        tasks = tasks.filter(status=status)
    if deployment:
        tasks = tasks.filter(deployment__name=deployment)
    return tasks.order_by("-created")


def task_get_for_user(user: User, task_id) -> PredictionTask:
    try:
        return PredictionTask.objects.select_related("deployment", "model_version__model").get(pk=task_id, owner=user)
    except (PredictionTask.DoesNotExist, ValueError, TypeError, ValidationError):
        raise Http404("No such task.") from None


def task_for_request(request, task_id) -> PredictionTask:
    """A task by id, for its owner's token or a key of its deployment."""
    task = task_get_for_user(request.user, task_id)
    key = request.auth if isinstance(request.auth, DeploymentKey) else None
    if key is not None and key.deployment_id != task.deployment_id:
        raise Http404("No such task.")
    return task
