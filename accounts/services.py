"""Writes for accounts: sign-up and API tokens."""

import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiToken, User, hash_key
from mlserve.errors import ApplicationError, NameTaken

TOKEN_PREFIX = "mls_"
# last_used is refreshed at most this often, so authentication does not write on every call.
LAST_USED_RESOLUTION_SECONDS = 60


def new_key(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a named token; returns it with the plain key, which is never stored."""
    name = name.strip()
    if not name:
        raise ApplicationError("A token needs a name, e.g. 'laptop' or 'nightly-job'.", code="invalid_request")
    key = new_key(TOKEN_PREFIX)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(user=user, name=name, key_hash=hash_key(key), prefix=key[:8])
    except IntegrityError:
        raise NameTaken(f"You already have a token named {name!r}; pick another name or revoke that one.") from None
    return token, key


def token_revoke(*, token: ApiToken) -> None:
    from accounts.authentication import forget_token

    token.delete()
    forget_token(token)


def token_touch(token) -> None:
    """Record use without a write per request."""
    now = timezone.now()
    if token.last_used is None or (now - token.last_used).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        type(token).objects.filter(pk=token.pk).update(last_used=now)
        token.last_used = now
