"""What a locked-out login gets (django-axes: too many failures for one username from one
address), on the login page and on POST /api/v1/auth/token alike."""

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils.translation import ngettext

from core.api import error_body, is_api_request


def lockout_response(request, original_response=None, credentials=None):
    """django-axes: too many failed logins for this username from this address."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = ngettext(
        "Too many failed logins: try again in %(minutes)d minute.", "Too many failed logins: try again in %(minutes)d minutes.", minutes
    ) % {"minutes": minutes}
    if is_api_request(request):
        response = JsonResponse(error_body("locked_out", message), status=429)
    else:
        response = render(request, "accounts/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
