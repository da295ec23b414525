"""decide(): every path logs a complete decision; failures fall back to the default."""

from __future__ import annotations

import random
import uuid

import pytest
from prometheus_client import REGISTRY

from personalization.serving import decide as services
from personalization.serving.decide import EmptySlotError, UnknownSlotError, decide
from tests.factories.slots import segment_create, slot_create
from tracking.models import DecisionLog
from tracking.visitors import VisitorState

pytestmark = pytest.mark.django_db


def visitor(**kwargs) -> VisitorState:
    return VisitorState(id=str(uuid.uuid4()), **kwargs)


def test_decision_is_logged_with_everything_learning_needs(demo):
    v = visitor(visit_count=3, is_returning=True)
    decision = decide("home-hero", v, {"device": "desktop", "visit_count": 3, "utm_campaign": "spring"})
    assert decision.variant.key == "hero-welcome-back"
    row = DecisionLog.objects.get(id=uuid.UUID(decision.id))
    assert str(row.visitor_id) == v.id
    assert (row.slot_key, row.variant_key, row.policy, row.policy_version) == (
        "home-hero",
        "hero-welcome-back",
        "rules",
        "1",
    )
    assert row.propensity == 1.0
    assert row.reason == "segment:returning-visitors"
    assert row.revision_id is not None
    assert row.context["utm"] == {"campaign": "spring"}
    assert "visitor_id" not in row.context


def test_slot_order_decides_when_several_segments_match(demo):
    # Mobile newsletter reader who is returning: newsletter comes first in the demo's order.
    decision = decide("home-hero", visitor(), {"device": "mobile", "utm_source": "newsletter", "visit_count": 5})
    assert decision.variant.key == "hero-newsletter"


def test_weighted_split_is_sticky_and_logs_the_share(db):
    slot_create("split", strategy="split", variants=[("a", 1), ("b", 3)])
    counts = {"a": 0, "b": 0}
    for _ in range(400):
        v = visitor()
        first = decide("split", v, {})
        assert all(decide("split", v, {}).variant.key == first.variant.key for _ in range(3))
        assert first.propensity == {"a": 0.25, "b": 0.75}[first.variant.key]
        counts[first.variant.key] += 1
    assert 0.15 < counts["a"] / 400 < 0.35


def test_unknown_and_empty_slots_raise(db):
    with pytest.raises(UnknownSlotError):
        decide("nope", visitor(), {})
    slot_create("empty", variants=[("a", 1)], paused=("a",))
    with pytest.raises(EmptySlotError):
        decide("empty", visitor(), {})


def test_a_failing_policy_falls_back_to_the_default_and_is_counted(db, caplog):
    slot_create("broken", strategy="split", variants=[("a", 1), ("b", 1)], default="b")
    compiled = services.slot_get("broken")

    class Exploding:
        name = "split"
        version = "1"
        model_version = ""

        def choose(self, *args):
            raise RuntimeError("boom")

    def fallbacks() -> float:
        labels = {"slot": "broken", "policy": "split"}
        return REGISTRY.get_sample_value("tailor_decision_fallbacks_total", labels) or 0.0

    before = fallbacks()
    object.__setattr__(compiled, "policy", Exploding())
    decision = decide(compiled, visitor(), {}, rng=random.Random(1))
    assert decision.variant.key == "b"
    assert decision.policy == "fallback"
    assert fallbacks() == before + 1
    assert "boom" in caplog.text


def test_segments_changes_reach_decisions_without_restart(db):
    segment = segment_create("fr", [{"type": "country", "value": {"countries": "FR"}}])
    slot_create(
        "geo",
        strategy="rules",
        variants=[("world", 1), ("fr", 1)],
        default="world",
        rules=[("fr", "fr")],
        segments={"fr": segment},
    )
    assert decide("geo", visitor(), {"country": "FR"}).variant.key == "fr"
    segment.rules = [{"type": "country", "value": {"countries": "BE"}}]
    segment.save()
    assert decide("geo", visitor(), {"country": "FR"}).variant.key == "world"
    assert decide("geo", visitor(), {"country": "be"}).variant.key == "fr"


def test_inactive_segment_matches_nobody(db):
    segment = segment_create("all-mobile", [{"type": "device", "value": {"devices": ["mobile"]}}])
    slot_create(
        "s",
        strategy="rules",
        variants=[("a", 1), ("m", 1)],
        default="a",
        rules=[("all-mobile", "m")],
        segments={"all-mobile": segment},
    )
    assert decide("s", visitor(), {"device": "mobile"}).variant.key == "m"
    segment.is_active = False
    segment.save()
    assert decide("s", visitor(), {"device": "mobile"}).variant.key == "a"


def test_decide_records_in_the_sink_it_is_given_and_writes_nothing_itself(demo):
    from tracking.decision_sinks import DecisionBatch

    sink = DecisionBatch()
    decision = decide("home-hero", visitor(), {"device": "mobile"}, sink=sink)
    assert [(r["id"], r["variant_key"]) for r in sink.records] == [(decision.id, "hero-mobile")]
    assert not DecisionLog.objects.exists()
    sink.flush()
    assert DecisionLog.objects.get().id == uuid.UUID(decision.id)
    assert sink.records == []
