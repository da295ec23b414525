"""Schemathesis fuzzes every operation of Tailor's own OpenAPI schema against the app in process.

Each operation gets valid and invalid requests generated from the schema (bodies, the
X-Tailor-Visitor header); every answer must be a documented status with a documented media type
and body, and never a server error. A published slot is in the database so decisions succeed.
"""

from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories.slots import slot_create

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def tailor_schema():
    """The schema /api/schema/ serves, generated in process: collection runs before the test database exists."""
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    from config.wsgi import application

    document = SchemaGenerator().get_schema(request=None, public=True)
    loaded = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(document)))
    loaded.app = application
    return loaded


schema = tailor_schema()


@pytest.fixture
def published_slot(wsgi_in_test_transaction):
    return slot_create("fuzz-hero", variants=[("a", 1), ("b", 1)])


def test_schema_covers_every_operation():
    operations = {(op.method.upper(), op.path) for op in (result.ok() for result in schema.get_all_operations())}
    assert operations == {
        ("POST", "/api/v1/decisions/"),
        ("POST", "/api/v1/events/"),
        ("POST", "/api/v1/consent/"),
        ("GET", "/api/v1/goals/"),
        ("GET", "/api/v1/visitors/me/"),
        ("DELETE", "/api/v1/visitors/me/"),
        ("GET", "/api/v1/slots/{key}/results/"),
    }


@schema.parametrize()
@settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, published_slot, settings):
    if case.path == "/api/v1/slots/{key}/results/" and case.path_parameters:
        # With the results token, so the fuzz reaches the view's answers (200, 400, 404), not only the 401.
        settings.TAILOR = {**settings.TAILOR, "RESULTS_API_TOKEN": "fuzz-results-token"}
        case.headers = {**(case.headers or {}), "Authorization": "Bearer fuzz-results-token"}
        if case.path_parameters.get("key") == "0":
            case.path_parameters["key"] = "fuzz-hero"  # schemathesis' simplest key: make it a real slot
    if case.headers:
        # Schemathesis may add headers the schema does not declare, a Host among them: a malformed Host
        # is refused by Django (DisallowedHost, an HTML 400) before any Tailor code runs, so it says
        # nothing about our API; the transport's own Host is used instead.
        case.headers = {name: value for name, value in case.headers.items() if name.lower() != "host"}
    case.call_and_validate(checks=CHECKS)


# What each operation returns besides success; other statuses may be added, none of these may go.
DOCUMENTED_ERRORS = {
    ("post", "/api/v1/decisions/"): {"400", "415"},
    ("post", "/api/v1/events/"): {"400", "403", "413", "415", "429", "503"},
    ("post", "/api/v1/consent/"): {"400", "415", "429"},
    ("get", "/api/v1/visitors/me/"): {"404"},
    ("delete", "/api/v1/visitors/me/"): {"404"},
    ("get", "/api/v1/slots/{key}/results/"): {"400", "401", "403", "404"},
}


def test_served_schema_documents_each_error_status(client, db):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for (method, path), statuses in DOCUMENTED_ERRORS.items():
        operation = paths[path][method]
        assert statuses <= set(operation["responses"]), (method, path)
        assert "X-Tailor-Visitor" in {parameter["name"] for parameter in operation["parameters"]}
    assert "Retry-After" in paths["/api/v1/events/"]["post"]["responses"]["429"]["headers"]
