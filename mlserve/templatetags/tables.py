"""Sortable table headers: {% sort_header "created" "Created" %} keeps the page's other query parameters."""

from django import template
from django.utils.html import format_html

register = template.Library()


@register.simple_tag(takes_context=True)
def sort_header(context, field: str, label: str):
    request = context["request"]
    current = request.GET.get("sort", context.get("default_sort", ""))
    descending = current == f"-{field}"
    active = current in (field, f"-{field}")
    params = request.GET.copy()
    params["sort"] = field if descending or not active else f"-{field}"
    params.pop("page", None)
    arrow = (" ▼" if descending else " ▲") if active else ""
    return format_html('<a class="sort-link text-reset" href="?{}">{}{}</a>', params.urlencode(), label, arrow)
