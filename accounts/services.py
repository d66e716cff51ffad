"""Writes for accounts: sign-up, invitations and API tokens."""

import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import ApiToken, Invite, User
from core import credentials
from core.credentials import hash_key
from core.errors import ApplicationError, Conflict
from core.limits import checked_text


def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a named token; returns it with the plain key, which is never stored."""
    return credentials.issue(ApiToken, name=name, user=user)


def token_revoke(*, token: ApiToken) -> None:
    credentials.revoke(token)


# ---- sign-up and invitations -------------------------------------------------------

INVITE_NOTE_MAX_CHARS = 200


def user_signup(*, form, invite: Invite | None = None) -> User:
    """Create the account from a valid sign-up form, using up the invitation it came with.

    The invitation is taken by an UPDATE that matches only while it is unused and unexpired,
    in the same transaction as the user: two people racing for one link cannot both get in."""
    with transaction.atomic():
        user = form.save()
        if invite is not None:
            now = timezone.now()
            taken = Invite.objects.filter(pk=invite.pk, used__isnull=True, expires__gt=now).update(used_by=user, used=now)
            if not taken:
                raise ApplicationError(
                    _("This invitation has just been used or has expired; ask for a new one."), code="invite_invalid"
                )
    return user


def invite_create(*, created_by: User, note: str = "", days: int | None = None) -> tuple[Invite, str]:
    """A single-use sign-up link's secret, valid `days` days (MLSERVE_INVITE_DAYS by default).
    Returns the invitation and the secret, which is not stored (only its hash)."""
    note = checked_text((note or "").strip(), field="note", limit=INVITE_NOTE_MAX_CHARS)
    days = settings.MLSERVE_INVITE_DAYS if days is None else days
    if not 1 <= days <= 365:
        raise ApplicationError(_("An invitation is valid for 1 to 365 days."), code="invalid_request")
    secret = secrets.token_urlsafe(32)
    invite = Invite.objects.create(
        token_hash=hash_key(secret), note=note, created_by=created_by, expires=timezone.now() + timedelta(days=days)
    )
    return invite, secret


def invite_revoke(*, invite: Invite) -> None:
    if invite.used:
        raise Conflict(_("This invitation has been used already; there is nothing to revoke."), code="invite_used")
    invite.delete()
