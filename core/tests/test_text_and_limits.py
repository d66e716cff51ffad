"""core.text and core.limits on their own (pages and the API use them through many doors)."""

import pytest

from core.errors import ApplicationError
from core.limits import checked_text
from core.text import defused_cell, render_markdown


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://x")', "+cmd", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"])
def test_a_text_cell_a_spreadsheet_would_run_gets_a_leading_quote(cell):
    assert defused_cell(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["-1", "+2.5", "-3e-4", "plain", "", 7, None, 1.5])
def test_numbers_even_as_text_and_other_cells_stay_as_they_are(cell):
    assert defused_cell(cell) == cell


def test_markdown_keeps_formatting_and_links_but_drops_scripts_and_handlers():
    html = render_markdown('**bold** [x](https://example.com) <script>alert(1)</script> <img src=x onerror=alert(1)> [y](javascript:alert(1))')
    assert "<strong>bold</strong>" in html and 'href="https://example.com"' in html
    assert "<script" not in html and "onerror" not in html and "javascript:" not in html
    assert render_markdown(None) == ""


def test_text_within_its_limit_comes_back_and_longer_text_is_a_400_naming_the_field():
    assert checked_text("abc", field="description", limit=3) == "abc"
    assert checked_text(None, field="description", limit=3) == ""
    with pytest.raises(ApplicationError) as refused:
        checked_text("abcd", field="description", limit=3)
    assert refused.value.code == "too_long" and refused.value.status_code == 400
    assert "description" in refused.value.message and refused.value.details == {"fields": {"description": "At most 3 characters."}}
