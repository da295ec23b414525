"""A response that carries a decision made for one visitor is never stored by a shared cache."""

from __future__ import annotations

import pytest
from django.utils.cache import get_max_age, patch_cache_control
from wagtail import hooks

from tests.factories.slots import page_with_slots
from tracking.visitors import visitor_id_new

pytestmark = pytest.mark.django_db


def cache_control(response) -> set[str]:
    return {part.strip() for part in response.headers.get("Cache-Control", "").split(",") if part.strip()}


def test_a_page_with_a_slot_is_private(client, demo):
    response = client.get("/")
    assert "data-tailor-decision" in response.content.decode()
    assert "private" in cache_control(response)
    assert "public" not in cache_control(response)


def make_public(page, request, serve_args, serve_kwargs):
    # A site that caches pages (Wagtail's cache_control, a CDN rule in a view): public, for five minutes.
    response = page.serve(request, *serve_args, **serve_kwargs)
    patch_cache_control(response, public=True, max_age=300)
    return response


def test_a_page_without_a_slot_that_issues_an_id_is_private(client, demo):
    # The response hands a new visitor their id (cookie and header): a shared cache replaying it
    # would give every later visitor that same id.
    page = page_with_slots(slug="plain")
    with hooks.register_temporarily("before_serve_page", make_public):
        response = client.get(page.url)
    assert response.status_code == 200
    assert "data-tailor-decision" not in response.content.decode()
    assert response.cookies["tailor_vid"].value == response["X-Tailor-Visitor"]
    assert "private" in cache_control(response)
    assert "public" not in cache_control(response)
    assert get_max_age(response) == 300


def test_a_page_without_a_slot_for_a_returning_visitor_keeps_its_public_caching(client, demo):
    page = page_with_slots(slug="plain")
    client.cookies["tailor_vid"] = visitor_id_new()
    with hooks.register_temporarily("before_serve_page", make_public):
        response = client.get(page.url)
    assert response.status_code == 200
    assert "tailor_vid" not in response.cookies
    assert "X-Tailor-Visitor" not in response
    assert "public" in cache_control(response)
    assert "private" not in cache_control(response)
    assert get_max_age(response) == 300


def test_a_public_max_age_set_by_the_view_becomes_private(client, demo):
    # A site that caches pages keeps its max-age, privately.
    with hooks.register_temporarily("before_serve_page", make_public):
        response = client.get("/")
    assert "private" in cache_control(response)
    assert "public" not in cache_control(response)
    assert get_max_age(response) == 300


def test_the_decisions_api_is_private(client, demo):
    response = client.post("/api/v1/decisions/", {"slots": ["home-hero"]}, content_type="application/json")
    assert response.status_code == 200
    assert "private" in cache_control(response)
