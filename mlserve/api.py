"""What every API view shares: one error shape, JSON 404/500 for /api/ paths."""

import logging
import sys

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from mlserve.faults import fault_error, retry_after

log = logging.getLogger(__name__)

DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid_request",
}


def error_body(code: str, message: str, details=None) -> dict:
    error = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    return {"error": error}


def _validation_message(detail) -> str:
    """One readable sentence out of DRF's nested validation errors."""
    if isinstance(detail, dict):
        parts = []
        for field, errors in detail.items():
            text = _validation_message(errors)
            parts.append(text if field == "non_field_errors" else f"{field}: {text}")
        return "; ".join(parts)
    if isinstance(detail, list):
        return " ".join(_validation_message(item) for item in detail)
    return str(detail)


def exception_handler(exc, context):
    error = fault_error(exc)
    if error is not None:
        if error is not exc:
            log.warning("%s: %s", error.code, exc)
        retry = retry_after(error)
        return Response(error.as_dict(), status=error.status_code, headers={"Retry-After": retry} if retry else None)
    if isinstance(exc, RequestDataTooBig):
        return Response(
            error_body("too_large", _("The request body is larger than this server accepts; send a smaller body or a file.")),
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # an unexpected error: Django answers 500 (JSON for /api/ via handler500)

    code = next((c for cls, c in DRF_CODES.items() if isinstance(exc, cls)), "error")
    if isinstance(exc, exceptions.ValidationError):
        body = error_body(code, _validation_message(exc.detail), {"fields": exc.detail} if isinstance(exc.detail, dict) else None)
    elif isinstance(exc, exceptions.ParseError):
        body = error_body(code, _("The request body could not be parsed: %(error)s") % {"error": exc.detail})
    else:
        body = error_body(code, str(exc.detail))
    response.data = body
    return response


def _is_api(request) -> bool:
    return request.path.startswith(("/api/", "/v2/"))


def handler404(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("not_found", _("No such endpoint: %(path)s") % {"path": request.path}), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request):
    # Called while Django handles the exception: a fault of the machine or of a shared service
    # (raised where no middleware saw it) is a 503 with its reason.
    unavailable = fault_error(sys.exc_info()[1])
    if unavailable is not None and unavailable.status_code == 503:
        headers = {"Retry-After": retry_after(unavailable)}
        if _is_api(request):
            return JsonResponse(unavailable.as_dict(), status=503, headers=headers)
        return HttpResponse(unavailable.message, status=503, content_type="text/plain; charset=utf-8", headers=headers)
    if _is_api(request):
        return JsonResponse(
            error_body("server_error", _("The server failed to handle this request; the error has been logged.")),
            status=500,
        )
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("bad_request", _("The request could not be understood (bad headers or host?).")), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", str(exception) or _("Not allowed.")), status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def lockout_response(request, original_response=None, credentials=None):
    """django-axes: too many failed logins for this username from this address."""
    from django.conf import settings

    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = ngettext(
        "Too many failed logins: try again in %(minutes)d minute.", "Too many failed logins: try again in %(minutes)d minutes.", minutes
    ) % {"minutes": minutes}
    if _is_api(request):
        response = JsonResponse(error_body("locked_out", message), status=429)
    else:
        from django.shortcuts import render

        response = render(request, "accounts/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
