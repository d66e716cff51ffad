import logging

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils import translation
from django.utils.translation import gettext as _

from core.api import error_body, is_api_request
from core.errors import Unavailable
from core.faults import fault_error, retry_after

log = logging.getLogger(__name__)

# Room for the multipart envelope and the form's other fields around the file.
ENVELOPE_BYTES = 1024 * 1024


class RequestSizeLimitMiddleware:
    """Refuse a body over the upload limit from its Content-Length, before reading it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.MLSERVE_MAX_UPLOAD_SIZE
        if length > limit + ENVELOPE_BYTES:
            # Refused before LocaleMiddleware has run: the answer takes the caller's language here.
            with translation.override(translation.get_language_from_request(request)):
                message = _("The request is %(size)s MB; the upload limit is %(limit)s MB (MLSERVE_MAX_UPLOAD_SIZE).") % {
                    "size": f"{length / 1e6:.1f}",
                    "limit": f"{limit / 1e6:.1f}",
                }
                if is_api_request(request):
                    return JsonResponse(error_body("too_large", message), status=413)
                return render(request, "413.html", {"message": message}, status=413)
        return self.get_response(request)


class FaultMiddleware:
    """A fault of the database, the disk or the artifact store, raised by any page or endpoint
    outside DRF (whose exception handler does the same), answers 503 with its reason and
    Retry-After: JSON under /api/ and /v2/, a page elsewhere. Bugs stay 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        error = fault_error(exception)
        if error is None or not isinstance(error, Unavailable):
            return None  # ApplicationErrors are the views' to show; the rest is a bug
        log.warning("%s on %s: %s", error.code, request.path, exception)
        if is_api_request(request):
            response = JsonResponse(error.as_dict(), status=error.status_code)
        else:
            # No context processors: they read the session and the user, from the database that may be down.
            page = loader.render_to_string("503.html", {"message": error.message, "code": error.code})
            response = HttpResponse(page, status=error.status_code)
        retry = retry_after(error)
        if retry:
            response["Retry-After"] = retry
        return response
