"""What drf-spectacular needs to describe our authentication and error responses."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenAuthentication"
    name = "TokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token <key>`: a key from your account page or POST /api/v1/auth/token.",
        }


class DeploymentKeyScheme(OpenApiAuthenticationExtension):
    target_class = "deployments.authentication.DeploymentKeyAuthentication"
    name = "DeploymentKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Token mlsd_...`: a key of one deployment, for its serving endpoints only.",
        }
