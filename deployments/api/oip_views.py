"""Open Inference Protocol (KServe V2) endpoints on the running deployments.

Errors follow that protocol's shape: {"error": "<message>"} (plus our "code")."""

from django.db import connection
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from deployments import oip, selectors, serving


class OipView(APIView):
    permission_classes = [IsAuthenticated]  # user tokens and deployment keys

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        response.data = oip.protocol_error(response.data)
        return response

    def deployment(self, request, name: str, version: str | None = None):
        deployment = selectors.deployment_for_request(request, name)
        selectors.check_served_version(deployment, version)
        return deployment


class LiveView(OipView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(tags=["open inference protocol"], responses={200: dict})
    def get(self, request):
        return Response({"live": True})


class ReadyView(OipView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(tags=["open inference protocol"], responses={200: dict})
    def get(self, request):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return Response({"ready": True})


class ModelMetadataView(OipView):
    @extend_schema(tags=["open inference protocol"], responses={200: dict})
    def get(self, request, name: str, version: str | None = None):
        return Response(oip.model_metadata(self.deployment(request, name, version)))


class ModelReadyView(OipView):
    @extend_schema(tags=["open inference protocol"], responses={200: dict, 503: dict})
    def get(self, request, name: str, version: str | None = None):
        deployment = self.deployment(request, name, version)
        ready = deployment.is_running
        return Response({"name": deployment.name, "ready": ready}, status=200 if ready else 503)


class InferView(OipView):
    parser_classes = []  # the body is read raw: JSON, maybe followed by binary tensors

    @extend_schema(tags=["open inference protocol"], request=dict, responses={200: dict})
    def post(self, request, name: str, version: str | None = None):
        deployment = self.deployment(request, name, version)
        body, json_size = serving.infer(deployment, request._request.body, request.headers.get("Inference-Header-Content-Length"))
        return oip_response(body, json_size)


def oip_response(body: bytes, json_size: int | None) -> HttpResponse:
    if json_size is None:
        return HttpResponse(body, content_type="application/json")
    response = HttpResponse(body, content_type="application/octet-stream")
    response["Inference-Header-Content-Length"] = str(json_size)
    return response
