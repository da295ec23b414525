"""Schemathesis fuzzes the query parameters of Wagtail's pages and images API as Tailor serves it.

Wagtail publishes no OpenAPI schema, so this module states the parameters it reads; valid and
invalid values of each (text with NUL, integers of any size, unknown operators) must come back as
200, 400 or 404 JSON, never a server error. A published page places a slot, so page bodies resolve.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import content_type_conformance, not_a_server_error, status_code_conformance

from tests.factories.slots import page_with_slots, slot_create

INTEGER = {"type": "integer"}
TEXT = {"type": "string"}
# Date-time filters: real timestamps, date-shaped text with impossible parts (month 13, offset +14:00
# on year 1), and any text. Wagtail passes these to the database layer unparsed.
DATE_TIME = {
    "anyOf": [
        {"type": "string", "format": "date-time"},
        {
            "type": "string",
            "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?([+-][0-9]{2}:[0-9]{2})?)?$",
        },
        TEXT,
    ]
}
BOOLEAN_TEXT = {"anyOf": [{"type": "string", "enum": ["true", "false", "1", "0"]}, TEXT]}
# A page type names the specific model, whose own API fields (body) become filters too.
PAGE_TYPE = {"anyOf": [{"type": "string", "enum": ["demo.HomePage", "demo.ProductPage", "wagtailcore.Page"]}, TEXT]}
JSON_BODY = {"application/json": {"schema": {"type": "object"}}}
ANSWERS = {
    "200": {"description": "The listing or the item.", "content": JSON_BODY},
    "400": {"description": "A query parameter is wrong; the message names it.", "content": JSON_BODY},
    "404": {"description": "No such item.", "content": JSON_BODY},
}
COMMON = {
    "offset": INTEGER,
    "limit": INTEGER,
    "search": TEXT,
    "search_operator": {"type": "string", "enum": ["and", "or"]},
    "order": TEXT,
    "fields": TEXT,
    "id": INTEGER,
    "title": TEXT,
}
PAGES = {
    **COMMON,
    "type": PAGE_TYPE,
    "child_of": INTEGER,
    "descendant_of": INTEGER,
    "ancestor_of": INTEGER,
    "translation_of": INTEGER,
    "slug": TEXT,
    # Every other field the pages API filters on, by type: date-time, boolean, foreign key, text.
    "first_published_at": DATE_TIME,
    "show_in_menus": BOOLEAN_TEXT,
    "alias_of": INTEGER,
    "seo_title": TEXT,
    "search_description": TEXT,
    "body": TEXT,
    "locale": TEXT,
}
IMAGES = {**COMMON, "width": INTEGER, "height": INTEGER, "tags": TEXT}


def query(parameters: dict) -> list[dict]:
    return [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in parameters.items()]


def detail() -> dict:
    path_id = [{"name": "id", "in": "path", "required": True, "schema": INTEGER}]
    # An id that is not a number matches no API route: the site's own 404 page answers.
    not_found = {"description": "No such item.", "content": {**JSON_BODY, "text/html": {"schema": TEXT}}}
    return {"get": {"parameters": path_id, "responses": {**ANSWERS, "404": not_found}}}


WAGTAIL_API = {
    "openapi": "3.0.3",
    "info": {"title": "Wagtail API v2 as served by Tailor", "version": "2"},
    "paths": {
        "/api/v2/pages/": {"get": {"parameters": query(PAGES), "responses": ANSWERS}},
        "/api/v2/pages/{id}/": detail(),
        "/api/v2/images/": {"get": {"parameters": query(IMAGES), "responses": ANSWERS}},
        "/api/v2/images/{id}/": detail(),
    },
}


def wagtail_schema():
    from config.wsgi import application

    loaded = schemathesis.openapi.from_dict(WAGTAIL_API)
    loaded.app = application
    return loaded


schema = wagtail_schema()


@pytest.fixture
def published_page(wsgi_in_test_transaction):
    slot_create("fuzz-hero")
    return page_with_slots("fuzz-hero", slug="fuzz-page")


@schema.parametrize()
@settings(max_examples=80, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_wagtail_api_never_fails_on_its_parameters(case, published_page):
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance, content_type_conformance])
