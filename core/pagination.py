"""One pagination for every list endpoint: ?page=N&page_size=M."""

from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


def paginate(request, queryset, serializer_class, view=None):
    paginator = Pagination()
    page = paginator.paginate_queryset(queryset, request, view=view)
    serializer = serializer_class(page, many=True, context={"request": request})
    return paginator.get_paginated_response(serializer.data)


_paginated: dict = {}


def paginated(serializer_class):
    """The schema of a paginated list of serializer_class, for extend_schema(responses=...)."""
    name = f"Paginated{serializer_class.__name__.removesuffix('Serializer')}List"
    if name not in _paginated:
        _paginated[name] = type(
            name,
            (serializers.Serializer,),
            {
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": serializer_class(many=True),
            },
        )
    return _paginated[name]


def sorted_queryset(queryset, sort: str, allowed: set[str], default: str):
    """The queryset ordered by ?sort= when it names an allowed field (leading '-' for descending)."""
    field = sort.lstrip("-")
    return queryset.order_by(sort if field in allowed else default)
