"""Experiments and holdouts in decide(): who is assigned where, what is logged, when the catalog follows."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone
from scipy import stats

from personalization.engine.experiments import holdout_contains
from personalization.serving import decide as services
from personalization.serving.catalog import catalog_get
from personalization.serving.decide import decide
from tests.factories.experiments import experiment_create
from tests.factories.slots import slot_create
from tracking.decision_sinks import DecisionBatch
from tracking.models import DecisionLog
from tracking.visitors import VisitorState

pytestmark = pytest.mark.django_db


def visitors(n: int, seed: int = 0) -> list[VisitorState]:
    return [VisitorState(id=str(uuid.UUID(int=seed * 1_000_000 + i + 1))) for i in range(n)]


def logged(slot: str, visitor: VisitorState) -> dict:
    sink = DecisionBatch()
    decide(slot, visitor, {}, sink=sink)
    (record,) = sink.take()
    return record


@pytest.fixture
def hero(db):
    return slot_create("hero", strategy="fixed", variants=[("a", 1), ("b", 1), ("c", 1)], default="a")


def test_arms_are_logged_with_policy_key_and_propensity(hero):
    experiment_create(hero, "hero-test", variants=("a", "b", "c"), weights=(2, 1, 1))
    counts = {"a": 0, "b": 0, "c": 0}
    for v in visitors(1200):
        record = logged("hero", v)
        assert (record["policy"], record["policy_version"], record["reason"]) == (
            "experiment",
            "hero-test",
            "experiment:hero-test",
        )
        assert record["propensity"] == {"a": 0.5, "b": 0.25, "c": 0.25}[record["variant_key"]]
        counts[record["variant_key"]] += 1
    assert stats.chisquare(list(counts.values()), [600, 300, 300]).pvalue > 0.001


def test_assignment_is_sticky_and_written_to_the_log(hero):
    experiment_create(hero, "sticky", variants=("b", "c"))
    for v in visitors(30):
        first = decide("hero", v, {})
        assert all(decide("hero", v, {}).variant.key == first.variant.key for _ in range(3))
        row = DecisionLog.objects.get(id=uuid.UUID(first.id))
        assert (row.policy, row.policy_version, row.reason, row.propensity) == (
            "experiment",
            "sticky",
            "experiment:sticky",
            0.5,
        )


def test_visitors_outside_the_share_are_served_by_the_strategy(hero):
    experiment_create(hero, "part", variants=("b", "c"), share=0.3)
    records = [logged("hero", v) for v in visitors(1000)]
    inside = [r for r in records if r["policy"] == "experiment"]
    outside = [r for r in records if r["policy"] != "experiment"]
    assert stats.binomtest(len(inside), 1000, 0.3).pvalue > 0.001
    assert {(r["policy"], r["variant_key"], r["propensity"]) for r in outside} == {("fixed", "a", 1.0)}


def test_holdout_gets_the_default_before_any_experiment(db):
    slot_create("hero", strategy="split", variants=[("a", 1), ("b", 1)], default="a", holdout=0.2)
    experiment_create("hero", "after-holdout", variants=("a", "b"))
    records = {v.id: logged("hero", v) for v in visitors(1000)}
    held = {vid for vid in records if holdout_contains("hero", vid, 0.2)}
    assert stats.binomtest(len(held), 1000, 0.2).pvalue > 0.001
    for vid, record in records.items():
        if vid in held:
            assert (record["policy"], record["reason"], record["variant_key"], record["propensity"]) == (
                "holdout",
                "holdout",
                "a",
                1.0,
            )
        else:
            assert record["policy"] == "experiment"


def test_holdout_alone_leaves_the_rest_to_the_strategy(db):
    slot_create("split", strategy="split", variants=[("a", 1), ("b", 1)], default="b", holdout=0.5)
    policies = {}
    for v in visitors(400):
        record = logged("split", v)
        policies.setdefault(record["policy"], set()).add(record["variant_key"])
    assert policies == {"holdout": {"b"}, "split": {"a", "b"}}


def test_anonymous_and_unconsented_visitors_are_never_assigned(db):
    slot_create("hero", strategy="fixed", variants=[("a", 1), ("b", 1)], default="a", holdout=0.5)
    experiment_create("hero", "everyone", variants=("a", "b"))
    for _ in range(50):
        assert logged("hero", VisitorState(id=""))["policy"] == "fixed"
    for v in visitors(50):
        no_consent = VisitorState(id=v.id, personalization_consent=False)
        assert logged("hero", no_consent)["policy"] == "no-consent"


def test_publishing_unpublishing_and_deleting_rebuild_the_catalog(hero):
    v = visitors(1)[0]
    assert logged("hero", v)["policy"] == "fixed"
    experiment = experiment_create(hero, "live-switch", variants=("b", "c"))
    assert logged("hero", v)["policy"] == "experiment"
    experiment.unpublish()
    assert logged("hero", v)["policy"] == "fixed"
    experiment.save_revision().publish()
    assert logged("hero", v)["policy"] == "experiment"
    experiment.delete()
    assert logged("hero", v)["policy"] == "fixed"


def test_a_draft_is_not_served(hero):
    experiment_create(hero, "draft", variants=("b", "c"), publish=False)
    assert all(logged("hero", v)["policy"] == "fixed" for v in visitors(20))


def test_a_scheduled_experiment_starts_and_ends_on_time_without_a_rebuild(hero, monkeypatch):
    start = timezone.now() + timedelta(hours=1)
    experiment_create(hero, "later", variants=("b", "c"), starts_at=start, ends_at=start + timedelta(hours=2))
    v = visitors(1)[0]
    catalog = catalog_get()
    assert logged("hero", v)["policy"] == "fixed"
    for at, policy in [(start + timedelta(minutes=1), "experiment"), (start + timedelta(hours=3), "fixed")]:
        monkeypatch.setattr(services, "time", SimpleNamespace(time=lambda at=at: at.timestamp()))
        assert logged("hero", v)["policy"] == policy
    assert catalog_get() is catalog


def test_an_ended_experiment_is_not_compiled(hero):
    past = timezone.now() - timedelta(days=3)
    experiment_create(hero, "over", variants=("b", "c"), starts_at=past, ends_at=past + timedelta(days=1))
    assert catalog_get().slots["hero"].experiments == ()


def test_an_experiment_on_a_paused_variant_is_not_served(hero, caplog):
    experiment_create(hero, "paused-arm", variants=("a", "b"))
    slot_create("hero2", strategy="fixed", variants=[("a", 1), ("b", 1)], default="a", paused=("b",))
    experiment_create("hero2", "paused-arm-2", variants=("a", "b"))
    with caplog.at_level(logging.ERROR):
        catalog = catalog_get()
    assert [e.key for e in catalog.slots["hero"].experiments] == ["paused-arm"]
    assert catalog.slots["hero2"].experiments == ()
    assert "paused-arm-2" in caplog.text


def test_no_query_per_request(hero, django_assert_num_queries):
    experiment_create(hero, "flat", variants=("b", "c"), share=0.5)
    catalog_get()
    sink = DecisionBatch()
    with django_assert_num_queries(0):
        for v in visitors(200):
            decide("hero", v, {}, sink=sink)
    assert {r["policy"] for r in sink.records} == {"experiment", "fixed"}
