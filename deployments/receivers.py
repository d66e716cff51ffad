"""How deployments answer what the registry tells them (models_registry.signals); connected in
DeploymentsConfig.ready."""

from django.dispatch import receiver

from core.errors import ApplicationError
from deployments.models import Deployment
from deployments.services import deployment_update
from models_registry.models import ModelAlias
from models_registry.signals import alias_moved


@receiver(alias_moved, sender=ModelAlias)
def move_followers(sender, *, alias: ModelAlias, previous, **kwargs) -> int:
    """Switch every deployment that follows the alias to its new version. If one cannot load it,
    the alias goes back to the previous version, those already switched follow it back, and the
    error is raised."""
    followers = Deployment.objects.filter(alias=alias, owner=alias.model.owner).select_related("model_version__model", "script", "alias")
    moved = []
    try:
        for deployment in followers:
            deployment_update(deployment=deployment, follow_alias=alias.name)
            moved.append(deployment)
    except ApplicationError:
        if previous is not None:  # the alias back first: the followers then switch back through it
            ModelAlias.objects.filter(pk=alias.pk).update(version=previous)
            for deployment in moved:
                deployment_update(deployment=deployment, follow_alias=alias.name)
        raise
    return len(moved)
