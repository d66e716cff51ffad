"""Login and token endpoints lock out after repeated failures (django-axes); API calls are
limited per token (MLSERVE_TOKEN_RATE), on the DRF views and on the predict fast path."""

import pytest

from tests.model_files import IRIS_ROW


def test_the_login_page_locks_out_after_five_failures(client, owner, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/accounts/login/", {"username": "olivia", "password": "wrong"}).status_code == 200
    response = client.post("/accounts/login/", {"username": "olivia", "password": "wrong"})
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    # even the right password is refused while locked out
    response = client.post("/accounts/login/", {"username": "olivia", "password": "owner-pass-123"})
    assert response.status_code == 429


def test_the_token_endpoint_locks_out_too(client, owner, settings):
    url, body = "/api/v1/auth/token", {"username": "olivia", "password": "wrong"}
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(url, body, content_type="application/json").status_code == 401
    response = client.post(url, body, content_type="application/json")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "locked_out" and int(response["Retry-After"]) > 0
    right = client.post(url, {"username": "olivia", "password": "owner-pass-123"}, content_type="application/json")
    assert right.status_code == 429


def test_a_lockout_is_per_username_and_address(client, owner, stranger, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/api/v1/auth/token", {"username": "olivia", "password": "x"}, content_type="application/json")
    other_user = client.post("/api/v1/auth/token", {"username": "sam", "password": "stranger-pass-123"}, content_type="application/json")
    assert other_user.status_code == 201
    elsewhere = client.post(
        "/api/v1/auth/token", {"username": "olivia", "password": "owner-pass-123"}, content_type="application/json", REMOTE_ADDR="10.9.8.7"
    )
    assert elsewhere.status_code == 201


@pytest.fixture
def tight_rate(settings):
    settings.MLSERVE_TOKEN_RATE = "3/minute"


def test_api_calls_are_limited_per_token(api, stranger_api, tight_rate):
    for _ in range(3):
        assert api.get("/api/v1/models").status_code == 200
    response = api.get("/api/v1/models")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled" and int(response["Retry-After"]) >= 0
    assert stranger_api.get("/api/v1/models").status_code == 200  # another token has its own count


def test_the_predict_fast_path_counts_too(api, deploy, settings):
    from deployments.tests.test_fastpath import call

    deploy("iris_logreg.skops", "iris")
    key = api.post("/api/v1/deployments/iris/keys", {"name": "p"}, format="json").json()["key"]
    settings.MLSERVE_TOKEN_RATE = "3/minute"
    statuses = [call("post", "/api/v1/deployments/iris/predict", {"inputs": IRIS_ROW}, HTTP_AUTHORIZATION=f"Token {key}").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


def test_an_empty_rate_means_no_limit(api, settings):
    settings.MLSERVE_TOKEN_RATE = ""
    assert all(api.get("/api/v1/models").status_code == 200 for _ in range(5))
