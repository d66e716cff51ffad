"""The `markdown` template filter: core.text.render_markdown, marked safe."""

from django import template
from django.utils.safestring import SafeString, mark_safe

from core.text import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    return mark_safe(render_markdown(text))  # cleaned by nh3 above
