"""What every API view shares: one error shape, and the messages every door answers with."""

import logging

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.faults import fault_error, retry_after

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


# One sentence each, whichever door (fast path, DRF, OIP, pages) answers.
TOO_LARGE_MESSAGE = gettext_lazy("The request body is larger than this server accepts; send a smaller body or a file.")
SERVER_ERROR_MESSAGE = gettext_lazy("The server failed to handle this request; the error has been logged.")


def is_api_request(request) -> bool:
    """Whether a request is the API's (JSON answers, the error shape) rather than a page's."""
    return request.path.startswith(("/api/", "/v2/"))


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
            error_body("too_large", str(TOO_LARGE_MESSAGE)),
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
