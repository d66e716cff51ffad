"""The serving calls' fast path, in front of Django.

`POST /api/v1/deployments/{name}/predict` with a JSON body and a token, and the Open
Inference Protocol's `POST /v2/models/{name}/infer`, are the calls programs make most, and
for a small model the framework costs more than the model: Django's middleware and URL
resolver, DRF's request wrapping, content negotiation and renderer take most of a
millisecond. This WSGI layer answers exactly those calls, and decides nothing of its own:

- Django decides the host (`request.get_host()` against ALLOWED_HOSTS), whether HTTPS is
  needed (a request SecurityMiddleware would redirect goes to Django), the body's size limit
  (`request.body`) and the language (`get_language_from_request`); the database connections get
  the upkeep Django's request signals give them (`close_if_unusable_or_obsolete`), called
  directly: sending the two signals cost 50-100 µs per call (bench/profile_predict.py);
- `core.credentials.authenticate` decides the key, `core.throttling` its rate,
  `selectors.deployment_for_call` the deployment and the key's scope, `serving.predict_call`
  and `serving.infer` the call (limits, runner, metrics), and `core.api.exception_handler`
  every error's status, headers and body, exactly as for the DRF views.

Every other request (a file, a session cookie, another auth scheme, anything unusual) goes to
Django untouched. See docs/BENCHMARKS.md for what each layer costs.
"""

import logging
import re

import orjson
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import connections
from django.utils import translation
from rest_framework.exceptions import AuthenticationFailed, NotAuthenticated

from core import credentials
from core.api import SERVER_ERROR_MESSAGE, error_body, exception_handler
from core.throttling import check_token_rate
from deployments import oip, selectors, serving
from models_registry.inputs import loads_json

log = logging.getLogger(__name__)

NAME = r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,99})"
DOORS = (
    ("rest", re.compile(rf"^/api/v1/deployments/{NAME}/predict$")),
    ("oip", re.compile(rf"^/v2/models/{NAME}(?:/versions/(?P<version>[^/]+))?/infer$")),
)
JSON_HEADERS = [("Content-Type", "application/json")]
STATUS_LINES = {
    200: "200 OK",
    400: "400 Bad Request",
    401: "401 Unauthorized",
    403: "403 Forbidden",
    404: "404 Not Found",
    409: "409 Conflict",
    413: "413 Request Entity Too Large",
    429: "429 Too Many Requests",
    500: "500 Internal Server Error",
    503: "503 Service Unavailable",
    504: "504 Gateway Timeout",
}


def _route(environ) -> tuple[str, str, str | None] | None:
    """(door, deployment name, version) when this request is one the fast path may answer."""
    if environ["REQUEST_METHOD"] != "POST" or not environ.get("HTTP_AUTHORIZATION"):
        return None
    path = environ.get("PATH_INFO", "")
    door, match = next(((door, m) for door, pattern in DOORS if (m := pattern.match(path))), (None, None))
    if match is None:
        return None
    if door == "rest" and not environ.get("CONTENT_TYPE", "").startswith("application/json"):
        return None  # files and forms: DRF's parsers
    return door, match.group("name"), match.groupdict().get("version")


def _django_lets_through(request: WSGIRequest) -> bool:
    """False when Django would answer this request itself: a host it refuses, or plain HTTP
    where SecurityMiddleware redirects to HTTPS."""
    try:
        request.get_host()
    except DisallowedHost:
        return False
    return not (settings.SECURE_SSL_REDIRECT and not request.is_secure())


def _database_upkeep() -> None:
    """What Django's request signals do for the database (close_old_connections): drop
    connections past their age, or broken ones; never one inside a transaction."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


class _Unhandled(Exception):
    """Not ours after all (another auth scheme): Django takes it."""


def _serve(door: str, name: str, version: str | None, request: WSGIRequest) -> tuple[list, bytes]:
    """(headers, body) of a served call; errors are raised, and answered by _error_answer."""
    key = credentials.parse_authorization(request.META["HTTP_AUTHORIZATION"].encode("latin-1"))
    if key is None:
        raise _Unhandled()
    user, credential = credentials.authenticate(key)
    check_token_rate(credential)
    deployment = selectors.deployment_for_call(user=user, credential=credential, name=name)
    if door == "rest":
        return JSON_HEADERS, serving.predict_call(deployment, lambda: {"data": loads_json(request.body) if request.body else None})
    selectors.check_served_version(deployment, version)
    answer, json_size = serving.infer(deployment, request.body, request.META.get("HTTP_INFERENCE_HEADER_CONTENT_LENGTH"))
    if json_size is None:
        return JSON_HEADERS, answer
    return [("Content-Type", "application/octet-stream"), ("Inference-Header-Content-Length", str(json_size))], answer


def _error_answer(door: str, name: str, exc: Exception) -> tuple[int, list, bytes]:
    """The DRF views' answer to exc (core.api.exception_handler: status, headers, body), in the door's shape."""
    if isinstance(exc, (AuthenticationFailed, NotAuthenticated)):
        exc.auth_header = "Token"  # what DRF's APIView sets from CredentialAuthentication
    response = exception_handler(exc, {})
    if response is None:
        log.exception("%s call failed for deployment %s", door, name, exc_info=exc)
        status, headers, body = 500, [], error_body("server_error", str(SERVER_ERROR_MESSAGE))
    else:
        status, headers, body = response.status_code, [h for h in response.items() if h[0] != "Content-Type"], response.data
    if door == "oip":
        body = oip.protocol_error(body)
    return status, [*JSON_HEADERS, *headers], orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


class FastPredict:
    def __init__(self, django_app):
        self.django_app = django_app

    def __call__(self, environ, start_response):
        route = _route(environ)
        if route is None:
            return self.django_app(environ, start_response)
        request = WSGIRequest(environ)
        if not _django_lets_through(request):
            return self.django_app(environ, start_response)
        _database_upkeep()
        try:
            with translation.override(translation.get_language_from_request(request)):
                answered = self._answer(*route, request)
        finally:
            _database_upkeep()
        if answered is None:
            return self.django_app(environ, start_response)
        status, headers, data = answered
        start_response(STATUS_LINES.get(status, f"{status} Error"), [*headers, ("Content-Length", str(len(data)))])
        return [data]

    @staticmethod
    def _answer(door: str, name: str, version: str | None, request: WSGIRequest) -> tuple[int, list, bytes] | None:
        """(status, headers, body), or None when Django should take the request."""
        try:
            headers, body = _serve(door, name, version, request)
            return 200, headers, body
        except _Unhandled:
            return None
        except Exception as exc:
            return _error_answer(door, name, exc)
