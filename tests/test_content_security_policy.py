"""A strict Content-Security-Policy on every page, and pages that need nothing it forbids: no
inline script, no event-handler attribute, no style attribute, no javascript: URL (issue 12,
item 7). The browser journey (tests/browser) checks that Chromium reports no violation."""

import json
from html.parser import HTMLParser

import pytest

from tests.model_files import IRIS_ROW


class InlineCode(HTMLParser):
    """Collects what a strict CSP would block in a page's HTML."""

    def __init__(self):
        super().__init__()
        self.found = []
        self._in_inline_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name == "style":
                self.found.append(f"<{tag} style={value!r}>")
            if name in ("href", "src", "action", "formaction") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}={value!r}>")
        if tag == "style":
            self.found.append("<style> element")
        if tag == "script" and not attributes.get("src") and attributes.get("type") != "application/json":
            self._in_inline_script = True

    def handle_endtag(self, tag):
        if tag == "script" and self._in_inline_script:
            self.found.append("inline <script>")
            self._in_inline_script = False


def inline_code(html: str) -> list[str]:
    parser = InlineCode()
    parser.feed(html)
    return parser.found


def assert_strict_policy(response):
    policy = response["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


@pytest.fixture
def world(owner_client, api, deploy, submit):
    """A model, a deployment with a key, a finished task and the model's test panel with probabilities."""
    from deployments.models import PredictionTask

    deploy("iris_logreg.skops", "iris")
    api.post("/api/v1/deployments/iris/keys", {"name": "partner"}, format="json")
    submit("iris", json={"inputs": [IRIS_ROW]})
    return {"task": PredictionTask.objects.get().id}


OWNER_PAGES = [
    "/",
    "/accounts/",
    "/accounts/password/",
    "/models/",
    "/models/new/",
    "/models/iris-model/",
    "/models/iris-model/edit/",
    "/models/iris-model/test/",
    "/models/iris-model/script/",
    "/models/iris-model/versions/new/",
    "/models/iris-model/delete/",
    "/deployments/",
    "/deployments/new/",
    "/deployments/iris/",
    "/deployments/iris/test/",
    "/deployments/iris/tasks/",
    "/deployments/iris/monitoring/",
    "/deployments/iris/script/",
    "/deployments/iris/delete/",
    "/tasks/",
    "/tasks/{task}/",
    "/api/docs/",
]


@pytest.mark.parametrize("path", OWNER_PAGES)
def test_every_page_has_the_policy_and_no_inline_code(owner_client, world, path):
    response = owner_client.get(path.format(**world))
    assert response.status_code == 200
    assert_strict_policy(response)
    assert inline_code(response.content.decode()) == []


@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/accounts/signup/"])
def test_the_pages_for_visitors_have_it_too(client, db, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_strict_policy(response)
    assert inline_code(response.content.decode()) == []


def test_the_closed_sign_up_page_has_no_inline_code(client, db, settings):
    settings.MLSERVE_REGISTRATION = "invite"
    response = client.get("/accounts/signup/")
    assert response.status_code == 403
    assert_strict_policy(response)
    assert inline_code(response.content.decode()) == []


def test_a_test_panel_with_results_has_no_inline_code(owner_client, world):
    response = owner_client.post("/models/iris-model/test/", {"mode": "json", "body": json.dumps({"inputs": [IRIS_ROW]})})
    page = response.content.decode()
    assert 'data-width="' in page  # the probability bars
    assert inline_code(page) == []


def test_error_pages_and_api_answers_carry_the_policy(owner_client, api, db):
    assert_strict_policy(owner_client.get("/models/nope/"))
    assert_strict_policy(api.get("/api/v1/models"))


@pytest.mark.parametrize(
    "path", ["/admin/", "/admin/accounts/user/", "/admin/accounts/user/add/", "/admin/deployments/predictiontask/", "/accounts/invites/"]
)
def test_the_admin_pages_need_nothing_the_policy_forbids(client, admin, path):
    client.force_login(admin)
    response = client.get(path)
    assert response.status_code == 200
    assert_strict_policy(response)
    assert inline_code(response.content.decode()) == []


def test_the_api_docs_start_up_script_is_a_file(owner_client, db):
    response = owner_client.get("/api/docs/?script=")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()


def test_the_inline_code_finder_finds_what_the_policy_blocks():
    page = (
        '<script>alert(1)</script><script type="application/json">{}</script><script src="/s.js"></script>'
        '<a href="javascript:history.back()">x</a><form onsubmit="return confirm()"></form><div style="width: 1%"></div>'
    )
    assert inline_code(page) == ["inline <script>", "<a href='javascript:history.back()'>", "<form onsubmit=...>", "<div style='width: 1%'>"]


def test_the_api_schema_and_docs_need_a_credential(client, api, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 401 and schema.json()["error"]["code"] == "not_authenticated"
    docs = client.get("/api/docs/")
    assert docs.status_code == 302 and docs["Location"].startswith("/accounts/login/?next=/api/docs/")
    assert api.get("/api/schema/").status_code == 200
