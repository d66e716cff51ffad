"""Who may do what: every page and API endpoint, as anonymous, the owner, another user,
a deployment key and an admin, with the expected status. Nobody reaches another user's
model, deployment, task, result or metrics, by name or by id.

Each cell runs on fresh data (some calls delete things). A new URL fails
test_every_url_is_in_the_matrix until it has its row here.
"""

import pytest
from django.urls import get_resolver, resolve
from rest_framework.test import APIClient

from tests.model_files import IRIS_ROW

ROLES = ("anon", "owner", "stranger", "key", "admin")


def S(anon, owner, stranger, key, admin) -> dict:
    return dict(zip(ROLES, (anon, owner, stranger, key, admin)))


LOGIN = 302  # pages send visitors to the login page
INFER = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}]}

# (method, path, body, expected per role); {token}, {key_id}, {task} (the owner's) and {key_task}
# (submitted with the deployment key) are filled in per test. A key reaches only its own tasks.
PAGES = [
    ("get", "/", None, S(200, 200, 200, 200, 200)),
    ("get", "/accounts/signup/", None, S(200, 302, 302, 200, 302)),
    ("get", "/accounts/login/", None, S(200, 302, 302, 200, 302)),
    ("post", "/accounts/logout/", {}, S(302, 302, 302, 302, 302)),
    ("get", "/accounts/password/", None, S(LOGIN, 200, 200, LOGIN, 200)),
    ("get", "/accounts/password/done/", None, S(LOGIN, 200, 200, LOGIN, 200)),
    ("get", "/accounts/", None, S(LOGIN, 200, 200, LOGIN, 200)),
    ("post", "/accounts/tokens/{token}/revoke/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("get", "/accounts/invites/", None, S(LOGIN, 403, 403, LOGIN, 200)),  # staff only
    ("post", "/accounts/invites/", {"note": "x", "days": 1}, S(LOGIN, 403, 403, LOGIN, 200)),
    ("post", "/accounts/invites/{invite}/revoke/", {}, S(LOGIN, 403, 403, LOGIN, 302)),
    ("get", "/models/", None, S(LOGIN, 200, 200, LOGIN, 200)),
    ("get", "/models/new/", None, S(LOGIN, 200, 200, LOGIN, 200)),
    ("get", "/models/iris-model/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("get", "/models/iris-model/test/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("post", "/models/iris-model/test/", {"mode": "json", "body": '{"inputs": {}}'}, S(LOGIN, 200, 404, LOGIN, 404)),
    ("get", "/models/iris-model/script/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("post", "/models/iris-model/script/", {"source": "x = 1", "request": "{}"}, S(LOGIN, 200, 404, LOGIN, 404)),
    ("get", "/models/iris-model/edit/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("get", "/models/iris-model/versions/new/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("get", "/models/iris-model/delete/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("post", "/models/iris-model/delete/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("get", "/models/iris-model/rename/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("post", "/models/iris-model/rename/", {"name": "renamed"}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("get", "/models/iris-model/tags/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("post", "/models/iris-model/tags/", {"tags": "team: risk"}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("post", "/models/iris-model/aliases/", {"alias": "challenger", "version": 1}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("post", "/models/iris-model/aliases/spare/delete/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("get", "/models/iris-model/compare/?a=1&b=1", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("post", "/models/iris-model/compare/", {"a": "1", "b": "1"}, S(LOGIN, 200, 404, LOGIN, 404)),
    ("get", "/deployments/", None, S(LOGIN, 200, 200, LOGIN, 200)),
    ("get", "/deployments/new/", None, S(LOGIN, 200, 200, LOGIN, 200)),
    ("get", "/deployments/iris/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("post", "/deployments/iris/start/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("post", "/deployments/iris/pause/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("post", "/deployments/iris/settings/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("post", "/deployments/iris/version/", {"version": 1}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("get", "/deployments/iris/delete/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("post", "/deployments/iris/delete/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("post", "/deployments/iris/keys/new/", {"name": "x"}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("post", "/deployments/iris/keys/{key_id}/revoke/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("get", "/deployments/iris/test/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("get", "/deployments/iris/tasks/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("get", "/deployments/iris/monitoring/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("get", "/deployments/iris/script/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("get", "/tasks/", None, S(LOGIN, 200, 200, LOGIN, 200)),
    ("get", "/tasks/{task}/", None, S(LOGIN, 200, 404, LOGIN, 404)),
    ("post", "/tasks/{task}/cancel/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("post", "/tasks/{task}/retry/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("post", "/tasks/{task}/delete/", {}, S(LOGIN, 302, 404, LOGIN, 404)),
    ("get", "/metrics", None, S(401, 403, 403, 401, 200)),  # a staff session may read it
    ("get", "/api/docs/", None, S(LOGIN, 200, 200, LOGIN, 200)),
    # The language switcher: anyone may choose a language (a cookie, then back where they were).
    ("post", "/i18n/setlang/", {"language": "zh-hans", "next": "/"}, S(302, 302, 302, 302, 302)),
]

API = [
    ("post", "/api/v1/auth/token", {}, S(400, 400, 400, 400, 400)),
    ("get", "/api/v1/models", None, S(401, 200, 200, 403, 200)),
    ("post", "/api/v1/models", {}, S(401, 415, 415, 403, 415)),  # a JSON body: uploads are multipart
    ("get", "/api/v1/models/iris-model", None, S(401, 200, 404, 403, 404)),
    ("patch", "/api/v1/models/iris-model", {}, S(401, 200, 404, 403, 404)),
    ("delete", "/api/v1/models/iris-model", None, S(401, 409, 404, 403, 404)),
    ("get", "/api/v1/models/iris-model/versions", None, S(401, 200, 404, 403, 404)),
    ("post", "/api/v1/models/iris-model/versions", {}, S(401, 415, 404, 403, 404)),
    ("get", "/api/v1/models/iris-model/versions/1", None, S(401, 200, 404, 403, 404)),
    ("post", "/api/v1/models/iris-model/predict", {"inputs": IRIS_ROW}, S(401, 200, 404, 403, 404)),
    ("get", "/api/v1/models/iris-model/tags", None, S(401, 200, 404, 403, 404)),
    ("put", "/api/v1/models/iris-model/tags", {"tags": {"team": "risk"}}, S(401, 200, 404, 403, 404)),
    ("get", "/api/v1/models/iris-model/versions/1/tags", None, S(401, 200, 404, 403, 404)),
    ("put", "/api/v1/models/iris-model/versions/1/tags", {"tags": {"dataset": "q3"}}, S(401, 200, 404, 403, 404)),
    ("get", "/api/v1/models/iris-model/aliases", None, S(401, 200, 404, 403, 404)),
    ("get", "/api/v1/models/iris-model/aliases/spare", None, S(401, 200, 404, 403, 404)),
    ("put", "/api/v1/models/iris-model/aliases/champion", {"version": 1}, S(401, 200, 404, 403, 404)),
    ("delete", "/api/v1/models/iris-model/aliases/spare", None, S(401, 204, 404, 403, 404)),
    ("get", "/api/v1/models/iris-model/compare?a=1&b=1", None, S(401, 200, 404, 403, 404)),
    ("post", "/api/v1/models/iris-model/compare", {"a": "1", "b": "1", "inputs": [IRIS_ROW]}, S(401, 200, 404, 403, 404)),
    ("get", "/api/v1/deployments", None, S(401, 200, 200, 403, 200)),
    ("post", "/api/v1/deployments", {}, S(401, 400, 400, 403, 400)),
    ("get", "/api/v1/deployments/iris", None, S(401, 200, 404, 403, 404)),
    ("patch", "/api/v1/deployments/iris", {}, S(401, 200, 404, 403, 404)),
    ("delete", "/api/v1/deployments/iris", None, S(401, 204, 404, 403, 404)),
    ("post", "/api/v1/deployments/iris/start", None, S(401, 200, 404, 403, 404)),
    ("post", "/api/v1/deployments/iris/pause", None, S(401, 200, 404, 403, 404)),
    ("post", "/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, S(401, 200, 404, 200, 404)),
    ("get", "/api/v1/deployments/iris/metrics", None, S(401, 200, 404, 403, 404)),
    ("get", "/api/v1/deployments/iris/tasks", None, S(401, 200, 404, 200, 404)),
    ("post", "/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, S(401, 202, 404, 202, 404)),
    ("get", "/api/v1/deployments/iris/keys", None, S(401, 200, 404, 403, 404)),
    ("post", "/api/v1/deployments/iris/keys", {"name": "new"}, S(401, 201, 404, 403, 404)),
    ("delete", "/api/v1/deployments/iris/keys/{key_id}", None, S(401, 204, 404, 403, 404)),
    ("get", "/api/v1/deployments/iris/script", None, S(401, 404, 404, 403, 404)),
    # Scripts run sandboxed beside the model: every owner may write one (MLSERVE_SCRIPTS_NEED_CODE_PERMISSION).
    ("put", "/api/v1/deployments/iris/script", {"source": "def preprocess(r):\n    return []\n"}, S(401, 201, 404, 403, 404)),
    ("post", "/api/v1/deployments/iris/script/try", {"source": "x = 1", "request": {}}, S(401, 400, 404, 403, 404)),
    ("get", "/api/v1/tasks", None, S(401, 200, 200, 403, 200)),
    ("get", "/api/v1/tasks/{task}", None, S(401, 200, 404, 404, 404)),
    ("delete", "/api/v1/tasks/{task}", None, S(401, 200, 404, 404, 404)),
    ("get", "/api/v1/tasks/{task}/result", None, S(401, 409, 404, 404, 404)),
    ("post", "/api/v1/tasks/{task}/retry", None, S(401, 409, 404, 404, 404)),
    ("get", "/api/v1/tasks/{key_task}", None, S(401, 200, 404, 200, 404)),
    ("delete", "/api/v1/tasks/{key_task}", None, S(401, 200, 404, 200, 404)),
    ("get", "/api/v1/tasks/{key_task}/result", None, S(401, 409, 404, 409, 404)),
    ("post", "/api/v1/tasks/{key_task}/retry", None, S(401, 409, 404, 409, 404)),
    ("get", "/v2/health/live", None, S(200, 200, 200, 200, 200)),
    ("get", "/v2/health/ready", None, S(200, 200, 200, 200, 200)),
    ("get", "/v2/models/iris", None, S(401, 200, 404, 200, 404)),
    ("get", "/v2/models/iris/ready", None, S(401, 200, 404, 200, 404)),
    ("post", "/v2/models/iris/infer", INFER, S(401, 200, 404, 200, 404)),
    ("get", "/v2/models/iris/versions/1", None, S(401, 200, 404, 200, 404)),
    ("get", "/v2/models/iris/versions/1/ready", None, S(401, 200, 404, 200, 404)),
    ("post", "/v2/models/iris/versions/1/infer", INFER, S(401, 200, 404, 200, 404)),
    # The schema and its page need a credential (docs/security.md); a visitor is sent to log in.
    ("get", "/api/schema/", None, S(401, 200, 200, 200, 200)),
    ("get", "/api/docs/", None, S(LOGIN, 200, 200, 200, 200)),
    ("get", "/healthz", None, S(200, 200, 200, 200, 200)),
    ("get", "/livez", None, S(200, 200, 200, 200, 200)),
    # API tokens and keys mean nothing there: the scrape token or a staff session (test_prometheus).
    ("get", "/metrics", None, S(401, 401, 401, 401, 401)),
]

CELLS = [(kind, *row, role) for kind, rows in (("page", PAGES), ("api", API)) for row in rows for role in ROLES]


@pytest.fixture
def world(owner, stranger, admin, api, deploy, inline_queue):
    """The owner's model (with an alias, "spare", that no deployment follows), deployment, token,
    deployment key, a task queued by the owner and one by the key."""
    from accounts import services
    from accounts.models import ApiToken

    deploy("iris_logreg.skops", "iris")
    api.put("/api/v1/models/iris-model/aliases/spare", {"version": 1}, format="json")
    invite, _ = services.invite_create(created_by=admin)
    key = api.post("/api/v1/deployments/iris/keys", {"name": "partner"}, format="json").json()
    task = api.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, format="json").json()
    partner = APIClient()
    partner.credentials(HTTP_AUTHORIZATION=f"Token {key['key']}")
    key_task = partner.post("/api/v1/deployments/iris/tasks", {"inputs": [IRIS_ROW]}, format="json").json()
    return {
        "token": ApiToken.objects.filter(user=owner).first().pk,
        "key_id": key["id"],
        "key": key["key"],
        "task": task["task_id"],
        "key_task": key_task["task_id"],
        "invite": invite.pk,
        "users": {"owner": owner, "stranger": stranger, "admin": admin},
    }


def client_for(kind: str, role: str, world, client):
    """Pages: a logged-in browser (keys mean nothing there). API: a token, or the deployment key."""
    from accounts import services

    if kind == "page":
        if role in ("owner", "stranger", "admin"):
            client.force_login(world["users"][role])
        return client
    api = APIClient()
    if role == "key":
        api.credentials(HTTP_AUTHORIZATION=f"Token {world['key']}")
    elif role != "anon":
        _, token = services.token_create(user=world["users"][role], name=f"matrix-{role}")
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return api


@pytest.mark.parametrize(
    "kind, method, path, body, expected, role", CELLS, ids=[f"{c[0]}-{c[1]}-{c[2]}-{c[5]}" for c in CELLS]
)
def test_access(kind, method, path, body, expected, role, world, client):
    url = path.format(**{k: world[k] for k in ("token", "key_id", "task", "key_task", "invite")})
    requester = client_for(kind, role, world, client)
    if kind == "api":
        response = getattr(requester, method)(url, body, format="json") if body is not None else getattr(requester, method)(url)
    else:
        response = getattr(requester, method)(url, body or {})
    assert response.status_code == expected[role], (role, url, response.content[:300])
    if response.status_code in (401, 403, 404) and url.startswith("/api/"):
        assert response.json()["error"]["message"]  # the same error shape everywhere


def test_every_url_is_in_the_matrix():
    no_task = "00000000-0000-0000-0000-000000000000"
    covered = {resolve(path.format(token=1, key_id=1, task=no_task, key_task=no_task, invite=1).split("?")[0]).url_name
               for _, path, _, _ in PAGES + API}

    def names(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                if getattr(pattern, "app_name", None) != "admin":
                    yield from names(pattern.url_patterns)
            elif pattern.name:
                yield pattern.name

    missing = set(names(get_resolver().url_patterns)) - covered
    assert not missing, f"URLs without a row in the access matrix: {sorted(missing)}"
