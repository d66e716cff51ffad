"""Schemathesis against our own OpenAPI schema: generated requests to every API operation,
bounded in examples; no 500s, and every answer matches the schema (errors included)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

MAX_EXAMPLES = 25


def load_schema():
    """Loaded at collection, from the generator behind /api/schema/ (which needs a credential
    that does not exist yet); the generated requests then go to the WSGI application."""
    import json

    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    from mlserve.wsgi import django_application

    document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(request=None, public=True)))
    loaded = schemathesis.openapi.from_dict(document)
    loaded.app = django_application
    return loaded


schema = load_schema()


@pytest.fixture
def fuzz_token(owner, upload_model, deploy, request):
    """An owner with a model and a running deployment, so some generated requests reach real objects."""
    from accounts import services

    deploy("iris_logreg.skops", "iris")
    # after the set-up: Django's test client reconnects the signal receivers on every request
    request.getfixturevalue("wsgi_requests_keep_database")
    return services.token_create(user=owner, name="fuzz")[1]


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_operation_answers_500_or_off_schema(case, fuzz_token):
    case.call_and_validate(
        headers={"Authorization": f"Token {fuzz_token}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )
