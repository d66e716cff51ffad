"""Tags on models and versions: parsed from "key" or "key: value", replaced as a whole set.

A tag set is replaced, not merged, so the API's PUT and the page's text box mean the same
thing: what you send is what the model has afterwards."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from core.errors import ApplicationError
from models_registry.models import TAG_KEY_VALIDATOR, ModelTag, ModelVersion, RegisteredModel, VersionTag

MAX_TAGS = 50
MAX_VALUE_CHARS = 200


def parse_tag_text(text: str) -> dict[str, str]:
    """Tags typed on a page, one per line or comma-separated: "team: fraud", "validated"."""
    tags = {}
    for item in (text or "").replace(",", "\n").splitlines():
        item = item.strip()
        if not item:
            continue
        key, _sep, value = item.partition(":") if ":" in item else item.partition("=")
        tags[key.strip()] = value.strip()
    return tags


def tags_as_text(tags) -> str:
    return "\n".join(str(tag) for tag in tags)


def parse_tag_filter(text: str) -> tuple[str, str | None]:
    """?tag=team (any value) or ?tag=team:fraud (that value)."""
    key, sep, value = (text or "").strip().partition(":")
    return key.strip(), (value.strip() if sep else None)


def clean_tags(tags) -> dict[str, str]:
    """A {key: value} mapping checked as one error naming every bad key."""
    if not isinstance(tags, dict):
        raise ApplicationError(_('Tags are an object: {"team": "fraud", "validated": ""}.'), code="invalid_tags")
    if len(tags) > MAX_TAGS:
        raise ApplicationError(_("At most %(n)d tags.") % {"n": MAX_TAGS}, code="invalid_tags")
    cleaned, errors = {}, {}
    for key, value in tags.items():
        key = str(key).strip()
        value = "" if value is None else str(value).strip()
        try:
            TAG_KEY_VALIDATOR(key)
        except ValidationError:
            errors[key or "(empty)"] = str(TAG_KEY_VALIDATOR.message)
            continue
        if len(value) > MAX_VALUE_CHARS:
            errors[key] = _("A tag value is at most %(n)d characters.") % {"n": MAX_VALUE_CHARS}
            continue
        cleaned[key] = value
    if errors:
        raise ApplicationError(
            _("Invalid tags: %(errors)s") % {"errors": "; ".join(f"{k}: {v}" for k, v in errors.items())},
            code="invalid_tags",
            details={"fields": errors},
        )
    return cleaned


def model_tags_set(*, model: RegisteredModel, tags: dict) -> dict[str, str]:
    """Replace the model's tags with these."""
    cleaned = clean_tags(tags)
    with transaction.atomic():
        ModelTag.objects.filter(model=model).exclude(key__in=cleaned).delete()
        for key, value in cleaned.items():
            ModelTag.objects.update_or_create(model=model, key=key, defaults={"value": value})
        model.save(update_fields=["updated"])
    return cleaned


def version_tags_set(*, version: ModelVersion, tags: dict) -> dict[str, str]:
    """Replace the version's tags with these."""
    cleaned = clean_tags(tags)
    with transaction.atomic():
        VersionTag.objects.filter(version=version).exclude(key__in=cleaned).delete()
        for key, value in cleaned.items():
            VersionTag.objects.update_or_create(version=version, key=key, defaults={"value": value})
    return cleaned
