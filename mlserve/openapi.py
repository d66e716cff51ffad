"""What drf-spectacular needs to describe our authentication and error responses, and the
browsable API page."""

from django.contrib.auth.views import redirect_to_login
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer


class SchemaView(SpectacularAPIView):
    """The OpenAPI schema (YAML, or JSON on Accept), for a credential only (SERVE_PERMISSIONS).
    Its errors are our JSON error shape, like every /api/ answer, not YAML."""

    def handle_exception(self, exc):
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), "application/json"
        return super().handle_exception(exc)


class ApiDocsView(SpectacularSwaggerSplitView):
    """Swagger UI with its start-up script served as a file (no inline script: the pages' CSP).

    Like the schema it needs a credential (SERVE_PERMISSIONS); a visitor is sent to the login page."""

    template_name = "api_docs.html"

    def handle_exception(self, exc):
        if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)) and "script" not in self.request.GET:
            return redirect_to_login(self.request.get_full_path())
        return super().handle_exception(exc)


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "core.credentials.CredentialAuthentication"
    name = "TokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: a key from your account page or POST /api/v1/auth/token (`mls_…`), "
            "or a key of one deployment (`mlsd_…`), which reaches that deployment's serving endpoints only.",
        }


ERROR_STATUSES = {
    "400": "Bad input: the message says which field or what in the body",
    "401": "No token, or an invalid or revoked one",
    "403": "Not allowed (e.g. a deployment key outside its deployment, code upload without permission)",
    "404": "Unknown, or not yours",
    "405": "Method not allowed",
    "409": "Conflict: name taken, in use, not ready",
    "410": "Gone: the result expired",
    "413": "Too large: upload, body, rows or image",
    "415": "Unsupported media type",
    "422": "The deployment's script failed",
    "429": "Too many requests (Retry-After says when to retry)",
    "503": "The deployment is paused",
    "504": "The request, or its script, ran past its time limit",
}


def add_error_responses(result, generator, request, public):
    """Every operation documents the one error shape it can answer with (OIP keeps its own)."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {},
                },
                "required": ["code", "message"],
            }
        },
        "required": ["error"],
    }
    schemas["OipError"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
        "required": ["error"],
    }
    for path, operations in result.get("paths", {}).items():
        reference = {"$ref": "#/components/schemas/" + ("OipError" if path.startswith("/v2/") else "Error")}
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(status, {"description": description, "content": {"application/json": {"schema": reference}}})
    return result
