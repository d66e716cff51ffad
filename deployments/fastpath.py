"""The serving calls' fast path, in front of Django.

`POST /api/v1/deployments/{name}/predict` with a JSON body and a token, and the Open
Inference Protocol's `POST /v2/models/{name}/infer`, are the calls programs make
most, and for a small model the framework costs more than the model: Django's
middleware and URL resolver, DRF's request wrapping, content negotiation and
renderer take most of a millisecond. This WSGI layer answers exactly those calls
with the same functions the DRF views use (token lookup, deployment lookup and key
scope, serving.predict_sync / serving.infer with their limits and metrics, the
input layer, the error shape); every other request, including predict with a file,
a session cookie or anything unusual, goes to Django untouched. See
docs/BENCHMARKS.md for what each layer cost.
"""

import logging
import re

import orjson
from django.conf import settings
from django.db import connections
from django.http import Http404
from django.http.request import split_domain_port, validate_host
from django.utils import translation
from django.utils.translation import get_supported_language_variant, gettext
from django.utils.translation.trans_real import parse_accept_lang_header
from rest_framework.exceptions import APIException, NotFound

from deployments import selectors, serving
from mlserve.api import error_body
from mlserve.errors import ApplicationError
from mlserve.faults import fault_error, retry_after
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


def _takes(environ) -> tuple[str, str, str | None] | None:
    """(door, deployment name, version) when this request is one the fast path answers."""
    if environ["REQUEST_METHOD"] != "POST" or not environ.get("HTTP_AUTHORIZATION"):
        return None
    path = environ.get("PATH_INFO", "")
    door, match = next(((door, m) for door, pattern in DOORS if (m := pattern.match(path))), (None, None))
    if match is None:
        return None
    if door == "rest" and not environ.get("CONTENT_TYPE", "").startswith("application/json"):
        return None  # files and forms: DRF's parsers
    if settings.SECURE_SSL_REDIRECT and environ.get("HTTP_X_FORWARDED_PROTO", environ.get("wsgi.url_scheme")) != "https":
        return None  # Django redirects it
    host, _ = split_domain_port(environ.get("HTTP_HOST", environ.get("SERVER_NAME", "")))
    if not validate_host(host, settings.ALLOWED_HOSTS or (["localhost", "127.0.0.1", "[::1]"] if settings.DEBUG else [])):
        return None  # Django refuses it
    return door, match.group("name"), match.groupdict().get("version")


def _body(environ) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        from mlserve.errors import TooLarge

        raise TooLarge(gettext("The request body is larger than this server accepts; send a smaller body or a file."))
    return environ["wsgi.input"].read(length) if length else b""


def _serve(door: str, name: str, version: str | None, environ) -> tuple[list, bytes]:
    """(headers, body) of a served call; errors are raised, and shaped by the door."""
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
    if door == "rest":
        try:
            body = _body(environ)
            data = loads_json(body) if body else None
        except ApplicationError as exc:
            serving.record_refused(deployment, "rest", exc)
            raise
        return JSON_HEADERS, serving.predict_sync(deployment, data=data).to_json()
    body = _body(environ)
    selectors.check_served_version(deployment, version)
    answer, json_size = serving.infer(deployment, body, environ.get("HTTP_INFERENCE_HEADER_CONTENT_LENGTH"))
    if json_size is None:
        return JSON_HEADERS, answer
    return [("Content-Type", "application/octet-stream"), ("Inference-Header-Content-Length", str(json_size))], answer


def _error(door: str, code: str, message: str) -> bytes:
    """Each door's error shape: ours, or the Open Inference Protocol's {"error": message}."""
    if door == "oip":
        return orjson.dumps({"error": message, "code": code})
    return orjson.dumps(error_body(code, message))


def _database_upkeep() -> None:
    """What Django's request signals do for the database: drop connections past their age, or
    broken ones (never one inside a transaction)."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


def _language(environ) -> str:
    """The caller's language for error messages, chosen from Accept-Language as LocaleMiddleware
    would; always returned, because a worker thread keeps the language of its last page."""
    header = environ.get("HTTP_ACCEPT_LANGUAGE")
    if header:
        for code, _quality in parse_accept_lang_header(header):
            if code == "*":
                break
            try:
                return get_supported_language_variant(code)
            except LookupError:
                continue
    return settings.LANGUAGE_CODE


class _Unhandled(Exception):
    """Not ours after all (e.g. another auth scheme): Django takes it."""


class FastPredict:
    def __init__(self, django_app):
        self.django_app = django_app

    def __call__(self, environ, start_response):
        route = _takes(environ)
        if route is None:
            return self.django_app(environ, start_response)
        _database_upkeep()
        try:
            with translation.override(_language(environ)):
                answered = self._answer(*route, environ)
        finally:
            _database_upkeep()
        if answered is None:
            return self.django_app(environ, start_response)
        status, headers, data = answered
        start_response(STATUS_LINES.get(status, f"{status} Error"), [*headers, ("Content-Length", str(len(data)))])
        return [data]

    @staticmethod
    def _error_answer(door: str, error: ApplicationError) -> tuple[int, list, bytes]:
        retry = retry_after(error)
        headers = [*JSON_HEADERS, ("Retry-After", retry)] if retry else JSON_HEADERS
        if door == "rest":
            return error.status_code, headers, orjson.dumps(error.as_dict(), option=orjson.OPT_SERIALIZE_NUMPY)
        return error.status_code, headers, _error(door, error.code, error.message)

    @staticmethod
    def _answer(door: str, name: str, version: str | None, environ) -> tuple[int, list, bytes] | None:
        """(status, headers, body), or None when Django should take the request."""
        try:
            headers, body = _serve(door, name, version, environ)
            return 200, headers, body
        except _Unhandled:
            return None
        except ApplicationError as exc:
            return FastPredict._error_answer(door, exc)
        except Http404:
            return 404, JSON_HEADERS, _error(door, "not_found", str(NotFound.default_detail))
        except APIException as exc:  # authentication failures raised by the shared token functions
            code = "authentication_failed" if exc.status_code == 401 else "permission_denied"
            headers = JSON_HEADERS + ([("WWW-Authenticate", "Token")] if exc.status_code == 401 else [])
            return exc.status_code, headers, _error(door, code, str(exc.detail))
        except Exception as exc:
            error = fault_error(exc)
            if error is not None:  # the database, the disk, Redis or the store: 503 naming it
                log.warning("%s call for deployment %s: %s (%s)", door, name, error.message, exc)
                return FastPredict._error_answer(door, error)
            log.exception("%s call failed for deployment %s", door, name)
            return 500, JSON_HEADERS, _error(door, "server_error", gettext("The server failed to handle this request; the error has been logged."))
