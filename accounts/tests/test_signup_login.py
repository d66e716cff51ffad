"""Sign-up, login, logout and password change pages."""

from accounts.models import User


def test_signup_creates_the_user_and_logs_in(client, db):
    response = client.post(
        "/accounts/signup/",
        {"username": "newbie", "email": "", "password1": "a-long-passphrase-42", "password2": "a-long-passphrase-42"},
    )
    assert response.status_code == 302 and response["Location"] == "/models/"
    assert User.objects.filter(username="newbie").exists()
    assert client.get("/models/").status_code == 200


def test_signup_shows_errors_beside_fields(client, db, owner):
    response = client.post("/accounts/signup/", {"username": "olivia", "password1": "x", "password2": "y"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "already exists" in page and "didn’t match" in page
    assert User.objects.count() == 1


def test_login_and_logout(client, owner):
    assert client.get("/accounts/login/").status_code == 200
    response = client.post("/accounts/login/", {"username": "olivia", "password": "owner-pass-123"})
    assert response.status_code == 302 and response["Location"] == "/"  # the Dashboard
    assert client.get("/accounts/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/accounts/").status_code == 302


def test_login_with_a_wrong_password_says_so(client, owner):
    response = client.post("/accounts/login/", {"username": "olivia", "password": "nope"})
    assert response.status_code == 200
    assert "correct username and password" in response.content.decode()


def test_password_change(client, owner):
    client.force_login(owner)
    response = client.post(
        "/accounts/password/",
        {"old_password": "owner-pass-123", "new_password1": "brand-new-phrase-77", "new_password2": "brand-new-phrase-77"},
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.check_password("brand-new-phrase-77")


def test_home_is_a_landing_page_for_visitors_and_the_dashboard_for_users(client, owner):
    page = client.get("/").content.decode()
    assert "Create an account" in page
    client.force_login(owner)
    page = client.get("/").content.decode()
    assert "Dashboard" in page and "Upload a model" in page
