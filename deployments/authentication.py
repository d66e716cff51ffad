"""Deployment-scoped keys: `Authorization: Token mlsd_...` works on one deployment's serving endpoints."""

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from accounts.authentication import DEPLOYMENT_KEY_PREFIX, authenticate_token, key_from_header
from accounts.models import hash_key
from accounts.services import token_touch
from deployments.models import DeploymentKey
from mlserve.ttl_cache import TtlCache, announce_change

_keys = TtlCache()


def deployment_key_for(key: str) -> DeploymentKey | None:
    digest = hash_key(key)
    found = _keys.get(digest)
    if found is None:
        found = DeploymentKey.objects.select_related("deployment__owner").filter(key_hash=digest).first()
        if found is None or not found.deployment.owner.is_active:
            return None
        _keys.set(digest, found, settings.MLSERVE_AUTH_CACHE_SECONDS)
    return found


def forget_key(key: DeploymentKey) -> None:
    _keys.pop(key.key_hash)
    transaction.on_commit(announce_change)  # the other processes of this machine too


def authenticate_deployment_key(key: str):
    found = deployment_key_for(key)
    if found is None:
        raise exceptions.AuthenticationFailed(_("Invalid or revoked deployment key."))
    token_touch(found)
    # The request acts for the deployment's owner, limited to that deployment (see permissions).
    return found.deployment.owner, found


def authenticate_any_key(key: str):
    """A user token or a deployment key, as the serving fast path receives them."""
    return authenticate_deployment_key(key) if key.startswith(DEPLOYMENT_KEY_PREFIX) else authenticate_token(key)


class DeploymentKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        key = key_from_header(request)
        if key is None or not key.startswith(DEPLOYMENT_KEY_PREFIX):
            return None
        return authenticate_deployment_key(key)

    def authenticate_header(self, request) -> str:
        return "Token"
