"""The synchronous predict endpoint's fast path, in front of Django.

`POST /api/v1/deployments/{name}/predict` with a JSON body and a token is the call
programs make most, and for a small model the framework costs more than the
model: Django's middleware and URL resolver, DRF's request wrapping, content
negotiation and renderer take most of a millisecond. This WSGI layer answers
exactly that call with the same functions the DRF view uses (token lookup,
deployment lookup and key scope, limits, metrics, the input layer, the answer's
shape, the error shape); every other request, including predict with a file, a
session cookie or anything unusual, goes to Django untouched. See
docs/BENCHMARKS.md for what each layer cost.
"""

import logging
import re

import orjson
from django.conf import settings
from django.db import connections
from django.http import Http404
from django.http.request import split_domain_port, validate_host
from rest_framework.exceptions import APIException, NotFound

from deployments import selectors, serving
from mlserve.api import error_body
from mlserve.errors import ApplicationError, InvalidInput

log = logging.getLogger(__name__)

PREDICT_PATH = re.compile(r"^/api/v1/deployments/([A-Za-z0-9][A-Za-z0-9._-]{0,99})/predict$")
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


def _takes(environ) -> str | None:
    """The deployment name when this request is one the fast path answers."""
    if environ["REQUEST_METHOD"] != "POST" or not environ.get("HTTP_AUTHORIZATION"):
        return None
    if not environ.get("CONTENT_TYPE", "").startswith("application/json"):
        return None
    match = PREDICT_PATH.match(environ.get("PATH_INFO", ""))
    if match is None:
        return None
    if settings.SECURE_SSL_REDIRECT and environ.get("HTTP_X_FORWARDED_PROTO", environ.get("wsgi.url_scheme")) != "https":
        return None  # Django redirects it
    host, _ = split_domain_port(environ.get("HTTP_HOST", environ.get("SERVER_NAME", "")))
    if not validate_host(host, settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])):
        return None  # Django refuses it
    return match.group(1)


def _body(environ) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        from mlserve.errors import TooLarge

        raise TooLarge("The request body is larger than this server accepts; send a smaller body or a file.")
    return environ["wsgi.input"].read(length) if length else b""


def _predict(name: str, environ) -> dict:
    from accounts.authentication import parse_authorization
    from accounts.throttling import check_token_rate
    from deployments.authentication import authenticate_any_key

    key = parse_authorization(environ["HTTP_AUTHORIZATION"].encode("latin-1"))
    if key is None:
        raise _Unhandled()
    user, auth = authenticate_any_key(key)
    check_token_rate(auth)
    deployment = selectors.deployment_for_serving(user, name)
    selectors.check_key_scope(auth, deployment)
    body = _body(environ)
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"The request body could not be parsed: JSON parse error - {exc}", code="malformed_request") from None
    return serving.predict_sync(deployment, data=data).body


def _database_upkeep() -> None:
    """What Django's request signals do for the database: drop connections past their age, or
    broken ones (never one inside a transaction)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


class _Unhandled(Exception):
    """Not ours after all (e.g. another auth scheme): Django takes it."""


class FastPredict:
    def __init__(self, django_app):
        self.django_app = django_app

    def __call__(self, environ, start_response):
        name = _takes(environ)
        if name is None:
            return self.django_app(environ, start_response)
        _database_upkeep()
        try:
            status, headers, payload = self._answer(name, environ)
        finally:
            _database_upkeep()
        if payload is None:
            return self.django_app(environ, start_response)
        data = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
        start_response(STATUS_LINES.get(status, f"{status} Error"), [*headers, ("Content-Length", str(len(data)))])
        return [data]

    @staticmethod
    def _answer(name: str, environ) -> tuple[int, list, dict | None]:
        """(status, headers, body); body None when Django should take the request."""
        try:
            return 200, JSON_HEADERS, _predict(name, environ)
        except _Unhandled:
            return 0, [], None
        except ApplicationError as exc:
            headers = JSON_HEADERS
            if exc.status_code == 429:
                retry = exc.details.get("retry_after_seconds", 1) if isinstance(exc.details, dict) else 1
                headers = [*JSON_HEADERS, ("Retry-After", str(retry))]
            return exc.status_code, headers, exc.as_dict()
        except Http404:
            return 404, JSON_HEADERS, error_body("not_found", str(NotFound.default_detail))
        except APIException as exc:  # authentication failures raised by the shared token functions
            code = "authentication_failed" if exc.status_code == 401 else "permission_denied"
            headers = JSON_HEADERS + ([("WWW-Authenticate", "Token")] if exc.status_code == 401 else [])
            return exc.status_code, headers, error_body(code, str(exc.detail))
        except Exception:
            log.exception("predict failed for deployment %s", name)
            return 500, JSON_HEADERS, error_body("server_error", "The server failed to handle this request; the error has been logged.")
