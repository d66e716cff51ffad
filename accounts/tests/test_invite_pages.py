"""/accounts/invites/: staff create single-use sign-up links (shown once) and revoke them."""

import re

from accounts.models import Invite


def test_staff_create_a_link_that_is_shown_once(client, admin, settings):
    settings.MLSERVE_REGISTRATION = "invite"
    client.force_login(admin)
    response = client.post("/accounts/invites/", {"note": "Ann, data team", "days": 3})
    page = response.content.decode()
    assert response.status_code == 200
    link = re.search(r'id="new-invite-link">([^<]+)<', page).group(1)
    assert link.startswith("http://testserver/accounts/signup/?invite=")
    invite = Invite.objects.get()
    assert invite.note == "Ann, data team" and invite.created_by == admin
    assert 2.9 < (invite.expires - invite.created).total_seconds() / 86400 < 3.1
    listed = client.get("/accounts/invites/").content.decode()
    assert "Ann, data team" in listed and link.split("=")[-1] not in listed


def test_a_used_invitation_is_listed_with_who_used_it(client, admin, settings):
    settings.MLSERVE_REGISTRATION = "invite"
    client.force_login(admin)
    page = client.post("/accounts/invites/", {"note": "", "days": 7}).content.decode()
    link = re.search(r'id="new-invite-link">([^<]+)<', page).group(1)
    client.logout()
    password = "a-long-passphrase-42"
    client.post(link.removeprefix("http://testserver"), {"username": "ann", "password1": password, "password2": password})
    client.force_login(admin)
    assert "used by ann" in client.get("/accounts/invites/").content.decode()


def test_staff_revoke_an_unused_invitation(client, admin):
    from accounts import services

    invite, secret = services.invite_create(created_by=admin)
    client.force_login(admin)
    assert client.post(f"/accounts/invites/{invite.pk}/revoke/").status_code == 302
    assert not Invite.objects.exists()
    client.logout()
    assert client.get(f"/accounts/signup/?invite={secret}").status_code == 200  # open by default: a plain sign-up


def test_other_users_get_403_and_visitors_log_in(client, owner):
    assert client.get("/accounts/invites/").status_code == 302
    client.force_login(owner)
    assert client.get("/accounts/invites/").status_code == 403
    assert client.post("/accounts/invites/", {"note": "x", "days": 1}).status_code == 403
    assert not Invite.objects.exists()


def test_the_validity_is_bounded(client, admin):
    client.force_login(admin)
    response = client.post("/accounts/invites/", {"note": "", "days": 1000})
    assert response.status_code == 200 and "less than or equal to 365" in response.content.decode()
    assert not Invite.objects.exists()
