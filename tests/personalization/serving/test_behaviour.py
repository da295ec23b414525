"""Behavioural segments: what a visitor just did changes their next decision, unless they said no."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.test import Client

from tests.factories.slots import segment_create, slot_create
from tracking.models import DecisionLog

pytestmark = pytest.mark.django_db

SLOT = "reader-hero"


@pytest.fixture
def reader_slot(db):
    deep = segment_create(
        "deep-readers", [{"type": "behaviour", "value": {"feature": "avg_scroll_depth", "operator": "gt", "value": 70}}]
    )
    return slot_create(
        SLOT,
        strategy="rules",
        variants=[("standard", 1), ("long-read", 1)],
        default="standard",
        rules=[("deep-readers", "long-read")],
        segments={"deep-readers": deep},
    )


class Visitor:
    """One visitor, identified the way a headless client (header) or a browser (cookie) does it."""

    def __init__(self, how: str) -> None:
        self.id = str(uuid.uuid4())
        self.client = Client()
        self.extra = {}
        if how == "header":
            self.extra["HTTP_X_TAILOR_VISITOR"] = self.id
        else:
            self.client.cookies["tailor_vid"] = self.id

    def post(self, url: str, body: dict):
        return self.client.post(url, data=json.dumps(body), content_type="application/json", **self.extra)

    def decide(self) -> dict:
        response = self.post("/api/v1/decisions/", {"slots": [SLOT]})
        assert response.status_code == 200
        assert response.json()["visitor_id"] == self.id
        return response.json()["decisions"][0]

    def read(self, scroll: float, dwell: float = 45) -> None:
        now = int(time.time() * 1000)
        events = [
            {"id": str(uuid.uuid4()), "type": "scroll", "ts": now, "value": scroll},
            {"id": str(uuid.uuid4()), "type": "dwell", "ts": now, "value": dwell},
        ]
        assert self.post("/api/v1/events/", {"events": events}).json()["accepted"] == 2

    def consent(self, personalization: bool) -> None:
        body = {"analytics": True, "personalization": personalization}
        assert self.post("/api/v1/consent/", body).status_code == 200


@pytest.mark.parametrize("how", ["header", "cookie"])
@pytest.mark.parametrize(("scroll", "variant"), [(90, "long-read"), (70, "standard"), (30, "standard")])
def test_next_decision_follows_what_the_visitor_just_did(reader_slot, how, scroll, variant):
    visitor = Visitor(how)
    first = visitor.decide()
    assert (first["variant"]["key"], first["policy"]) == ("standard", "rules")

    visitor.read(scroll)

    after = visitor.decide()
    assert (after["variant"]["key"], after["policy"]) == (variant, "rules")
    logged = DecisionLog.objects.get(id=uuid.UUID(after["decision_id"]))
    assert str(logged.visitor_id) == visitor.id
    assert logged.context["features"]["avg_scroll_depth"] == scroll


def test_another_visitors_reading_does_not_change_my_decision(reader_slot):
    reader, bystander = Visitor("header"), Visitor("header")
    reader.read(95)
    assert reader.decide()["variant"]["key"] == "long-read"
    assert bystander.decide()["variant"]["key"] == "standard"


@pytest.mark.parametrize("how", ["header", "cookie"])
def test_no_personalization_consent_gets_the_default_and_an_anonymous_log(reader_slot, how):
    visitor = Visitor(how)
    visitor.read(95)
    assert visitor.decide()["variant"]["key"] == "long-read"

    visitor.consent(personalization=False)

    decision = visitor.decide()
    assert (decision["variant"]["key"], decision["policy"], decision["propensity"]) == ("standard", "no-consent", 1.0)
    logged = DecisionLog.objects.get(id=uuid.UUID(decision["decision_id"]))
    assert logged.visitor_id is None
    assert logged.policy == "no-consent"
    assert "features" not in logged.context
    assert visitor.id not in json.dumps(logged.context)

    visitor.consent(personalization=True)
    assert visitor.decide()["variant"]["key"] == "long-read"


def test_a_page_reads_the_visitors_features_once_for_every_slot_that_uses_them(reader_slot, monkeypatch):
    from personalization.models import Segment
    from personalization.serving import render as serving_render
    from tests.factories.slots import page_with_slots

    slot_create(
        "reader-offer",
        strategy="rules",
        variants=[("plain", 1), ("deep-dive", 1)],
        default="plain",
        rules=[("deep-readers", "deep-dive")],
        segments={"deep-readers": Segment.objects.get(key="deep-readers")},
    )
    slot_create("plain-banner", variants=[("a", 1)], default="a")  # reads no features
    page = page_with_slots(SLOT, "reader-offer", "plain-banner")
    visitor = Visitor("cookie")
    visitor.read(90)
    reads: list[str] = []
    real = serving_render.visitor_features_get

    def counted(visitor_id, *args, **kwargs):
        reads.append(visitor_id)
        return real(visitor_id, *args, **kwargs)

    monkeypatch.setattr(serving_render, "visitor_features_get", counted)
    html = visitor.client.get(page.url).content.decode()

    assert reads == [visitor.id]
    assert 'data-tailor-variant="long-read"' in html
    assert 'data-tailor-variant="deep-dive"' in html
    logged = {d.slot_key: d.context for d in DecisionLog.objects.filter(visitor_id=uuid.UUID(visitor.id))}
    assert logged[SLOT]["features"]["avg_scroll_depth"] == 90
    assert logged["reader-offer"]["features"]["avg_scroll_depth"] == 90
    assert "features" not in logged["plain-banner"]
    assert logged[SLOT]["device"] == logged["plain-banner"]["device"]
