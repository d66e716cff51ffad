from django.contrib.auth import authenticate
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, authentication_classes, permission_classes, throttle_classes
from rest_framework.response import Response

from accounts import services
from accounts.api.serializers import TokenRequestSerializer, TokenResponseSerializer
from accounts.lockout import lockout_response
from core.errors import ApplicationError


@extend_schema(request=TokenRequestSerializer, responses={201: TokenResponseSerializer}, tags=["auth"])
@api_view(["POST"])
@authentication_classes([])
@permission_classes([])
@throttle_classes([])
def token_obtain(request):
    """Exchange a username and password for a new API token."""
    serializer = TokenRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    django_request = request._request  # django-axes marks lockouts on the Django request
    user = authenticate(
        django_request, username=serializer.validated_data["username"], password=serializer.validated_data["password"]
    )
    if user is None:
        if getattr(django_request, "axes_locked_out", False):
            return lockout_response(django_request)
        raise ApplicationError(_("Wrong username or password."), code="authentication_failed", status_code=401)
    name = serializer.validated_data.get("name") or f"api {timezone.now():%Y-%m-%d %H:%M:%S.%f}"
    token, key = services.token_create(user=user, name=name)
    return Response({"token": key, "name": token.name}, status=status.HTTP_201_CREATED)
