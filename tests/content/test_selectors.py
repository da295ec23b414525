"""Content selectors: the live slots' definitions."""

from __future__ import annotations

import pytest

from content.selectors import slot_definitions_live
from tests.factories.slots import slot_create

pytestmark = pytest.mark.django_db


def test_one_slots_definition_is_built_alone(django_assert_max_num_queries):
    slot_create("wanted")
    slot_create("other")
    with django_assert_max_num_queries(2):  # the slot, then its variants
        only = slot_definitions_live(key="wanted")
    assert list(only) == ["wanted"]
    assert only["wanted"] == slot_definitions_live()["wanted"]
    assert slot_definitions_live(key="missing") == {}
