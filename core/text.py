"""Text that others will open: descriptions written in Markdown, rendered to HTML that cannot
carry a script, and CSV cells a spreadsheet will not run as formulas.

Markdown passes raw HTML through, so its output is cleaned by nh3 (Ammonia) with a short
allow-list: formatting, lists, tables, code and links, no attributes but a link's href and
no URL scheme but http, https and mailto. Pages (the `markdown` filter) and the API
(`description_html`) render through this one function."""

import re

import markdown as markdown_lib
import nh3

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "b", "i", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "a", "del",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}


def render_markdown(text: str) -> str:
    """Safe HTML for a Markdown text (raw HTML in it is dropped, never passed through)."""
    html = markdown_lib.markdown(text or "", extensions=["tables", "fenced_code", "sane_lists"], output_format="html")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow noopener noreferrer",
    )


# CSV injection (OWASP): a spreadsheet runs a cell that starts with one of these as a formula,
# so a text cell that does gets a leading ' (shown as text). Numbers, even sent as text, stay.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def defused_cell(text):
    """A CSV cell a spreadsheet will not run: every CSV mlserve writes (task results, test results) goes through here."""
    if isinstance(text, str) and text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text
