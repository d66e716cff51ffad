"""`Authorization: Token <key>` for programs (also accepted as `Bearer <key>`)."""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from accounts.selectors import token_for_key
from accounts.services import token_touch

KEYWORDS = (b"token", b"bearer")
# Keys with this prefix belong to one deployment; deployments.authentication checks them.
DEPLOYMENT_KEY_PREFIX = "mlsd_"


def key_from_header(request) -> str | None:
    parts = get_authorization_header(request).split()
    if not parts or parts[0].lower() not in KEYWORDS:
        return None
    if len(parts) != 2:
        raise exceptions.AuthenticationFailed("Malformed Authorization header: send 'Authorization: Token <key>'.")
    try:
        return parts[1].decode()
    except UnicodeDecodeError:
        raise exceptions.AuthenticationFailed("The token contains characters that are not allowed.") from None


class TokenAuthentication(BaseAuthentication):
    def authenticate(self, request):
        key = key_from_header(request)
        if key is None or key.startswith(DEPLOYMENT_KEY_PREFIX):
            return None
        token = token_for_key(key)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token: create a new one on your account page.")
        token_touch(token)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return "Token"
