"""Rewards per decision: clicks, hover and visible time, and conversions credited within the window."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.test import Client

from tracking.rewards import Reward, rewards_compute

T0 = 1_700_000_000.0
WINDOW = 30 * 60.0
ME, OTHER = "visitor-me", "visitor-other"


def decision(key: str, slot: str, at: float, visitor: str = ME) -> dict:
    return {"id": key, "visitor_id": visitor, "slot_key": slot, "created_at": at}


def event(kind: str, at: float, decision_id: str | None = None, value: float | None = None, **extra) -> dict:
    return {"type": kind, "ts": at, "decision_id": decision_id, "value": value, "visitor_id": ME, **extra}


DECISIONS = [
    decision("a-old", "hero", T0 - 40 * 60),  # shown longer ago than the window
    decision("a-1", "hero", T0),
    decision("a-2", "hero", T0 + 60),  # the later hero: it gets the conversion
    decision("b-1", "banner", T0 + 120),
    decision("c-after", "offer", T0 + 700),  # shown after the conversion
    decision("a-other", "hero", T0 + 90, visitor=OTHER),
]
EVENTS = [
    event("impression", T0 + 1, "a-1"),
    event("click", T0 + 5, "a-1"),
    event("hover", T0 + 61, "a-2", 100),
    event("hover", T0 + 62, "a-2", 250),
    event("dwell", T0 + 121, "b-1", 1000),
    event("dwell", T0 + 125, "b-1", 500),
    event("conversion", T0 + 600, value=30),
]


def test_clicks_hover_visible_time_and_conversions_land_on_the_right_decisions():
    rewards = rewards_compute(DECISIONS, EVENTS, window_seconds=WINDOW)
    assert rewards == {
        "a-old": Reward(),
        "a-1": Reward(clicked=True),
        "a-2": Reward(hovered_ms=350, converted=True, value=30),
        "b-1": Reward(visible_ms=1500, converted=True, value=30),
        "c-after": Reward(),
        "a-other": Reward(),
    }


def test_every_conversion_adds_its_value():
    second = event("conversion", T0 + 650, value=12.5)
    rewards = rewards_compute(DECISIONS, [*EVENTS, second], window_seconds=WINDOW)
    assert rewards["a-2"] == Reward(hovered_ms=350, converted=True, value=42.5)


@pytest.mark.parametrize(("age", "converted"), [(0, True), (WINDOW - 1, True), (WINDOW, True), (WINDOW + 1, False)])
def test_attribution_window_edge(age, converted):
    rewards = rewards_compute(
        [decision("d", "hero", T0)], [event("conversion", T0 + age, value=1)], window_seconds=WINDOW
    )
    assert rewards["d"].converted is converted


def test_bot_events_never_count():
    bots = [{**e, "is_bot": True} for e in EVENTS]
    assert all(r == Reward() for r in rewards_compute(DECISIONS, bots, window_seconds=WINDOW).values())


def test_datetimes_and_epoch_seconds_agree():
    as_datetimes = [{**d, "created_at": datetime.fromtimestamp(d["created_at"], tz=UTC)} for d in DECISIONS]
    events = [{**e, "ts": datetime.fromtimestamp(e["ts"], tz=UTC)} for e in EVENTS]
    assert rewards_compute(as_datetimes, events, window_seconds=WINDOW) == rewards_compute(
        DECISIONS, EVENTS, window_seconds=WINDOW
    )


def test_a_goals_conversion_is_also_credited_to_that_goal():
    events = [
        *EVENTS,
        event("conversion", T0 + 610, value=12.5, props={"goal": "signup"}),
        event("conversion", T0 + 620, value=7.5, goal="signup"),  # as the results rollup passes it
        event("conversion", T0 + 630, value=3, props={"goal": "order"}),
    ]
    rewards = rewards_compute(DECISIONS, events, window_seconds=WINDOW)
    assert rewards["a-2"] == Reward(hovered_ms=350, converted=True, value=53.0, goals={"signup": 20.0, "order": 3.0})
    assert rewards["b-1"].goals == {"signup": 20.0, "order": 3.0}
    assert rewards["a-1"].goals is None  # nothing credited: no dict at all
    assert rewards_compute(DECISIONS, EVENTS, window_seconds=WINDOW)["a-2"].goals is None  # no goal named


# --- decision_rewards end to end ------------------------------------------------------------

DECISION = re.compile(r'data-tailor-slot="([^"]+)" data-tailor-variant="[^"]*" data-tailor-decision="([0-9a-f]{32})"')


def page_view(client) -> dict[str, str]:
    return dict(DECISION.findall(client.get("/").content.decode()))


def send(client, *events: dict) -> None:
    body = {"events": [{"id": str(uuid.uuid4()), "ts": int(time.time() * 1000), **e} for e in events]}
    answer = client.post("/api/v1/events/", data=json.dumps(body), content_type="application/json").json()
    assert answer["accepted"] == len(events), answer


@pytest.mark.django_db
def test_decision_rewards_from_a_page_view_a_click_and_a_conversion(client, demo):
    from tracking.selectors import decision_rewards

    shown = page_view(client)
    hero, banner = shown["home-hero"], shown["cta-banner"]
    someone_else = page_view(Client())["home-hero"]
    send(
        client,
        {"type": "impression", "decision_id": hero},
        {"type": "impression", "decision_id": banner},
        {"type": "hover", "decision_id": hero, "value": 420},
        {"type": "dwell", "decision_id": hero, "value": 2500},
        {"type": "click", "decision_id": hero},
    )
    send(client, {"type": "conversion", "value": 49.0, "ts": int(time.time() * 1000) + 1000})

    rewards = decision_rewards([hero, banner, someone_else])
    assert rewards[hero] == Reward(clicked=True, hovered_ms=420, visible_ms=2500, converted=True, value=49.0)
    assert rewards[banner] == Reward(converted=True, value=49.0)
    assert rewards[someone_else] == Reward()
    assert decision_rewards([uuid.uuid4().hex]) == {}


@pytest.mark.django_db
def test_a_conversion_is_credited_once_per_slot_whichever_decisions_are_asked_for(client, demo):
    from tracking.selectors import decision_rewards

    first = page_view(client)["home-hero"]
    second = page_view(client)["home-hero"]
    send(client, {"type": "conversion", "value": 10.0, "ts": int(time.time() * 1000) + 1000})
    assert decision_rewards([first, second])[first].converted is False
    assert decision_rewards([second])[second].converted is True
    assert decision_rewards([first])[first].converted is False  # learning reading in batches must agree
