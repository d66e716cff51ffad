"""The project's error pages and answers outside DRF: JSON for /api/ and /v2/ paths, HTML pages
for the rest (Django's handler400/403/404/500)."""

import sys

from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import bad_request, page_not_found, permission_denied, server_error

from core.api import SERVER_ERROR_MESSAGE, error_body, is_api_request
from core.faults import fault_error, retry_after


def handler404(request, exception=None):
    if is_api_request(request):
        return JsonResponse(error_body("not_found", _("No such endpoint: %(path)s") % {"path": request.path}), status=404)
    return page_not_found(request, exception)


def handler500(request):
    # Called while Django handles the exception: a fault of the machine or of a shared service
    # (raised where no middleware saw it) is a 503 with its reason.
    unavailable = fault_error(sys.exc_info()[1])
    if unavailable is not None and unavailable.status_code == 503:
        headers = {"Retry-After": retry_after(unavailable)}
        if is_api_request(request):
            return JsonResponse(unavailable.as_dict(), status=503, headers=headers)
        return HttpResponse(unavailable.message, status=503, content_type="text/plain; charset=utf-8", headers=headers)
    if is_api_request(request):
        return JsonResponse(
            error_body("server_error", str(SERVER_ERROR_MESSAGE)),
            status=500,
        )
    return server_error(request)


def handler400(request, exception=None):
    if is_api_request(request):
        return JsonResponse(error_body("bad_request", _("The request could not be understood (bad headers or host?).")), status=400)
    return bad_request(request, exception)


def handler403(request, exception=None):
    if is_api_request(request):
        return JsonResponse(error_body("permission_denied", str(exception) or _("Not allowed.")), status=403)
    return permission_denied(request, exception)
