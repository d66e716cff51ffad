"""The registry's API beyond upload and predict: tags, aliases and comparing two versions."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from models_registry import aliases, compare, selectors, tags
from models_registry.api.parsers import SafeJSONParser
from models_registry.api.serializers import (
    AliasSerializer,
    AliasSetSerializer,
    CompareRequestSerializer,
    CompareSerializer,
    TagsSerializer,
)


def _tags(owner_tags) -> dict:
    return {"tags": {tag.key: tag.value for tag in owner_tags.order_by("key")}}


class ModelTagsView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(responses=TagsSerializer, tags=["models"])
    def get(self, request, name: str):
        model = selectors.model_get_for_user(request.user, name)
        return Response(_tags(model.tags))

    @extend_schema(request=TagsSerializer, responses=TagsSerializer, tags=["models"])
    def put(self, request, name: str):
        """Replace the model's tags with these ({} removes them all)."""
        model = selectors.model_get_for_user(request.user, name)
        serializer = TagsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tags.model_tags_set(model=model, tags=serializer.validated_data["tags"])
        return Response(_tags(model.tags))


class VersionTagsView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(responses=TagsSerializer, tags=["models"])
    def get(self, request, name: str, number: int):
        version = selectors.version_get(selectors.model_get_for_user(request.user, name), number)
        return Response(_tags(version.tags))

    @extend_schema(request=TagsSerializer, responses=TagsSerializer, tags=["models"])
    def put(self, request, name: str, number: int):
        """Replace the version's tags with these ({} removes them all)."""
        version = selectors.version_get(selectors.model_get_for_user(request.user, name), number)
        serializer = TagsSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        tags.version_tags_set(version=version, tags=serializer.validated_data["tags"])
        return Response(_tags(version.tags))


class AliasListView(APIView):
    @extend_schema(responses=AliasSerializer(many=True), tags=["models"])
    def get(self, request, name: str):
        """The model's aliases, the version each points to, and the deployments that follow it."""
        model = selectors.model_get_for_user(request.user, name)
        found = selectors.alias_list(owner=request.user, model=model).prefetch_related("deployments")
        return Response(AliasSerializer(found, many=True).data)


class AliasDetailView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(responses=AliasSerializer, tags=["models"])
    def get(self, request, name: str, alias: str):
        model = selectors.model_get_for_user(request.user, name)
        return Response(AliasSerializer(selectors.alias_get(owner=request.user, model=model, name=alias)).data)

    @extend_schema(request=AliasSetSerializer, responses=AliasSerializer, tags=["models"])
    def put(self, request, name: str, alias: str):
        """Point the alias at a version (creating it); deployments that follow it switch to that
        version, each loading it before it takes requests, so no request fails."""
        model = selectors.model_get_for_user(request.user, name)
        serializer = AliasSetSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        version = selectors.version_get(model, serializer.validated_data["version"])
        moved = aliases.alias_set(model=model, name=alias, version=version)
        return Response(AliasSerializer(moved).data)

    @extend_schema(responses={204: None}, tags=["models"])
    def delete(self, request, name: str, alias: str):
        """Remove the alias (409 alias_in_use while deployments follow it)."""
        model = selectors.model_get_for_user(request.user, name)
        aliases.alias_delete(alias=selectors.alias_get(owner=request.user, model=model, name=alias))
        return Response(status=status.HTTP_204_NO_CONTENT)


class CompareView(APIView):
    parser_classes = [SafeJSONParser]

    @extend_schema(
        parameters=[
            OpenApiParameter("a", str, required=True, description="A version number or an alias"),
            OpenApiParameter("b", str, required=True, description="A version number or an alias"),
        ],
        responses=CompareSerializer,
        tags=["models"],
    )
    def get(self, request, name: str):
        """How version b's schema differs from version a's: fields added, removed, or with another
        type, shape, range or allowed values; the model's kind, algorithm and classes."""
        model = selectors.model_get_for_user(request.user, name)
        a = selectors.version_by_reference(owner=request.user, model=model, reference=request.query_params.get("a", ""))
        b = selectors.version_by_reference(owner=request.user, model=model, reference=request.query_params.get("b", ""))
        return Response({"a": a.number, "b": b.number, "schema": compare.schema_diff(a, b)})

    @extend_schema(request=CompareRequestSerializer, responses=CompareSerializer, tags=["models"])
    def post(self, request, name: str):
        """The schema differences, and both versions' answers on the same rows (yours, or a few
        sample rows spread over the schema's ranges)."""
        model = selectors.model_get_for_user(request.user, name)
        serializer = CompareRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        a = selectors.version_by_reference(owner=request.user, model=model, reference=data["a"])
        b = selectors.version_by_reference(owner=request.user, model=model, reference=data["b"])
        return Response(
            {
                "a": a.number,
                "b": b.number,
                "schema": compare.schema_diff(a, b),
                "answers": compare.answers(a, b, data.get("inputs")),
            }
        )
