"""English and Simplified Chinese: the catalogue is complete, templates leave no text
untranslated, pages and API errors follow Accept-Language, and the switcher's choice sticks.
"""

import gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.utils import translation

from mlserve.wsgi import application
from tests.model_files import IRIS_ROW

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
CHINESE = re.compile(r"[\u4e00-\u9fff]")

# Words a template may show untranslated: the brand, file formats and units, the same in both languages.
ALLOWED_WORDS = {"mlserve", "JSON", "CSV", "curl", "Python", "MLflow", "SHA-256", "v", "s", "fps"}
# Attributes a person sees or hears (tooltips, placeholders, screen readers, confirm dialogs).
VISIBLE_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt", "data-confirm", "data-checking")
# The same msgid a makemessages run writes (tests/ holds no user-facing text).
MAKEMESSAGES = [
    "makemessages", "-l", "zh_Hans", "--no-location",
    "--ignore=.venv/*", "--ignore=var/*", "--ignore=staticfiles/*", "--ignore=bench/*", "--ignore=tests/*", "--ignore=*/tests/*",
]


def msgfmt_statistics(po: Path) -> str:
    result = subprocess.run(["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(po)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stderr.strip()


def test_every_message_of_the_chinese_catalogue_is_translated_and_none_is_fuzzy():
    statistics = msgfmt_statistics(PO)
    assert re.fullmatch(r"\d+ translated messages\.", statistics), statistics


def test_the_catalogue_holds_every_message_of_the_code_and_templates(tmp_path):
    """makemessages on a copy of the sources: a string wrapped since the .po was written shows up
    as untranslated (or fuzzy) here, so a new page cannot ship in English only."""
    for folder in ("accounts", "core", "deployments", "models_registry", "mlserve", "templates", "locale"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.mo"))
    shutil.copytree(ROOT / "static" / "js", tmp_path / "static" / "js")
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    run = subprocess.run(
        [sys.executable, "manage.py", *MAKEMESSAGES],
        cwd=tmp_path, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "MLSERVE_DATA_DIR": str(tmp_path / "data"), "DJANGO_SETTINGS_MODULE": "mlserve.settings"},
    )
    assert run.returncode == 0, run.stderr
    statistics = msgfmt_statistics(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po")
    assert re.fullmatch(r"\d+ translated messages\.", statistics), f"run makemessages and translate: {statistics}"


def test_no_chinese_translation_is_the_english_text_copied(compiled_translations):
    with open(PO.with_suffix(".mo"), "rb") as mo:
        catalog = gettext.GNUTranslations(mo)._catalog
    copied = [key for key, text in catalog.items() if key and text and not CHINESE.search(text)]
    assert copied == []


def visible_texts(source: str) -> list[str]:
    """The text a person would see in a template once every tag, variable and translated block is gone."""
    source = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    source = re.sub(r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}", " ", source, flags=re.S)
    source = re.sub(r"<!--.*?-->", " ", source, flags=re.S)
    source = re.sub(r"<(script|style|code|pre)\b.*?</\1>", " ", source, flags=re.S | re.I)  # code is code in any language
    source = re.sub(r"\{%\s*blocktranslate\b.*?\{%\s*endblocktranslate\s*%\}", " ", source, flags=re.S)
    source = re.sub(r"\{%.*?%\}", " ", source, flags=re.S)
    source = re.sub(r"\{\{.*?\}\}", " ", source, flags=re.S)
    texts = []
    for tag in re.finditer(r"<[^>]*>", source):
        texts += [m.group(2) for m in re.finditer(rf'\b({"|".join(VISIBLE_ATTRIBUTES)})="([^"]*)"', tag.group(0))]
    texts += re.sub(r"<[^>]*>", "\n", source).split("\n")
    return [text.strip() for text in texts if re.search(r"[A-Za-z]", text)]


def test_visible_texts_finds_words_outside_translate_tags():
    template = '<p title="Hover me">Hello {{ name }}</p>{% translate "Fine" %}<script>let x = "no";</script>'
    assert visible_texts(template) == ["Hover me", "Hello"]


def test_every_template_wraps_its_visible_text_for_translation():
    untranslated = [
        f"{path.relative_to(ROOT)}: {text!r}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for text in visible_texts(path.read_text())
        if set(re.findall(r"[A-Za-z][\w-]*", text)) - ALLOWED_WORDS
    ]
    assert untranslated == []


# ---- the language a person gets ------------------------------------------------------------


def test_a_page_renders_in_chinese_for_a_browser_that_asks_for_zh_cn(client, compiled_translations):
    page = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="zh-CN,zh;q=0.9,en;q=0.5")
    html = page.content.decode()
    assert page["Content-Language"] == "zh-hans"
    assert '<html lang="zh-hans">' in html
    assert "登录" in html and "用户名" in html  # ours and Django's own form labels
    assert "Log in" not in html


def test_a_page_stays_english_for_an_english_browser(client, compiled_translations):
    html = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en-GB,en;q=0.8").content.decode()
    assert "Log in" in html and "登录" not in html


def test_the_switcher_sets_the_language_and_it_sticks(owner_client, compiled_translations):
    switched = owner_client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/models/"})
    assert switched.status_code == 302 and switched["Location"] == "/models/"
    assert switched.cookies["django_language"].value == "zh-hans"
    assert switched.cookies["django_language"]["max-age"] == 365 * 24 * 3600
    # an English browser, but the choice made in the switcher wins, page after page
    for path in ("/models/", "/deployments/", "/"):
        html = owner_client.get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
        assert "仪表盘" in html and "Dashboard" not in html, path
    assert 'value="en"' in html and ">English<" in html  # the way back, named in its own language
    owner_client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    assert "Dashboard" in owner_client.get("/").content.decode()


def test_numbers_take_thousands_separators_in_both_languages(compiled_translations):
    from django.contrib.humanize.templatetags.humanize import intcomma

    assert intcomma(1234567) == "1,234,567"
    with translation.override("zh-hans"):
        assert intcomma(1234567) == "1,234,567"  # mlserve/formats/zh_Hans: Django's own groups nothing


def test_dates_follow_the_language(compiled_translations):
    from datetime import date

    from django.utils.formats import date_format

    day = date(2026, 12, 2)
    assert date_format(day) == "Dec. 2, 2026"
    with translation.override("zh-hans"):
        assert date_format(day) == "2026年12月2日"


def test_an_api_error_comes_back_in_chinese_with_the_same_code(api, owner, compiled_translations):
    english = api.post("/api/v1/auth/token", {"username": "olivia", "password": "wrong"}, format="json")
    chinese = api.post("/api/v1/auth/token", {"username": "olivia", "password": "wrong"}, format="json", HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert english.status_code == chinese.status_code == 401
    assert english.json()["error"] == {"code": "authentication_failed", "message": "Wrong username or password."}
    assert chinese.json()["error"] == {"code": "authentication_failed", "message": "用户名或密码错误。"}


def test_a_validation_error_names_the_field_in_chinese(api, iris, compiled_translations):
    row = {k: v for k, v in IRIS_ROW.items() if k != "sepal_length"}
    answer = api.post("/api/v1/deployments/iris/predict", {"inputs": row}, format="json", HTTP_ACCEPT_LANGUAGE="zh-CN")
    error = answer.json()["error"]
    assert answer.status_code == 400 and error["code"] == "invalid_input"
    assert error["message"] == "缺少必填字段：sepal_length。"
    assert error["details"]["fields"] == {"sepal_length": "此字段为必填"}


def wsgi_predict(token: str, body: dict, **headers):
    """A predict call through the whole WSGI application, fast path included, as gunicorn makes it."""
    import json

    request = RequestFactory().post(
        "/api/v1/deployments/iris/predict", data=json.dumps(body), content_type="application/json",
        HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}", **headers,
    )
    seen = {}
    chunks = application(request.environ, lambda status, response_headers, exc_info=None: seen.update(status=status))
    return int(seen["status"].split()[0]), json.loads(b"".join(chunks))


@pytest.fixture
def token(owner):
    from accounts import services

    return services.token_create(user=owner, name="wsgi")[1]


def test_the_fast_path_answers_errors_in_the_callers_language(iris, token, wsgi_requests_keep_database, compiled_translations):
    status, body = wsgi_predict(token, {"inputs": {**IRIS_ROW, "sepal_length": "tall"}}, HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert status == 400 and body["error"]["code"] == "invalid_input"
    assert body["error"]["message"] == "输入无效：sepal_length: 应为数字，收到的是 'tall'"


def test_the_fast_path_speaks_english_without_accept_language_whatever_the_thread_served_before(
    iris, token, wsgi_requests_keep_database, compiled_translations
):
    translation.activate("zh-hans")  # the last page this worker thread rendered was Chinese
    try:
        status, body = wsgi_predict(token, {"inputs": {**IRIS_ROW, "sepal_length": "tall"}})
    finally:
        translation.deactivate()
    assert status == 400
    assert body["error"] == {
        "code": "invalid_input",
        "message": "Invalid input: sepal_length: expected a number, got 'tall'",
        "details": {"fields": {"sepal_length": "expected a number, got 'tall'"}, "row": 0},
    }
