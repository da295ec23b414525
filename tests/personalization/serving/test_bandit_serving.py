"""The bandit strategy in serving: decisions and rewards through the real paths move its posterior.

A trial is counted when a bandit decision is logged and a reward when the event writer writes the
click or conversion that earns it, without a database write in the request; the fold job moves the
counts into the database and publishes the allocation that ``decide()`` then serves.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from personalization.engine.bandits import Allocation
from personalization.learning.bandits import bandits_fold
from personalization.models import BanditAllocation, BanditArm
from personalization.serving import bandits as serving
from personalization.serving.decide import decide
from tests.factories.slots import segment_create, slot_create
from tracking.decision_sinks import DecisionBatch
from tracking.models import DecisionLog
from tracking.visitors import VisitorState

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("bandit_settings")]


def bandit_slot(key: str = "hero-bandit", *, variants=(("a", 1), ("b", 1)), **fields):
    """A published bandit slot; ``fields`` set slot settings (reward, bandit_floor, ...) in a second revision."""
    slot = slot_create(key, strategy="bandit", variants=list(variants), **fields.pop("create", {}))
    if fields:
        for name, value in fields.items():
            setattr(slot, name, value)
        slot.save_revision().publish()
    return slot


def decisions_post(client, slot: str, visitor: str, **context) -> dict:
    body = {"slots": [slot], "context": context} if context else {"slots": [slot]}
    response = client.post(
        "/api/v1/decisions/", data=json.dumps(body), content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor
    )
    assert response.status_code == 200, response.content
    return response.json()["decisions"][0]


def events_post(client, visitor: str, *events: dict, ids: list[str] | None = None) -> dict:
    now = int(time.time() * 1000)
    body = {"events": [{"id": (ids[i] if ids else str(uuid.uuid4())), "ts": now, **e} for i, e in enumerate(events)]}
    response = client.post(
        "/api/v1/events/", data=json.dumps(body), content_type="application/json", HTTP_X_TAILOR_VISITOR=visitor
    )
    assert response.status_code in (200, 202), response.content
    return response.json()


def arms(slot: str = "hero-bandit", segment: str = "") -> dict[str, tuple[float, float, float]]:
    rows = BanditArm.objects.filter(slot_key=slot, segment=segment)
    return {r.variant_key: (r.n, r.total, r.squares) for r in rows}


def test_decisions_and_clicks_through_ingest_move_the_posterior(client):
    bandit_slot()
    shown = {"a": 0, "b": 0}
    for _ in range(40):
        visitor = str(uuid.uuid4())
        decision = decisions_post(client, "hero-bandit", visitor)
        assert decision["policy"] == "bandit"
        key = decision["variant"]["key"]
        shown[key] += 1
        events_post(client, visitor, {"type": "impression", "decision_id": decision["decision_id"]})
        if key == "a":  # a is clicked every time, b never
            events_post(client, visitor, {"type": "click", "decision_id": decision["decision_id"]})
    assert BanditArm.objects.count() == 0  # nothing written to the database until the fold

    report = bandits_fold()

    assert report.rebuilt  # the first fold finds no marker and counts the log; the deltas were dropped
    assert arms() == {"a": (shown["a"], shown["a"], shown["a"]), "b": (shown["b"], 0.0, 0.0)}
    published = BanditAllocation.objects.get(slot_key="hero-bandit", segment="")
    assert published.probabilities["a"] > 0.9
    # The next decisions and clicks are counted online, then folded on top.
    visitor = str(uuid.uuid4())
    decision = decisions_post(client, "hero-bandit", visitor)
    events_post(client, visitor, {"type": "click", "decision_id": decision["decision_id"]})
    assert not bandits_fold().rebuilt
    key = decision["variant"]["key"]
    expected = shown[key] + 1
    assert arms()[key][0] == expected
    assert arms()[key][1] == (shown["a"] + 1 if key == "a" else 1.0)


def test_a_visitor_clicking_twice_or_a_retried_batch_counts_once(client):
    bandit_slot()
    bandits_fold()  # marks the counts alive: what follows is counted online only
    visitor = str(uuid.uuid4())
    decision = decisions_post(client, "hero-bandit", visitor)
    click = {"type": "click", "decision_id": decision["decision_id"]}
    first_id = str(uuid.uuid4())
    events_post(client, visitor, click, ids=[first_id])
    events_post(client, visitor, click, ids=[first_id])  # the tracker's retry: a duplicate, never written
    events_post(client, visitor, click)  # a second click on the same hero
    assert bandits_fold().arms == 1
    assert arms() == {decision["variant"]["key"]: (1.0, 1.0, 1.0)}


def test_a_value_reward_sums_the_decisions_conversions_exactly(client):
    bandit_slot(reward="value")
    bandits_fold()
    visitor = str(uuid.uuid4())
    decision = decisions_post(client, "hero-bandit", visitor)
    events_post(client, visitor, {"type": "click", "decision_id": decision["decision_id"]})  # not a value
    events_post(client, visitor, {"type": "conversion", "value": 30.0})
    events_post(client, visitor, {"type": "conversion", "value": 12.5})
    bandits_fold()
    # One decision worth 42.5: Σreward² is 42.5², not 30² + 12.5².
    assert arms() == {decision["variant"]["key"]: (1.0, 42.5, 42.5**2)}
    assert BanditAllocation.objects.get(slot_key="hero-bandit").method in ("closed-form", "monte-carlo")


def test_a_bot_or_an_anonymous_call_teaches_nothing(client):
    bandit_slot()
    bandits_fold()
    decide("hero-bandit", VisitorState(id=str(uuid.uuid4()), is_bot=True), {})
    decide("hero-bandit", VisitorState(id=""), {})
    assert bandits_fold().arms == 0


def test_each_segment_of_a_targeted_slot_learns_apart(client):
    mobile = segment_create("mobile", [{"type": "device", "value": {"devices": ["mobile"]}}])
    slot_create("hero-bandit", strategy="bandit", rules=[("mobile", "a")], segments={"mobile": mobile})
    bandits_fold()
    on_phone, on_desktop = str(uuid.uuid4()), str(uuid.uuid4())
    phone = decisions_post(client, "hero-bandit", on_phone, device="mobile")
    desktop = decisions_post(client, "hero-bandit", on_desktop, device="desktop")
    events_post(client, on_phone, {"type": "click", "decision_id": phone["decision_id"]})
    assert DecisionLog.objects.get(id=phone["decision_id"]).reason == "bandit:mobile"
    bandits_fold()
    assert arms(segment="mobile") == {phone["variant"]["key"]: (1.0, 1.0, 1.0)}
    assert arms(segment="") == {desktop["variant"]["key"]: (1.0, 0.0, 0.0)}
    assert set(BanditAllocation.objects.values_list("segment", flat=True)) == {"", "mobile"}


def test_served_shares_follow_the_published_allocation_and_log_its_version(settings):
    bandit_slot()
    serving.allocations_publish(
        "hero-bandit", {"": Allocation(probabilities={"a": 0.8, "b": 0.2}, version="v1", method="closed-form", draws=0)}
    )
    batch = DecisionBatch()
    visitors = [VisitorState(id=str(uuid.uuid4())) for _ in range(3000)]
    chosen = [decide("hero-bandit", v, {}, sink=batch).variant.key for v in visitors]
    share = chosen.count("a") / len(chosen)
    assert 0.77 < share < 0.83
    assert {(r["variant_key"], r["propensity"]) for r in batch.records} == {("a", 0.8), ("b", 0.2)}
    assert {r["policy_version"] for r in batch.records} == {"v1"}
    # Sticky: the same visitor draws the same variant while the allocation stays.
    again = [decide("hero-bandit", v, {}, sink=DecisionBatch()).variant.key for v in visitors[:200]]
    assert again == chosen[:200]


def test_a_new_allocation_reaches_serving_within_the_check_interval(settings):
    settings.TAILOR = {**settings.TAILOR, "BANDIT_ALLOCATION_CHECK_SECONDS": 3600}
    bandit_slot()
    old = Allocation(probabilities={"a": 1.0, "b": 0.0}, version="old", method="closed-form", draws=0)
    serving.allocations_publish("hero-bandit", {"": old})
    visitor = VisitorState(id=str(uuid.uuid4()))
    assert decide("hero-bandit", visitor, {}, sink=DecisionBatch()).policy_version == "old"
    # Another process publishes (the cache changes; this process's memo does not know yet).
    new = Allocation(probabilities={"a": 0.0, "b": 1.0}, version="new", method="closed-form", draws=0)
    serving._allocations_cache().set(serving.allocation_key("hero-bandit"), serving.allocations_encode({"": new}))
    assert decide("hero-bandit", visitor, {}, sink=DecisionBatch()).policy_version == "old"  # memoised
    serving.allocations_memo_clear()  # the interval passed
    decision = decide("hero-bandit", visitor, {}, sink=DecisionBatch())
    assert (decision.policy_version, decision.variant.key) == ("new", "b")


def test_a_bandit_decision_and_its_trial_cost_no_query(settings):
    settings.TAILOR = {**settings.TAILOR, "BANDIT_ALLOCATION_CHECK_SECONDS": 3600}
    bandit_slot()
    bandits_fold()
    batch = DecisionBatch()
    visitor = VisitorState(id=str(uuid.uuid4()))
    decide("hero-bandit", visitor, {}, sink=batch)  # warm: catalog and allocation memo
    with CaptureQueriesContext(connection) as queries:
        for _ in range(20):
            decide("hero-bandit", VisitorState(id=str(uuid.uuid4())), {}, sink=batch)
        serving.bandit_trials_record(batch.records)
    assert queries.captured_queries == []


def test_the_decisions_request_writes_no_bandit_row(client):
    bandit_slot()
    bandits_fold()
    visitor = str(uuid.uuid4())
    decisions_post(client, "hero-bandit", visitor)  # warm
    with CaptureQueriesContext(connection) as queries:
        decision = decisions_post(client, "hero-bandit", visitor)
        events_post(client, visitor, {"type": "click", "decision_id": decision["decision_id"]})
    assert not [q["sql"] for q in queries.captured_queries if "personalization_bandit" in q["sql"]]


def test_the_results_dashboard_shows_the_allocation_per_segment(client, admin_client):
    from django.urls import reverse

    bandit_slot()
    response = admin_client.get(reverse("tailor_results:slot", args=["hero-bandit"]))
    assert "No allocation yet" in response.content.decode()
    visitor = str(uuid.uuid4())
    decision = decisions_post(client, "hero-bandit", visitor)
    events_post(client, visitor, {"type": "click", "decision_id": decision["decision_id"]})
    bandits_fold()
    published = BanditAllocation.objects.get(slot_key="hero-bandit", segment="")
    html = admin_client.get(reverse("tailor_results:slot", args=["hero-bandit"])).content.decode()
    assert 'data-bandit-allocation=""' in html
    assert published.version in html
    assert "All other visitors" in html
    share = f"{published.probabilities[decision['variant']['key']]:.1%}".replace("%", " %")
    assert share in html


def test_without_a_broker_the_event_writer_folds_at_most_once_a_minute(client, settings):
    settings.TAILOR = {**settings.TAILOR, "BANDIT_FOLD_EAGER_SECONDS": 60}
    bandit_slot()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    shown = decisions_post(client, "hero-bandit", first)
    events_post(client, first, {"type": "click", "decision_id": shown["decision_id"]})
    assert arms() == {shown["variant"]["key"]: (1.0, 1.0, 1.0)}  # folded by the click's write, no beat needed
    later = decisions_post(client, "hero-bandit", second)
    events_post(client, second, {"type": "click", "decision_id": later["decision_id"]})
    assert sum(n for n, _, _ in arms().values()) == 1.0  # within the minute: counted, not folded yet
    bandits_fold()
    assert sum(n for n, _, _ in arms().values()) == 2.0


def test_a_failing_learner_never_fails_the_ingest_or_the_decision(client):
    from tracking import record_hooks

    def broken(*args):
        raise RuntimeError("a bug in a learner")

    bandit_slot()
    record_hooks.decision_handler_register(broken)
    record_hooks.event_handler_register(broken)
    try:
        visitor = str(uuid.uuid4())
        decision = decisions_post(client, "hero-bandit", visitor)
        answer = events_post(client, visitor, {"type": "click", "decision_id": decision["decision_id"]})
    finally:
        record_hooks._decision_handlers.remove(broken)
        record_hooks._event_handlers.remove(broken)
    assert answer["accepted"] == 1
    assert DecisionLog.objects.filter(id=decision["decision_id"]).exists()
