"""Aliases: movable names for a model's versions (champion, challenger).

Moving an alias moves every deployment that follows it: the registry sends
signals.alias_moved and the deployments app switches its followers through its own version
switch (the new version loads before a deployment's row changes, so no request fails while it
moves). The registry does not import the deployments app."""

import logging

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import ApplicationError, Conflict
from models_registry.models import ALIAS_VALIDATOR, ModelAlias, ModelVersion, RegisteredModel
from models_registry.signals import alias_moved

log = logging.getLogger(__name__)


def validate_alias_name(name: str) -> str:
    name = (name or "").strip()
    try:
        ALIAS_VALIDATOR(name)
    except ValidationError:
        raise ApplicationError(
            _("Invalid alias %(name)r: %(rule)s") % {"name": name, "rule": ALIAS_VALIDATOR.message},
            code="invalid_alias",
            details={"fields": {"alias": str(ALIAS_VALIDATOR.message)}},
        ) from None
    return name


def alias_set(*, model: RegisteredModel, name: str, version: ModelVersion) -> ModelAlias:
    """Point the alias at this version (creating it), then move the deployments that follow it.

    If one of them cannot load the new version, the alias and the deployments already
    moved go back to where they were, and the error is raised."""
    name = validate_alias_name(name)
    if version.model_id != model.pk:
        raise ApplicationError(_("That version belongs to another model."), code="invalid_request")
    with transaction.atomic():
        alias = ModelAlias.objects.select_for_update().filter(model=model, name=name).select_related("version").first()
        previous = alias.version if alias is not None else None
        if alias is None:
            alias = ModelAlias.objects.create(model=model, name=name, version=version)
        elif alias.version_id != version.pk:
            alias.version = version
            alias.save(update_fields=["version", "updated"])
    if previous is not None and previous.pk == version.pk:
        return alias
    try:
        moved = sum(count or 0 for _receiver, count in alias_moved.send(sender=ModelAlias, alias=alias, previous=previous))
    except ApplicationError:
        if previous is not None:
            ModelAlias.objects.filter(pk=alias.pk).update(version=previous)
        raise
    log.info("alias %s@%s -> v%s (%d deployments moved)", model.name, name, version.number, moved)
    alias.refresh_from_db()
    return alias


def alias_delete(*, alias: ModelAlias) -> None:
    """Remove the alias; refused while deployments follow it (they would lose their guide)."""
    names = sorted(alias.deployments.values_list("name", flat=True))
    if names:
        raise Conflict(
            _("Deployments %(names)s follow alias %(alias)r: point them at a version or another alias first.")
            % {"names": ", ".join(names), "alias": alias.name},
            code="alias_in_use",
            details={"deployments": names},
        )
    alias.delete()
