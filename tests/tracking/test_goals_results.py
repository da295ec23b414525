"""A goal an editor defined, reached by a visitor, counts as a conversion of the variant they saw, in results."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client

from content.services import slot_publish
from personalization.results.rollup import results_rollup
from personalization.results.selectors import slot_results
from tracking.models import DecisionLog
from tracking.services import goal_publish

pytestmark = pytest.mark.django_db


def _visitor_sees(variant: str, shown: datetime) -> tuple[Client, str]:
    """A visitor (cookie) served ``variant`` of the hero slot, who then saw it (an impression, through ingest)."""
    visitor = str(uuid.uuid4())
    client = Client()
    client.cookies["tailor_vid"] = visitor
    decision = uuid.uuid4()
    DecisionLog.objects.create(
        id=decision, created_at=shown, visitor_id=visitor, slot_key="hero", variant_key=variant,
        policy="split", policy_version="", propensity=0.5,
    )  # fmt: skip
    _send(client, {"type": "impression", "decision_id": decision.hex, "ts": shown.timestamp() * 1000 + 1000})
    return client, visitor


def _send(client: Client, event: dict) -> dict:
    body = {"events": [{"id": str(uuid.uuid4()), **event}]}
    response = client.post("/api/v1/events/", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 202
    answer = response.json()
    assert answer["rejected"] == [], answer
    return answer


def test_a_goal_conversion_shows_as_a_conversion_of_the_variant_seen():
    slot_publish(
        {"key": "hero", "name": "Hero", "strategy": "split",
         "variants": [("a", "A", 1, []), ("b", "B", 1, [])]}
    )  # fmt: skip
    goal_publish(key="thanks", name="Thank you page", kind="page", match="/checkout/thanks*", value=20)
    shown = datetime.now(UTC) - timedelta(minutes=10)
    converter, _ = _visitor_sees("a", shown)
    _visitor_sees("a", shown)
    _visitor_sees("b", shown)
    # What tracker.js sends when the visitor reaches /checkout/thanks/ (the value is the goal's, set at ingest).
    _send(converter, {"type": "conversion", "ts": int(time.time() * 1000), "props": {"goal": "thanks"}})

    results_rollup()
    today = datetime.now(UTC).date()
    body = slot_results("hero", today - timedelta(days=1), today, "conversion_rate")
    assert {v["key"]: (v["visitors"], v["conversions"]) for v in body["variants"]} == {"a": (2, 1), "b": (1, 0)}
    value = slot_results("hero", today - timedelta(days=1), today, "value_per_visitor")
    assert {v["key"]: v["rate"] for v in value["variants"]} == {"a": pytest.approx(10.0), "b": 0}
