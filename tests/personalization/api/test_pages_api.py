"""Wagtail's pages API returns each SlotBlock resolved for the requesting visitor."""

from __future__ import annotations

import pytest

from demo.models import HomePage
from tests.conftest import IPHONE

pytestmark = pytest.mark.django_db


def slot_blocks(client, **extra):
    home = HomePage.objects.get()
    response = client.get(f"/api/v2/pages/{home.pk}/", **extra)
    assert response.status_code == 200
    return [block["value"] for block in response.json()["body"] if block["type"] == "slot"]


def test_slot_blocks_come_back_resolved(client, demo):
    hero, banner = slot_blocks(client)
    assert hero["slot"] == "home-hero"
    assert hero["variant"]["key"] == "hero-default"
    assert hero["variant"]["template"] == "hero"
    assert hero["variant"]["params"]["headline"] == "Hello there, meet Tailor"
    assert len(hero["decision_id"]) == 32
    assert banner["policy"] == "split"


def test_resolution_follows_the_visitor(client, demo):
    hero, _ = slot_blocks(client, HTTP_USER_AGENT=IPHONE)
    assert hero["variant"]["key"] == "hero-mobile"


def test_headless_visitor_header_is_sticky(client, demo):
    visitor = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
    seen = {slot_blocks(client, HTTP_X_TAILOR_VISITOR=visitor)[1]["variant"]["key"] for _ in range(5)}
    assert len(seen) == 1
