"""Reads for the model registry, with the ownership rule in one place."""

from django.db.models import Count, Max, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from accounts.models import User
from mlserve.errors import NotFound
from models_registry.models import ModelVersion, RegisteredModel


def model_list_for_user(user: User, search: str = "") -> QuerySet[RegisteredModel]:
    models = (
        RegisteredModel.objects.filter(owner=user)
        .annotate(version_count=Count("versions"), latest_number=Max("versions__number"))
        .order_by("-created")
    )
    if search:
        models = models.filter(name__icontains=search.strip())
    return models


def model_get_for_user(user: User, name: str) -> RegisteredModel:
    """The caller's model by name; 404 for a model that is missing or someone else's."""
    return get_object_or_404(RegisteredModel, owner=user, name=name)


def version_get(model: RegisteredModel, number: int | str | None = None) -> ModelVersion:
    """A version of the model by number, or the latest one."""
    versions = model.versions.select_related("model")
    if number in (None, ""):
        version = versions.order_by("-number").first()
        if version is None:
            raise NotFound(_("Model '%(name)s' has no versions.") % {"name": model.name})
        return version
    try:
        number = int(number)
    except (TypeError, ValueError):
        raise NotFound(_("Version must be a number, got %(number)s.") % {"number": repr(number)}) from None
    version = versions.filter(number=number).first()
    if version is None:
        raise NotFound(_("Model '%(name)s' has no version %(number)s.") % {"name": model.name, "number": number})
    return version
