"""How long the free text people store may be (descriptions, names): one place, one clear 400.

Forms and API serializers declare the same limits (so pages and the OpenAPI schema show them);
the services check them again, since they are what every door calls."""

from django.utils.translation import gettext as _

from core.errors import ApplicationError

DESCRIPTION_MAX_CHARS = 5000  # a model's or a deployment's description
FIELD_DESCRIPTION_MAX_CHARS = 1000  # one input or output field's description
NAME_MAX_CHARS = 100  # token and deployment key names (model and deployment names have their own rule)


def checked_text(value, *, field: str, limit: int) -> str:
    """The text, if it is at most `limit` characters; a 400 `too_long` naming the field otherwise."""
    text = "" if value is None else str(value)
    if len(text) > limit:
        raise ApplicationError(
            _("%(field)s is %(length)s characters long; at most %(limit)s are allowed.")
            % {"field": field, "length": f"{len(text):,}", "limit": f"{limit:,}"},
            code="too_long",
            details={"fields": {field: _("At most %(limit)s characters.") % {"limit": limit}}},
        )
    return text
