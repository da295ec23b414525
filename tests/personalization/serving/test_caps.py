"""Frequency caps and novelty decay through the real decide(), on the embedded default (locmem cache).

The property test walks random visitors through pages, new visits, new days and clicks, writes each
page's entries as a request does (``request_writes_flush``), and checks every decision against an
independent count of what the visitor was served: a variant is never served past its cap, and the
propensity logged is the probability of the policy's distribution reweighted and renormalised.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from freezegun import freeze_time
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from content.selectors import SlotDefinition, VariantDefinition
from personalization.serving.catalog import slot_compile
from personalization.serving.decide import decide
from personalization.serving.exposures import exposures_acted, exposures_key
from tests.factories.slots import slot_create
from tracking.decision_sinks import DecisionBatch
from tracking.event_ingest import events_ingest
from tracking.models import DecisionLog
from tracking.services import request_writes_flush
from tracking.visitors import VisitorState

KEYS = ("a", "b", "c")
START = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def compiled_slot(strategy: str, weights: tuple[int, ...], default: str, **caps) -> object:
    variants = tuple(
        VariantDefinition(key=k, name=k, template="hero", params={"headline": k}, weight=w, is_paused=False)
        for k, w in zip(KEYS, weights, strict=True)
    )
    definition = SlotDefinition(
        key=f"capped-{strategy}",
        name="Capped",
        strategy=strategy,
        default_variant=default,
        revision_id=None,
        variants=variants,
        rules=(),
        **caps,
    )
    return slot_compile(definition, {})


def expected_distribution(strategy, weights, allowed, unanswered, after, decay):
    """What the policy gives over the allowed variants (split: by weight; model without a model: uniform),
    each times decay**(unanswered - after + 1) past the novelty threshold, renormalised."""
    base = {k: (w if strategy == "split" else 1.0) for k, w in zip(KEYS, weights, strict=True) if k in allowed}
    for key in base:
        if after and unanswered[key] >= after:
            base[key] *= decay ** (unanswered[key] - after + 1)
    total = sum(base.values())
    return {k: v / total for k, v in base.items() if v > 0} if total > 0 else {}


STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("page"), st.integers(1, 3)),  # a page with this many decisions of the slot
        st.tuples(st.just("visit"), st.just(0)),  # 31 minutes later: a new visit
        st.tuples(st.just("day"), st.just(0)),  # the next day (a new visit too)
        st.tuples(st.just("click"), st.integers(0, 4)),  # a click on one of the last decisions
    ),
    min_size=1,
    max_size=40,
)


@pytest.fixture
def clock(settings):
    """One frozen clock for all the examples of a test (starting freezegun costs more than an example).

    The exposures live longer than any walk here: Redis expires keys by its own clock, which
    freezegun does not move, so a day's expiry would differ between the embedded cache and Redis.
    """
    settings.TAILOR = {**settings.TAILOR, "EXPOSURES_TTL_SECONDS": 60 * 24 * 3600}
    with freeze_time(START) as frozen:
        yield frozen


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    strategy=st.sampled_from(["split", "model"]),
    weights=st.tuples(*[st.integers(1, 3)] * 3),
    default=st.sampled_from(KEYS),
    per_day=st.integers(0, 4),
    per_visit=st.integers(0, 3),
    after=st.integers(0, 3),
    decay=st.sampled_from([0.0, 0.5, 0.9, 1.0]),
    steps=STEPS,
    seed=st.integers(0, 2**32 - 1),
)
def test_caps_are_never_exceeded_and_propensities_are_the_renormalised_probabilities(
    clock, strategy, weights, default, per_day, per_visit, after, decay, steps, seed
):
    slot = compiled_slot(
        strategy,
        weights,
        default,
        cap_per_day=per_day,
        cap_per_visit=per_visit,
        novelty_after=after,
        novelty_decay=decay,
    )
    clock.move_to(START)
    visitor_id, rng = str(uuid.uuid4()), random.Random(seed)
    visit = 1
    by_day = {k: {} for k in KEYS}  # served per day (the site's day: UTC in tests)
    by_visit = {k: {} for k in KEYS}  # served per visit
    unanswered = dict.fromkeys(KEYS, 0)
    served: list[tuple[str, str]] = []  # (decision id, variant)
    for action, n in steps:
        now = datetime.now(tz=UTC)
        if action in ("visit", "day"):
            clock.tick(timedelta(days=1) if action == "day" else timedelta(minutes=31))
            visit += 1
            continue
        if action == "click":
            if served:
                decision_id, variant = served[-1 - n % len(served)]
                exposures_acted(visitor_id, [{"type": "click", "decision_id": decision_id, "ts": 0.0}])
                unanswered[variant] = 0
            continue
        day = now.date()
        batch = DecisionBatch()  # one page: its slots share one read of the visitor's exposures
        visitor = VisitorState(id=visitor_id, visit_count=visit, is_new=True)
        for _ in range(n):
            allowed = [
                k
                for k in KEYS
                if not (per_day and by_day[k].get(day, 0) >= per_day)
                and not (per_visit and by_visit[k].get(visit, 0) >= per_visit)
            ]
            expected = expected_distribution(strategy, weights, allowed, unanswered, after, decay)
            decision = decide(slot, visitor, {}, sink=batch, rng=rng)
            key = decision.variant.key
            if not expected:
                assert (decision.policy, decision.reason, key) == ("capped", "capped", default)
                assert decision.propensity == 1.0
            else:
                assert decision.policy == strategy
                assert key in expected, (key, expected)
                assert decision.propensity == pytest.approx(expected[key], abs=1e-12)
                assert by_day[key].get(day, 0) < (per_day or 10**9)
                assert by_visit[key].get(visit, 0) < (per_visit or 10**9)
            by_day[key][day] = by_day[key].get(day, 0) + 1
            by_visit[key][visit] = by_visit[key].get(visit, 0) + 1
            unanswered[key] += 1
            served.append((decision.id, key))
        # The request's writes, as the middleware makes them (the decision log's database write dropped).
        request_writes_flush(batch.take(), batch.cache_take(), after_response=lambda write: None)


def test_a_slot_without_caps_reads_and_writes_no_exposures():
    slot = compiled_slot("split", (1, 1, 1), "a")
    batch = DecisionBatch()
    decide(slot, VisitorState(id=str(uuid.uuid4())), {}, sink=batch)
    assert batch.cache_entries == {}


def test_the_holdout_and_visitors_without_consent_are_neither_capped_nor_counted():
    slot = compiled_slot("split", (1, 1, 1), "b", cap_per_visit=1, holdout_share=1.0)
    batch = DecisionBatch()
    held = [decide(slot, VisitorState(id=str(uuid.uuid4())), {}, sink=batch) for _ in range(3)]
    assert {(d.policy, d.variant.key) for d in held} == {("holdout", "b")}
    refused = VisitorState(id=str(uuid.uuid4()), personalization_consent=False)
    assert decide(compiled_slot("split", (1, 1, 1), "b", cap_per_visit=1), refused, {}, sink=batch).policy == (
        "no-consent"
    )
    assert batch.cache_entries == {}


@pytest.mark.django_db
def test_erasure_deletes_the_exposures_too():
    from tracking.visitor_cache import visitor_cache_keys

    visitor_id = str(uuid.uuid4())
    assert exposures_key(visitor_id) in visitor_cache_keys([visitor_id])


def test_the_slots_of_one_page_share_one_copy_of_the_exposures(django_assert_num_queries):
    from django.core.cache import cache

    slots = [
        compiled_slot("split", (1, 1, 1), "a", cap_per_visit=1),
        compiled_slot("model", (1, 1, 1), "a", novelty_after=1),
    ]
    visitor = VisitorState(id=str(uuid.uuid4()), is_new=True)
    reads = []
    get = cache.get

    def counted(key, *args, **kwargs):
        reads.append(key)
        return get(key, *args, **kwargs)

    batch = DecisionBatch()
    cache.get = counted
    try:
        for slot in slots * 2:
            decide(slot, visitor, {}, sink=batch)
    finally:
        del cache.get
    assert reads == [exposures_key(visitor.id)]  # one read for four decisions of two slots
    (entry,) = batch.cache_entries.values()
    assert {slot: sum(e[1] for e in history.values()) for slot, history in entry[0]["s"].items()} == {
        "capped-split": 2,
        "capped-model": 2,
    }


@pytest.mark.django_db
def test_a_published_slot_with_every_variant_capped_shows_its_default_logged_as_capped():
    slot = slot_create("hero-capped", strategy="split", variants=[("a", 1), ("b", 1)], default="b")
    slot.cap_per_visit = 1
    slot.save_revision().publish()
    visitor = VisitorState(id=str(uuid.uuid4()), visit_count=4)
    first, second, third = (decide("hero-capped", visitor, {}) for _ in range(3))
    assert {first.variant.key, second.variant.key} == {"a", "b"}
    assert second.propensity == 1.0  # the one variant left
    assert second.reason == "caps"
    row = DecisionLog.objects.get(id=uuid.UUID(third.id))
    assert (row.variant_key, row.policy, row.reason, row.propensity) == ("b", "capped", "capped", 1.0)
    # The next visit lifts the per-visit cap.
    fourth = decide("hero-capped", VisitorState(id=visitor.id, visit_count=5), {})
    assert (fourth.policy, fourth.propensity) == ("split", 0.5)


@pytest.mark.django_db
def test_a_click_ingested_for_a_decision_makes_its_variant_new_again():
    slot = slot_create("hero-novel", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    slot.novelty_after, slot.novelty_decay = 1, 0.0  # one unanswered view and the variant is not shown again
    slot.save_revision().publish()
    visitor = VisitorState(id=str(uuid.uuid4()))
    first = decide("hero-novel", visitor, {})
    second = decide("hero-novel", visitor, {})
    assert second.variant.key != first.variant.key
    assert second.propensity == 1.0
    assert decide("hero-novel", visitor, {}).policy == "capped"  # both ignored once
    now = datetime.now(tz=UTC).timestamp()
    result = events_ingest(
        [{"id": str(uuid.uuid4()), "type": "click", "decision_id": first.id, "ts": int(now * 1000)}],
        visitor_id=visitor.id,
    )
    assert result.accepted == 1, result.rejected
    again = decide("hero-novel", visitor, {})
    assert (again.variant.key, again.policy, again.propensity) == (first.variant.key, "split", 1.0)


@pytest.mark.django_db
def test_a_returning_visitors_page_reads_the_exposures_with_the_visitor_not_on_their_own():
    from django.core.cache import cache
    from django.test import Client

    from tests.factories.slots import page_with_slots
    from tracking.visitors import visit_key

    slot = slot_create("page-capped", strategy="split", variants=[("a", 1), ("b", 1)], default="a")
    slot.cap_per_visit = 1
    slot.save_revision().publish()
    page = page_with_slots("page-capped")
    visitor = str(uuid.uuid4())
    client = Client()
    client.cookies["tailor_vid"] = visitor
    gets, many, inside = [], [], []
    get, get_many = cache.get, cache.get_many

    def counted_get(key, *args, **kwargs):
        if not inside:  # locmem's get_many asks get() for each key: those are the read counted below
            gets.append(key)
        return get(key, *args, **kwargs)

    def counted_get_many(keys, *args, **kwargs):
        many.append(list(keys))
        inside.append(1)
        try:
            return get_many(keys, *args, **kwargs)
        finally:
            inside.pop()

    shown = []
    cache.get, cache.get_many = counted_get, counted_get_many
    try:
        for _ in range(3):
            html = client.get(page.url).content.decode()
            shown.append(html.split('data-tailor-variant="', 1)[1].split('"', 1)[0])
    finally:
        del cache.get, cache.get_many
    assert [visit_key(visitor), exposures_key(visitor)] in many
    assert exposures_key(visitor) not in gets
    assert visit_key(visitor) not in gets  # the visit count came in the same read
    assert set(shown[:2]) == {"a", "b"}  # one view of each per visit: the cap held across pages
    rows = DecisionLog.objects.filter(visitor_id=uuid.UUID(visitor)).order_by("created_at")
    assert [r.policy for r in rows] == ["split", "split", "capped"]
