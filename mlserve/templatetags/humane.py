"""Times and counts as people say them: "just now" rather than "0 minutes ago"."""

from datetime import datetime

from django import template
from django.contrib.humanize.templatetags.humanize import naturaltime
from django.utils import timezone
from django.utils.translation import gettext as _

register = template.Library()

JUST_NOW_SECONDS = 60


@register.filter
def ago(value: datetime | None) -> str:
    """"just now" under a minute (timesince would say "0 minutes"), else humanize's naturaltime."""
    if value is None:
        return ""
    if abs((timezone.now() - value).total_seconds()) < JUST_NOW_SECONDS:
        return _("just now")
    return naturaltime(value)
