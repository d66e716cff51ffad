from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from core.pagination import paginate, paginated
from models_registry import prediction, selectors, services, tags
from models_registry.api.parsers import PREDICTION_PARSERS, VIDEO_PARAMETERS, prediction_input
from models_registry.api.serializers import (
    ModelCreateSerializer,
    ModelDetailSerializer,
    ModelListSerializer,
    ModelUpdateSerializer,
    PredictionRequestSerializer,
    PredictionResponseSerializer,
    VersionCreateSerializer,
    VersionSerializer,
)


class ModelListView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("search", str, description="Part of the model name"),
            OpenApiParameter("tag", str, description="Only models with this tag: key, or key:value"),
        ],
        responses=paginated(ModelListSerializer),
        operation_id="models_list",
        tags=["models"],
    )
    def get(self, request):
        """The caller's models, newest first."""
        models = selectors.model_list_for_user(
            request.user, request.query_params.get("search", ""), tag=request.query_params.get("tag", "")
        )
        return paginate(request, models, ModelListSerializer, view=self)

    @extend_schema(request={"multipart/form-data": ModelCreateSerializer}, responses={201: ModelDetailSerializer}, tags=["models"])
    def post(self, request):
        """Upload a model file: it is loaded, its schema extracted and a probe prediction run."""
        serializer = ModelCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = services.model_create(
            owner=request.user, name=data["name"], description=data.get("description", ""), upload=data["file"]
        )
        return Response(ModelDetailSerializer(version.model).data, status=status.HTTP_201_CREATED)


class ModelDetailView(APIView):
    @extend_schema(responses=ModelDetailSerializer, tags=["models"])
    def get(self, request, name: str):
        model = selectors.model_get_for_user(request.user, name)
        return Response(ModelDetailSerializer(model).data)

    @extend_schema(request=ModelUpdateSerializer, responses=ModelDetailSerializer, tags=["models"])
    def patch(self, request, name: str):
        """Rename the model, replace its tags, edit the description (Markdown), and field
        descriptions, ranges or allowed values."""
        model = selectors.model_get_for_user(request.user, name)
        serializer = ModelUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        version = selectors.version_get(model, data.get("version"))
        if "name" in data:
            services.model_rename(model=model, name=data["name"])
        if "tags" in data:
            tags.model_tags_set(model=model, tags=data["tags"])
        services.model_update(
            model=model,
            description=data.get("description"),
            fields=data.get("fields"),
            preprocessing=data.get("preprocessing"),
            version=version,
        )
        model.refresh_from_db()
        return Response(ModelDetailSerializer(model).data)

    @extend_schema(responses={204: None}, tags=["models"])
    def delete(self, request, name: str):
        model = selectors.model_get_for_user(request.user, name)
        services.model_delete(model=model)
        return Response(status=status.HTTP_204_NO_CONTENT)


class VersionListView(APIView):
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        parameters=[OpenApiParameter("tag", str, description="Only versions with this tag: key, or key:value")],
        responses=VersionSerializer(many=True),
        tags=["models"],
    )
    def get(self, request, name: str):
        model = selectors.model_get_for_user(request.user, name)
        versions = selectors.version_list(owner=request.user, model=model, tag=request.query_params.get("tag", ""))
        return Response(VersionSerializer(versions, many=True).data)

    @extend_schema(request={"multipart/form-data": VersionCreateSerializer}, responses={201: VersionSerializer}, tags=["models"])
    def post(self, request, name: str):
        """Upload a new version of the model."""
        model = selectors.model_get_for_user(request.user, name)
        serializer = VersionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = services.model_version_add(model=model, user=request.user, upload=serializer.validated_data["file"])
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailView(APIView):
    @extend_schema(responses=VersionSerializer, tags=["models"])
    def get(self, request, name: str, number: int):
        model = selectors.model_get_for_user(request.user, name)
        return Response(VersionSerializer(selectors.version_get(model, number)).data)


class ModelPredictView(APIView):
    parser_classes = PREDICTION_PARSERS

    @extend_schema(
        parameters=[OpenApiParameter("version", int, description="Version to use (default: latest)"), *VIDEO_PARAMETERS],
        request={
            "application/json": PredictionRequestSerializer,
            "multipart/form-data": VersionCreateSerializer,
            "text/csv": bytes,
        },
        responses=PredictionResponseSerializer,
        tags=["models"],
    )
    def post(self, request, name: str):
        """Try the model on JSON rows or a file (CSV, TSV, JSON lines, text, image, ZIP) before deploying it."""
        model = selectors.model_get_for_user(request.user, name)
        version = selectors.version_get(model, request.query_params.get("version"))
        result = prediction.predict(version, **prediction_input(request))
        return Response({**result.body, "elapsed_ms": round(result.elapsed_ms, 3)})
