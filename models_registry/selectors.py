"""Reads for the model registry, with the ownership rule in one place."""

from django.db.models import Count, Max, Prefetch, QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from accounts.models import User
from core.errors import NotFound
from models_registry.models import ModelAlias, ModelTag, ModelVersion, RegisteredModel, VersionTag
from models_registry.tags import parse_tag_filter


def model_list_for_user(user: User, search: str = "", *, tag: str = "") -> QuerySet[RegisteredModel]:
    """The user's models; `tag` is "key" (any value) or "key:value"."""
    models = (
        RegisteredModel.objects.filter(owner=user)
        .annotate(version_count=Count("versions", distinct=True), latest_number=Max("versions__number"))
        .prefetch_related(Prefetch("tags", queryset=ModelTag.objects.order_by("key")))
        .order_by("-created")
    )
    if search:
        models = models.filter(name__icontains=search.strip())
    if tag:
        key, value = parse_tag_filter(tag)
        # A subquery, not a join: the counts above stay per model.
        tagged = ModelTag.objects.filter(model__owner=user, key=key)
        if value is not None:
            tagged = tagged.filter(value=value)
        models = models.filter(pk__in=tagged.values("model_id"))
    return models


def version_list(*, owner: User, model: RegisteredModel, tag: str = "") -> QuerySet[ModelVersion]:
    """The model's versions, newest first; `tag` filters as in model_list_for_user."""
    versions = (
        ModelVersion.objects.filter(model=model, model__owner=owner)
        .select_related("model", "uploaded_by")
        .prefetch_related(Prefetch("tags", queryset=VersionTag.objects.order_by("key")), "aliases")
        .order_by("-number")
    )
    if tag:
        key, value = parse_tag_filter(tag)
        tagged = VersionTag.objects.filter(version__model=model, key=key)
        if value is not None:
            tagged = tagged.filter(value=value)
        versions = versions.filter(pk__in=tagged.values("version_id"))
    return versions


def alias_list(*, owner: User, model: RegisteredModel) -> QuerySet[ModelAlias]:
    return ModelAlias.objects.filter(model=model, model__owner=owner).select_related("version", "model").order_by("name")


def alias_get(*, owner: User, model: RegisteredModel, name: str) -> ModelAlias:
    alias = alias_list(owner=owner, model=model).filter(name=name).first()
    if alias is None:
        raise NotFound(_("Model %(model)r has no alias %(alias)r.") % {"model": model.name, "alias": name}, code="alias_not_found")
    return alias


def version_by_reference(*, owner: User, model: RegisteredModel, reference: str | int | None) -> ModelVersion:
    """A version named by its number or by an alias ("3", "champion"); the latest when empty."""
    if isinstance(reference, str) and reference and not reference.strip().isdigit():
        return alias_get(owner=owner, model=model, name=reference.strip()).version
    return version_get(model, reference)


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


def model_deployments(*, owner, model: RegisteredModel):
    """Where a model is deployed: its page and the API list them, and deleting it is refused
    while any exist. Read through the relation the deployments app declares on versions
    (Deployment.model_version, related_name="deployments"), so the registry imports no app above it."""
    deployment = ModelVersion.deployments.field.model
    return deployment.objects.filter(owner=owner, model_version__model=model).select_related("model_version", "alias").order_by("name")

