"""The sign-up page under each MLSERVE_REGISTRATION: open (the default), invite (only through a
single-use, expiring link made by staff) and closed (issue 12, item 8)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Invite, User

PASSWORD = "a-long-passphrase-42"


def sign_up(client, username: str, invite: str | None = None):
    url = "/accounts/signup/" + (f"?invite={invite}" if invite else "")
    return client.post(url, {"username": username, "email": "", "password1": PASSWORD, "password2": PASSWORD})


@pytest.fixture
def invite(admin) -> str:
    return services.invite_create(created_by=admin, note="for newbie")[1]


def test_it_is_open_by_default(client, db, settings):
    assert settings.MLSERVE_REGISTRATION == "open"
    assert "Create an account" in client.get("/").content.decode()
    assert sign_up(client, "newbie").status_code == 302
    assert User.objects.filter(username="newbie").exists()


def test_an_invitation_also_works_while_sign_up_is_open_and_is_used_up(client, invite):
    assert sign_up(client, "newbie", invite).status_code == 302
    assert Invite.objects.get().used_by.username == "newbie"


@pytest.mark.parametrize("mode", ["invite", "closed"])
def test_without_an_invitation_nobody_signs_up(client, db, settings, mode):
    settings.MLSERVE_REGISTRATION = mode
    page = client.get("/accounts/signup/")
    assert page.status_code == 403
    assert ("by invitation" if mode == "invite" else "Sign-up is closed") in page.content.decode()
    assert sign_up(client, "intruder").status_code == 403
    assert not User.objects.filter(username="intruder").exists()
    landing = client.get("/").content.decode()
    assert "Create an account" not in landing and 'id="signup-by-admin"' in landing
    assert 'href="/accounts/signup/"' not in client.get("/accounts/login/").content.decode()


def test_in_invite_mode_a_link_lets_one_person_in_once(client, settings, invite):
    settings.MLSERVE_REGISTRATION = "invite"
    form = client.get(f"/accounts/signup/?invite={invite}")
    assert form.status_code == 200 and 'id="invited"' in form.content.decode()
    assert sign_up(client, "newbie", invite).status_code == 302
    invitation = Invite.objects.get()
    assert invitation.used_by.username == "newbie" and invitation.used is not None
    client.logout()
    again = sign_up(client, "second", invite)
    assert again.status_code == 403 and 'id="invite-invalid"' in again.content.decode()
    assert not User.objects.filter(username="second").exists()


def test_an_expired_or_made_up_link_does_not_work(client, settings, invite):
    settings.MLSERVE_REGISTRATION = "invite"
    Invite.objects.update(expires=timezone.now() - timedelta(seconds=1))
    assert sign_up(client, "late", invite).status_code == 403
    assert sign_up(client, "guesser", "not-a-real-invitation").status_code == 403
    assert not User.objects.filter(username__in=["late", "guesser"]).exists()


def test_an_invitation_taken_while_the_form_was_filled_in_creates_no_user(client, settings, invite, monkeypatch):
    """Two people with one link: the second one's account is not created (the UPDATE matches nothing)."""
    from accounts import selectors

    settings.MLSERVE_REGISTRATION = "invite"
    found = selectors.invite_for_link(invite)
    Invite.objects.update(used=timezone.now())  # the other person got there first
    monkeypatch.setattr(selectors, "invite_for_link", lambda secret: found)
    response = sign_up(client, "second", invite)
    assert response.status_code == 200 and "has just been used or has expired" in response.content.decode()
    assert not User.objects.filter(username="second").exists()


def test_in_closed_mode_even_a_valid_invitation_does_not_work(client, settings, invite):
    settings.MLSERVE_REGISTRATION = "closed"
    assert sign_up(client, "newbie", invite).status_code == 403
    assert not User.objects.filter(username="newbie").exists()
    assert Invite.objects.get().used is None


def test_the_invitation_secret_is_stored_only_as_a_hash(invite):
    from core.credentials import hash_key

    stored = Invite.objects.get()
    assert stored.token_hash == hash_key(invite) and invite not in stored.token_hash


def test_a_malformed_registration_setting_stops_start_up():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", "import mlserve.settings"], cwd=root, capture_output=True, text=True,
        env={**os.environ, "MLSERVE_REGISTRATION": "sometimes"},
    )
    assert result.returncode != 0 and "MLSERVE_REGISTRATION must be open, invite or closed" in result.stderr
