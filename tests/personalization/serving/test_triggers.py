"""Slots with a trigger render their default first; the tracker's later call gets the real decision."""

from __future__ import annotations

import json

import pytest

from tests.factories.slots import page_with_slots, segment_create, slot_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def exit_offer(db):
    from content.models import Slot

    mobile = segment_create("mobiles", [{"type": "device", "value": {"devices": ["mobile"]}}])
    slot_create(
        "exit-offer",
        strategy="rules",
        variants=[("plain", 1), ("offer", 1)],
        default="plain",
        rules=[("mobiles", "offer")],
        segments={"mobiles": mobile},
    )
    slot = Slot.objects.get(key="exit-offer")
    draft = slot.get_latest_revision_as_object()
    draft.trigger, draft.trigger_value = "scroll", 60
    draft.save_revision().publish()
    return page_with_slots("exit-offer")


def test_page_renders_the_default_with_the_trigger(client, exit_offer):
    from tests.conftest import IPHONE

    html = client.get(exit_offer.url, HTTP_USER_AGENT=IPHONE).content.decode()
    assert 'data-tailor-trigger="scroll:60"' in html
    assert 'data-tailor-variant="plain"' in html
    from tracking.models import DecisionLog

    assert DecisionLog.objects.get().policy == "trigger-default"


def test_the_tracker_call_gets_the_policys_choice(client, exit_offer):
    body = {"slots": ["exit-offer"], "context": {"device": "mobile"}}
    answer = client.post("/api/v1/decisions/", data=json.dumps(body), content_type="application/json").json()
    decision = answer["decisions"][0]
    assert decision["variant"]["key"] == "offer"
    assert decision["policy"] == "rules"
    assert "data-tailor-trigger" not in decision["html"]


def test_pages_api_says_when_a_slot_is_triggered(client, exit_offer):
    blocks = client.get(f"/api/v2/pages/{exit_offer.pk}/").json()["body"]
    assert blocks[0]["value"]["trigger"] == "scroll:60"
