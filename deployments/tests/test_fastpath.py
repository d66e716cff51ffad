"""The predict fast path in front of Django (mlserve.wsgi): same answers, same errors,
and everything it does not take reaches Django unchanged."""

import json
from contextlib import contextmanager

import pytest
from django.core import signals
from django.db import close_old_connections
from django.test import RequestFactory

from mlserve.wsgi import application
from tests.model_files import IRIS_ROW

factory = RequestFactory()


class WsgiResponse:
    def __init__(self, status: str, headers: list, body: bytes):
        self.status_code = int(status.split()[0])
        self.headers = dict(headers)
        self.body = body

    def json(self):
        return json.loads(self.body)


def call(method: str, path: str, body=None, content_type: str = "application/json", **headers) -> WsgiResponse:
    """One request through the whole WSGI application, as gunicorn would make it."""
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    request = getattr(factory, method)(path, data=data or "", content_type=content_type, HTTP_HOST="127.0.0.1", **headers)
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"], seen["headers"] = status, response_headers

    with keep_test_database_open():
        chunks = application(request.environ, start_response)
        body = b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
    return WsgiResponse(seen["status"], seen["headers"], body)


@contextmanager
def keep_test_database_open():
    """What Django's test client does: requests must not close the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def token(owner):
    from accounts import services

    return services.token_create(user=owner, name="fast")[1]


def auth(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {token}"}


def test_it_answers_what_the_drf_view_answers(api, iris, token):
    for body in ({"inputs": IRIS_ROW}, {"dataframe_records": [IRIS_ROW, {**IRIS_ROW, "petal_length": 5.0}]}):
        fast = call("post", "/api/v1/deployments/iris/predict", body, **auth(token))
        assert fast.status_code == 200 and fast.headers["Content-Type"] == "application/json"
        assert fast.json() == api.post("/api/v1/deployments/iris/predict", body, format="json").json()


def test_it_records_metrics_and_takes_deployment_keys(api, iris):
    from deployments import metrics
    from deployments.models import Deployment

    key = api.post("/api/v1/deployments/iris/keys", {"name": "p"}, format="json").json()["key"]
    assert call("post", "/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, **auth(key)).status_code == 200
    metrics.flush()
    assert metrics.summary(Deployment.objects.get())["by_source"] == {"rest": 1}


@pytest.mark.parametrize(
    "case, status, code",
    [
        ("bad token", 401, "authentication_failed"),
        ("unknown deployment", 404, "not_found"),
        ("malformed json", 400, "malformed_request"),
        ("bad field", 400, "invalid_input"),
        ("too many rows", 413, "too_many_rows"),
        ("paused", 503, "deployment_paused"),
        ("another deployment's key", 403, "wrong_deployment_key"),
        ("huge body", 413, "too_large"),
    ],
)
def test_errors_have_the_api_shape(api, iris, deploy, token, settings, case, status, code):
    path, body, headers = "/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, auth(token)
    if case == "bad token":
        headers = auth("nope")
    elif case == "unknown deployment":
        path = "/api/v1/deployments/nothing/predict"
    elif case == "malformed json":
        body = b'{"inputs": '
    elif case == "bad field":
        body = {"inputs": {**IRIS_ROW, "petal_width": "x"}}
    elif case == "too many rows":
        api.patch("/api/v1/deployments/iris", {"max_rows": 1}, format="json")
        body = {"inputs": [IRIS_ROW, IRIS_ROW]}
    elif case == "paused":
        api.post("/api/v1/deployments/iris/pause")
    elif case == "another deployment's key":
        deploy("tree_iris.pmml", "other")
        headers = auth(api.post("/api/v1/deployments/other/keys", {"name": "k"}, format="json").json()["key"])
    elif case == "huge body":
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10
    response = call("post", path, body, **headers)
    assert response.status_code == status, response.body
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["message"]


def test_someone_elses_deployment_is_404(iris, stranger):
    from accounts import services

    _, key = services.token_create(user=stranger, name="s")
    assert call("post", "/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, **auth(key)).status_code == 404


def test_429_carries_retry_after(deploy, token):
    from deployments import limits
    from deployments.models import Deployment

    deploy("iris_logreg.skops", "one", max_concurrency=1)
    with limits.concurrency_slot(Deployment.objects.get(name="one")):
        response = call("post", "/api/v1/deployments/one/predict", {"inputs": IRIS_ROW}, **auth(token))
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"


def test_what_it_does_not_take_reaches_django(iris, token, owner_client):
    # no token: Django/DRF answers 401 in the same shape
    response = call("post", "/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW})
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"
    # a CSV body: Django's view reads files
    csv = "sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n"
    response = call("post", "/api/v1/deployments/iris/predict", csv, content_type="text/csv", **auth(token))
    assert response.status_code == 200 and response.json()["predictions"] == [0]
    # another method, another path, another auth scheme
    assert call("get", "/api/v1/deployments/iris/predict", **auth(token)).status_code == 405
    assert call("get", "/api/v1/deployments/iris", **auth(token)).status_code == 200
    response = call("post", "/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, HTTP_AUTHORIZATION="Basic abc")
    assert response.status_code == 401


def test_a_host_django_would_refuse_is_left_to_django(iris, token):
    request = factory.post(
        "/api/v1/deployments/iris/predict", data=json.dumps({"inputs": IRIS_ROW}), content_type="application/json",
        HTTP_HOST="evil.example", **auth(token),
    )
    seen = {}
    with keep_test_database_open():
        body = b"".join(application(request.environ, lambda s, h, e=None: seen.update(status=s)))
    assert seen["status"].startswith("400")
    assert b"predictions" not in body


def test_a_malformed_body_is_counted_on_the_fast_path_too(api, iris, token):
    from deployments import metrics
    from deployments.models import Deployment

    response = call("post", "/api/v1/deployments/iris/predict", b"{not json", **auth(token))
    assert response.status_code == 400 and response.json()["error"]["code"] == "malformed_request"
    metrics.flush()
    assert metrics.summary(Deployment.objects.get())["errors_by_kind"] == {"malformed_request": 1}


def test_a_locked_database_on_the_fast_path_is_503_with_retry_after(api, iris, token, monkeypatch):
    from django.db import OperationalError

    from deployments import serving

    def locked(*args, **kwargs):
        raise OperationalError("database is locked")

    monkeypatch.setattr(serving, "predict_sync", locked)
    response = call("post", "/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, **auth(token))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "database_locked"
