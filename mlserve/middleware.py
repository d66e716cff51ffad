from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _

from mlserve.api import error_body

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
                if request.path.startswith(("/api/", "/v2/")):
                    return JsonResponse(error_body("too_large", message), status=413)
                return render(request, "413.html", {"message": message}, status=413)
        return self.get_response(request)
