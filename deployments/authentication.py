"""Deployment-scoped keys: `Authorization: Token mlsd_...` works on one deployment's serving endpoints."""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication

from accounts.authentication import DEPLOYMENT_KEY_PREFIX, key_from_header
from accounts.models import hash_key
from accounts.services import token_touch
from deployments.models import DeploymentKey


class DeploymentKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        key = key_from_header(request)
        if key is None or not key.startswith(DEPLOYMENT_KEY_PREFIX):
            return None
        found = DeploymentKey.objects.select_related("deployment__owner").filter(key_hash=hash_key(key)).first()
        if found is None or not found.deployment.owner.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked deployment key.")
        token_touch(found)
        # The request acts for the deployment's owner, limited to that deployment (see permissions).
        return found.deployment.owner, found

    def authenticate_header(self, request) -> str:
        return "Token"
