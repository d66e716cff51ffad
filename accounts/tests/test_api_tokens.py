"""API tokens: the account page, POST /api/v1/auth/token and token authentication."""

from accounts.models import ApiToken
from core.credentials import hash_key


def test_account_page_creates_a_token_and_shows_the_key_once(owner_client, owner):
    response = owner_client.post("/accounts/", {"name": "laptop"})
    page = response.content.decode()
    token = ApiToken.objects.get(user=owner, name="laptop")
    key = page.split('id="new-token-key">')[1].split("<")[0]
    assert key.startswith("mls_") and hash_key(key) == token.key_hash
    assert key not in owner_client.get("/accounts/").content.decode()
    assert token.prefix == key[:8]


def test_the_key_is_stored_only_as_a_hash(owner_client, owner):
    page = owner_client.post("/accounts/", {"name": "laptop"}).content.decode()
    key = page.split('id="new-token-key">')[1].split("<")[0]
    stored = ApiToken.objects.values_list("key_hash", "prefix", "name").get()
    assert key not in "".join(stored)


def test_a_duplicate_token_name_is_a_form_error(owner_client, owner):
    owner_client.post("/accounts/", {"name": "laptop"})
    page = owner_client.post("/accounts/", {"name": "laptop"}).content.decode()
    assert "already have a token named" in page
    assert ApiToken.objects.filter(user=owner).count() == 1


def test_revoking_a_token_makes_it_401(owner_client, owner, client):
    from accounts import services

    token, key = services.token_create(user=owner, name="ci")
    assert client.get("/api/v1/models", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert owner_client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 302
    response = client.get("/api/v1/models", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_nobody_revokes_someone_elses_token(client, owner, stranger):
    from accounts import services

    token, _ = services.token_create(user=owner, name="ci")
    client.force_login(stranger)
    assert client.post(f"/accounts/tokens/{token.pk}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_auth_token_endpoint_returns_a_working_token(client, owner):
    response = client.post("/api/v1/auth/token", {"username": "olivia", "password": "owner-pass-123"}, content_type="application/json")
    assert response.status_code == 201
    key = response.json()["token"]
    assert client.get("/api/v1/models", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert client.get("/api/v1/models", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200


def test_auth_token_endpoint_refuses_a_wrong_password(client, owner):
    response = client.post("/api/v1/auth/token", {"username": "olivia", "password": "wrong"}, content_type="application/json")
    assert response.status_code == 401
    assert response.json()["error"] == {"code": "authentication_failed", "message": "Wrong username or password."}


def test_auth_token_endpoint_explains_missing_fields(client, db):
    response = client.post("/api/v1/auth/token", {}, content_type="application/json")
    assert response.status_code == 400
    assert set(response.json()["error"]["details"]["fields"]) == {"username", "password"}


def test_malformed_json_is_a_clear_400(client, db):
    response = client.post("/api/v1/auth/token", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_request"


def test_a_garbage_token_is_401(client, db):
    response = client.get("/api/v1/models", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
    assert client.get("/api/v1/models", HTTP_AUTHORIZATION="Token a b").status_code == 401


def test_last_used_is_recorded(client, owner):
    from accounts import services

    token, key = services.token_create(user=owner, name="ci")
    client.get("/api/v1/models", HTTP_AUTHORIZATION=f"Token {key}")
    token.refresh_from_db()
    assert token.last_used is not None
