"""The slot's holdout share: edited in the slot form (0 to 0.5, blank is none) and carried to serving."""

from __future__ import annotations

import pytest

from content.models import Slot
from content.selectors import slot_definitions_live
from tests.factories.slots import slot_create

from .test_slot_form import form_errors, slot_post

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("posted", "saved"), [("0.05", 0.05), ("", 0.0), ("0.5", 0.5)])
def test_the_holdout_share_is_saved(admin_client, posted, saved):
    response = slot_post(admin_client, ["a", "b"], holdout_share=posted)
    assert response.status_code == 302, form_errors(response)
    assert Slot.objects.get(key="form-slot").holdout_share == saved


@pytest.mark.parametrize(
    ("posted", "words"), [("0.6", "less than or equal to 0.5"), ("-0.1", "greater than or equal to 0")]
)
def test_a_holdout_share_out_of_range_names_the_field(admin_client, posted, words):
    response = slot_post(admin_client, ["a", "b"], holdout_share=posted)
    assert response.status_code == 200
    assert any(words in message for message in form_errors(response)["holdout_share"])


def test_the_published_definition_carries_it(db):
    slot_create("held", holdout=0.1)
    assert slot_definitions_live()["held"].holdout_share == 0.1
