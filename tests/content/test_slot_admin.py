"""The Slots listing in the admin: editors find a slot by its name or its key."""

from __future__ import annotations

import pytest

from tests.factories.slots import slot_create

pytestmark = pytest.mark.django_db

SLOTS_URL = "/admin/snippets/content/slot/"


@pytest.fixture
def slots(db):
    return slot_create("summer-hero"), slot_create("footer-banner")


def listed_keys(admin_client, query: str) -> set[str]:
    response = admin_client.get(SLOTS_URL, {"q": query})
    assert response.status_code == 200
    return {slot.key for slot in response.context["object_list"]}


@pytest.mark.parametrize("query", ["Summer", "summ", "summer-hero", "HERO"])
def test_search_finds_the_slot_by_name_or_key(admin_client, slots, query):
    assert listed_keys(admin_client, query) == {"summer-hero"}


def test_search_with_no_match_lists_nothing(admin_client, slots):
    assert listed_keys(admin_client, "checkout") == set()
