"""Decisions shown to crawlers are flagged and never become training rows."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from personalization.learning.training import logged_rows
from personalization.serving.decide import slot_get
from tests.conftest import DESKTOP
from tracking.models import DecisionLog
from tracking.services import decision_records_persist

pytestmark = pytest.mark.django_db

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_SMARTPHONE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
)


def test_a_crawlers_page_view_is_flagged_and_never_a_training_row(demo):
    Client().get("/", HTTP_USER_AGENT=GOOGLEBOT)
    Client().get("/", HTTP_USER_AGENT=GOOGLEBOT_SMARTPHONE)
    person = Client()
    person.get("/", HTTP_USER_AGENT=DESKTOP)
    visitor = person.cookies["tailor_vid"].value

    bots = DecisionLog.objects.filter(is_bot=True)
    assert bots.count() == 4  # two slots, two crawlers
    assert set(bots.values_list("context__device", flat=True)) == {"bot"}
    assert {str(v) for v in DecisionLog.objects.filter(is_bot=False).values_list("visitor_id", flat=True)} == {visitor}

    for slot in ("home-hero", "cta-banner"):
        rows = list(logged_rows(slot_get(slot).definition))
        assert len(rows) == 1, slot  # the person's decision, not the crawlers' zero-reward ones
        assert rows[0].context.device == "desktop"


def test_a_crawler_asking_the_api_is_flagged(client, demo):
    client.post(
        "/api/v1/decisions/",
        data=json.dumps({"slots": ["cta-banner"]}),
        content_type="application/json",
        HTTP_USER_AGENT=GOOGLEBOT,
    )
    assert DecisionLog.objects.get().is_bot


def test_a_crawler_claiming_a_desktop_context_is_flagged_by_its_user_agent(client, demo):
    # The body's context says what the client claims; the user agent says who is asking.
    for consent in ("a1p1", "a1p0"):
        client.cookies["tailor_consent"] = consent
        client.post(
            "/api/v1/decisions/",
            data=json.dumps({"slots": ["cta-banner"], "context": {"device": "desktop"}}),
            content_type="application/json",
            HTTP_USER_AGENT=GOOGLEBOT,
        )
    assert list(DecisionLog.objects.values_list("is_bot", flat=True)) == [True, True]


def test_the_flag_survives_the_decision_buffer(demo):
    """With the redis backend, decisions travel as JSON records and are written by ``decision_records_persist``."""
    record = {
        "id": "0" * 31 + "1",
        "ts": 1_764_000_000.0,
        "visitor_id": None,
        "slot_key": "cta-banner",
        "variant_key": "banner-a",
        "policy": "split",
        "policy_version": "1",
        "propensity": 0.5,
        "context": {"device": "bot"},
        "is_bot": True,
    }
    decision_records_persist([record, {**record, "id": "0" * 31 + "2", "is_bot": False}])
    assert list(DecisionLog.objects.order_by("id").values_list("is_bot", flat=True)) == [True, False]
