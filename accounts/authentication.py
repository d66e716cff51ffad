"""`Authorization: Token <key>` for programs (also accepted as `Bearer <key>`).

Lookups are cached per process for MLSERVE_AUTH_CACHE_SECONDS: a revoked token
stops working at once in every process of this machine (mlserve/ttl_cache.py), and
with REDIS_URL on every other node too (within CHANGES_REDIS_CHECK_SECONDS)."""

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.models import ApiToken, hash_key
from accounts.services import token_touch
from mlserve.ttl_cache import TtlCache, announce_change

KEYWORDS = (b"token", b"bearer")
# Keys with this prefix belong to one deployment; deployments.authentication checks them.
DEPLOYMENT_KEY_PREFIX = "mlsd_"
INVALID_TOKEN = _("Invalid or revoked token: create a new one on your account page.")

_tokens = TtlCache()


def key_from_header(request) -> str | None:
    return parse_authorization(get_authorization_header(request))


def parse_authorization(header: bytes) -> str | None:
    """The key in `Token <key>` / `Bearer <key>`, None for other schemes."""
    parts = header.split()
    if not parts or parts[0].lower() not in KEYWORDS:
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed(_("Malformed Authorization header: send 'Authorization: Token <key>'."))
    try:
        return parts[1].decode()
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed(_("The token contains characters that are not allowed.")) from None


def token_for_key(key: str) -> ApiToken | None:
    """The active token with this key (its user loaded), from the cache when fresh."""
    digest = hash_key(key)
    token = _tokens.get(digest)
    if token is None:
        token = ApiToken.objects.select_related("user").filter(key_hash=digest).first()
        if token is None or not token.user.is_active:
            return None
        _tokens.set(digest, token, settings.MLSERVE_AUTH_CACHE_SECONDS)
    return token


def forget_token(token: ApiToken) -> None:
    _tokens.pop(token.key_hash)
    transaction.on_commit(announce_change)  # the other processes of this machine too


def authenticate_token(key: str):
    token = token_for_key(key)
    if token is None:
        raise exceptions.AuthenticationFailed(INVALID_TOKEN)
    token_touch(token)
    return token.user, token


class TokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        key = key_from_header(request)
        if key is None or key.startswith(DEPLOYMENT_KEY_PREFIX):
            return None
        return authenticate_token(key)

    def authenticate_header(self, request) -> str:
        return "Token"
