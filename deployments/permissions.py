from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import BasePermission

from deployments.models import DeploymentKey


class RejectDeploymentKeys(BasePermission):
    """Management endpoints take user tokens and sessions, never a deployment's key."""

    message = _("A deployment key only works on its deployment's serving endpoints (predict, tasks, OIP).")

    def has_permission(self, request, view) -> bool:
        return not isinstance(request.auth, DeploymentKey)
