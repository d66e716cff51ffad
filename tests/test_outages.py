"""A shared service that is down answers 503 with its name (docs/operations.md, "When a shared
service is down"), on the API, on pages and on the predict fast path; anything else stays a 500."""

import pytest
from botocore.exceptions import EndpointConnectionError
from django.db import OperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.test import APIClient

from accounts import services as account_services
from core.faults import fault_error

# Nothing listens here (the cluster test's range, never used for a server).
DEAD_REDIS = "redis://127.0.0.1:18299/0"


@pytest.mark.parametrize(
    "error, service, code",
    [
        (OperationalError("connection to server at 127.0.0.1 failed"), "database", "database_unavailable"),
        (RedisConnectionError("Connection refused"), "redis", "service_unavailable"),
        (EndpointConnectionError(endpoint_url="http://store:9000"), "object_store", "service_unavailable"),
    ],
)
def test_each_shared_service_down_is_a_503_naming_it(error, service, code):
    unavailable = fault_error(error)
    assert unavailable.status_code == 503 and unavailable.code == code
    assert unavailable.details["service"] == service and "Retry" in unavailable.message


def test_a_bug_is_not_an_outage():
    assert fault_error(ValueError("a bug")) is None and fault_error(None) is None


@pytest.fixture
def redis_down(settings):
    settings.REDIS_URL = DEAD_REDIS
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": DEAD_REDIS,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }


def test_a_prediction_while_redis_is_down_answers_503_on_the_api(owner, iris, redis_down):
    _, key = account_services.token_create(user=owner, name="while-down")
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post("/api/v1/deployments/iris/predict", {"inputs": {"sepal_length": 5.1}}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
    assert response.json()["error"]["details"]["service"] == "redis"
    assert response["Retry-After"] == "5"


def test_the_fast_path_answers_503_too_when_redis_is_down(owner, iris, redis_down, wsgi_requests_keep_database):
    import io
    import json

    from mlserve.wsgi import application

    _, key = account_services.token_create(user=owner, name="while-down-fast")
    body = json.dumps({"inputs": {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}}).encode()
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/api/v1/deployments/iris/predict", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80", "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": f"Token {key}", "HTTP_HOST": "127.0.0.1",
        "wsgi.errors": io.StringIO(),
    }
    seen = {}
    answer = b"".join(application(environ, lambda status, headers: seen.update(status=status)))
    assert seen["status"].startswith("503")
    assert json.loads(answer)["error"]["details"]["service"] == "redis"


@pytest.mark.django_db(transaction=True)
def test_a_task_that_cannot_be_queued_fails_with_the_reason_and_answers_503(api, iris, monkeypatch):
    from deployments import delivery
    from deployments.models import PredictionTask

    def queue_down(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(delivery, "async_task", queue_down)
    api.raise_request_exception = False
    response = api.post("/api/v1/deployments/iris/tasks", {"inputs": [{"sepal_length": 5.1, "sepal_width": 3.5,
                        "petal_length": 1.4, "petal_width": 0.2}]}, format="json")
    assert response.status_code == 503 and response.json()["error"]["details"]["service"] == "redis"
    task = PredictionTask.objects.get()
    assert task.status == PredictionTask.Status.FAILED and "could not be queued" in task.error
